//! The outbox against real SQLite files on both sides: the "remote" is a
//! SQLite store behind a switch (`store::faulty`) that fails as a server store
//! fails; the outbox file is its own.

#![allow(clippy::unwrap_used)]

mod prop;
mod wire;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::Outbox;
use crate::store::battery::{audit, config, quarantined, report};
use crate::store::faulty::{Faulty, Mode, Switch};
use crate::store::sqlite::Sqlite;
use crate::store::{Backend, StoreError, Write};

/// How long the tests let a store call take before it counts as away.
const BOUND: Duration = Duration::from_millis(300);

/// Two files in a directory of their own, and the switch of the remote.
struct Rig {
    dir: tempfile::TempDir,
    switch: Switch,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            dir: tempfile::tempdir().unwrap(),
            switch: Switch::default(),
        }
    }

    fn remote_path(&self) -> PathBuf {
        self.dir.path().join("remote.db")
    }

    fn outbox_path(&self) -> PathBuf {
        self.dir.path().join("state/outbox.db")
    }

    /// Opens (again) the remote and the outbox in front of it, as a
    /// restarted cordond would.
    fn open(&self) -> Arc<Outbox> {
        let remote = Faulty::open(&self.remote_path(), &self.switch);
        let outbox = Outbox::open(
            Arc::new(remote),
            &self.outbox_path(),
            "gw-a",
            config(),
            BOUND,
        )
        .unwrap();
        Arc::new(outbox)
    }

    fn set(&self, mode: Mode) {
        self.switch.set(mode);
    }

    /// The audit entries' times in the remote, in the order written, and
    /// how many reports it holds: read from the file, past the switch.
    async fn remote(&self) -> (Vec<i64>, usize) {
        let (store, _) = Sqlite::open(&self.remote_path()).unwrap();
        let mut ats: Vec<i64> = store
            .history(None, None, 100_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.at)
            .collect();
        ats.reverse();
        (ats, store.reports().await.unwrap().len())
    }
}

/// Decision `i`: a quarantine's record, its audit entry (at `i`) and a
/// report, as one batch.
fn decision(i: i64) -> Vec<Write> {
    let text = format!("100.64.{}.{}", i / 200 + 1, i % 200 + 2);
    let h = quarantined(&text, i);
    vec![
        Write::Host(h.clone(), i),
        Write::Audit(audit(&h, i)),
        Write::Report(report(&text, i, None)),
    ]
}

#[tokio::test]
async fn decisions_while_the_store_is_away_are_acknowledged_and_land_once_in_order() {
    let rig = Rig::new();
    let outbox = rig.open();
    outbox.commit(decision(1)).await.unwrap();
    rig.set(Mode::Down);
    for i in 2..=6 {
        outbox.commit(decision(i)).await.unwrap();
    }
    assert_eq!(outbox.state().queued, 5);
    assert_eq!(rig.remote().await, (vec![1], 1));
    // Still away: the replay fails and keeps everything.
    let err = outbox.replay().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert_eq!(outbox.state().queued, 5);
    rig.set(Mode::Up);
    assert_eq!(outbox.replay().await.unwrap(), 5);
    assert_eq!(rig.remote().await, (vec![1, 2, 3, 4, 5, 6], 6));
    assert_eq!(outbox.state().queued, 0);
    // Nothing is left to send twice.
    assert_eq!(outbox.replay().await.unwrap(), 0);
    assert_eq!(rig.remote().await.0.len(), 6);
}

#[tokio::test]
async fn a_crash_between_the_stores_commit_and_the_local_delete_replays_harmlessly() {
    let rig = Rig::new();
    let outbox = rig.open();
    rig.set(Mode::Down);
    for i in 1..=3 {
        outbox.commit(decision(i)).await.unwrap();
    }
    // The store commits the first batch but the answer never comes back;
    // cordond dies before it could delete it from the outbox.
    rig.set(Mode::LostAnswer);
    assert!(outbox.replay().await.unwrap_err().is_unreachable());
    drop(outbox);
    assert_eq!(rig.remote().await, (vec![1], 1));
    let outbox = rig.open();
    assert_eq!(outbox.state().queued, 3);
    rig.set(Mode::Up);
    assert_eq!(outbox.replay().await.unwrap(), 3);
    assert_eq!(rig.remote().await, (vec![1, 2, 3], 3));
}

#[tokio::test]
async fn a_later_commit_never_overtakes_a_queued_one() {
    let rig = Rig::new();
    let outbox = rig.open();
    rig.set(Mode::Down);
    outbox.commit(decision(1)).await.unwrap();
    // The store is back, but decision 1 is not replayed yet: decision 2
    // queues behind it rather than reaching the store first.
    rig.set(Mode::Up);
    outbox.commit(decision(2)).await.unwrap();
    assert_eq!(outbox.state().queued, 2);
    assert_eq!(rig.remote().await, (vec![], 0));
    outbox.replay().await.unwrap();
    // Drained: commits go straight to the store again.
    outbox.commit(decision(3)).await.unwrap();
    assert_eq!(outbox.state().queued, 0);
    assert_eq!(rig.remote().await, (vec![1, 2, 3], 3));
}

#[tokio::test]
async fn the_outbox_survives_a_restart_and_is_private() {
    let rig = Rig::new();
    let outbox = rig.open();
    rig.set(Mode::Down);
    outbox.commit(decision(1)).await.unwrap();
    outbox.commit(decision(2)).await.unwrap();
    drop(outbox);
    let mode = std::fs::metadata(rig.outbox_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let outbox = rig.open();
    assert_eq!(outbox.state().queued, 2);
    rig.set(Mode::Up);
    outbox.replay().await.unwrap();
    assert_eq!(rig.remote().await, (vec![1, 2], 2));
}

#[tokio::test]
async fn batch_numbers_are_not_reused_after_a_restart_or_a_lost_outbox_file() {
    let rig = Rig::new();
    rig.open().commit(decision(1)).await.unwrap();
    rig.open().commit(decision(2)).await.unwrap();
    std::fs::remove_dir_all(rig.outbox_path().parent().unwrap()).unwrap();
    rig.open().commit(decision(3)).await.unwrap();
    // A reused number would have been taken for a batch already applied.
    assert_eq!(rig.remote().await, (vec![1, 2, 3], 3));
}

#[tokio::test]
async fn state_says_since_when_the_store_is_away_and_how_much_waits() {
    let rig = Rig::new();
    let metrics = crate::metrics::Metrics::new();
    let (queued, reachable) = (&metrics.store_outbox_batches, &metrics.store_reachable);
    let outbox = rig.open();
    outbox.report_to(&metrics);
    assert_eq!(outbox.state(), super::OutboxState::default());
    assert_eq!((queued.get(), reachable.get()), (0, 1));
    rig.set(Mode::Down);
    let before = SystemTime::now();
    outbox.commit(decision(1)).await.unwrap();
    let after = SystemTime::now();
    outbox.commit(decision(2)).await.unwrap();
    let state = outbox.state();
    let since = state.unreachable_since.unwrap();
    assert!(before <= since && since <= after, "{since:?}");
    assert_eq!(state.queued, 2);
    assert_eq!(outbox.outbox(), Some(state), "the Backend says the same");
    assert_eq!((queued.get(), reachable.get()), (2, 0));
    let text = metrics.encode();
    assert!(text.contains("cordon_store_outbox_batches 2\n"), "{text}");
    assert!(text.contains("cordon_store_reachable 0\n"), "{text}");
    rig.set(Mode::Up);
    outbox.replay().await.unwrap();
    assert_eq!(outbox.state(), super::OutboxState::default());
    assert_eq!((queued.get(), reachable.get()), (0, 1));
}

#[tokio::test]
async fn a_commit_that_answers_too_late_is_queued_and_still_lands_once() {
    let rig = Rig::new();
    let outbox = rig.open();
    rig.set(Mode::Late);
    let started = Instant::now();
    outbox.commit(decision(1)).await.unwrap();
    assert!(started.elapsed() < BOUND * 10, "{:?}", started.elapsed());
    assert_eq!(outbox.state().queued, 1);
    assert!(outbox.state().unreachable_since.is_some());
    // The store did commit it, late; the replay's mark makes it a no-op.
    rig.set(Mode::Up);
    outbox.replay().await.unwrap();
    assert_eq!(rig.remote().await, (vec![1], 1));
}

#[tokio::test]
async fn a_refusal_by_the_store_is_returned_not_queued() {
    let rig = Rig::new();
    let outbox = rig.open();
    rusqlite::Connection::open(rig.remote_path())
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON hosts
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    let err = outbox.commit(decision(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!(outbox.state().queued, 0);
    assert_eq!(outbox.state().unreachable_since, None);
}

#[tokio::test]
async fn reads_say_the_store_is_unreachable() {
    let rig = Rig::new();
    let outbox = rig.open();
    rig.set(Mode::Down);
    let err = outbox.history(None, None, 10).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
    assert!(err.to_string().contains("outbox"), "{err}");
    assert!(outbox.load().await.unwrap_err().is_unreachable());
    assert!(outbox.state().unreachable_since.is_some());
    rig.set(Mode::Up);
    assert!(outbox.history(None, None, 10).await.unwrap().is_empty());
    assert_eq!(outbox.state().unreachable_since, None);
}

#[tokio::test]
async fn the_replay_task_drains_the_outbox_once_the_store_is_back() {
    let rig = Rig::new();
    let outbox = rig.open();
    let stop = CancellationToken::new();
    let task = outbox.spawn_replayer(Duration::from_millis(20), stop.clone());
    rig.set(Mode::Down);
    for i in 1..=4 {
        outbox.commit(decision(i)).await.unwrap();
    }
    rig.set(Mode::Up);
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox.state().queued > 0 {
        assert!(
            Instant::now() < deadline,
            "still queued: {:?}",
            outbox.state()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
    assert_eq!(rig.remote().await, (vec![1, 2, 3, 4], 4));
}

/// An open session of `who` on `address`, as accounting would start it.
fn session(who: &str, address: &str, started: i64) -> cordon_proto::subscriber::SessionRecord {
    cordon_proto::subscriber::SessionRecord {
        subscriber: who.into(),
        address: address.into(),
        source: cordon_proto::subscriber::SessionSource::Radius,
        session_id: None,
        nas: None,
        calling_station: None,
        started,
        ended: None,
    }
}

/// A start from the snapshot reads back the open sessions it holds (the
/// database's at the last start, and one begun while the store is away),
/// so a restarted gateway still knows who holds which address.
#[tokio::test]
async fn a_start_from_the_snapshot_reads_back_its_open_sessions() {
    let rig = Rig::new();
    let outbox = rig.open();
    let loaded = crate::store::Loaded {
        sessions: vec![session("erin", "100.64.1.2", 10)],
        ..Default::default()
    };
    outbox.loaded_from_store(loaded).await.unwrap();
    rig.set(Mode::Down);
    outbox
        .commit(vec![Write::SessionBegan(session("zed", "100.64.1.3", 20))])
        .await
        .unwrap();
    drop(outbox);

    let outbox = rig.open();
    let why = StoreError::unreachable("remote", "down in the test");
    let loaded = outbox.loaded_from_snapshot(why).await.unwrap();
    let held: Vec<(&str, &str)> = loaded
        .sessions
        .iter()
        .map(|s| (s.subscriber.as_str(), s.address.as_str()))
        .collect();
    assert_eq!(held, [("erin", "100.64.1.2"), ("zed", "100.64.1.3")]);
}
