//! The follower against a real core (with the fake kernel) and a change
//! feed held in memory: what another gateway decided is enforced here,
//! within the poll, whatever the database said or failed to say.

#![allow(clippy::unwrap_used)]

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use cordon_config::Config;
use cordon_policy::lifecycle::{Event, QuarantineRequest};
use cordon_policy::subject::Subject;
use cordon_policy::{Actor, Change, Engine, Input};
use cordon_proto::portal::Reason;
use cordon_testkit::Fixture;
use futures::future::BoxFuture;
use ipnet::IpNet;

use super::*;
use crate::core::Core;
use crate::kernel::FakeKernel;
use crate::store::feed::{Changes, Signal};
use crate::store::{Record, Store, StoreError, StoredHost, StoredSubscriber};

#[derive(Debug)]
enum Row {
    Host(StoredHost),
    Subscriber(StoredSubscriber),
}

#[derive(Debug)]
struct MemFeed {
    rows: Mutex<Vec<(Position, Row)>>,
    asked: Mutex<Vec<Position>>,
    beats: Mutex<Vec<cordon_policy::lifecycle::Unix>>,
    signal: watch::Sender<Signal>,
}

impl MemFeed {
    fn new() -> Arc<MemFeed> {
        Arc::new(MemFeed {
            rows: Mutex::default(),
            asked: Mutex::default(),
            beats: Mutex::default(),
            signal: watch::channel(Signal {
                listening: true,
                ..Signal::default()
            })
            .0,
        })
    }

    /// Writes a row at the next position; says so when `notify`.
    fn write(&self, row: Row, notify: bool) -> Position {
        let mut rows = self.rows.lock().unwrap();
        let at = rows.len() as Position + 1;
        rows.push((at, row));
        if notify {
            self.signal.send_modify(|s| s.notified = at);
        }
        at
    }
}

impl Feed for MemFeed {
    fn gateway(&self) -> &str {
        "gw-test"
    }

    fn start(&self) -> Position {
        0
    }

    fn changes(&self, after: Position, limit: u32) -> BoxFuture<'_, Result<Changes, StoreError>> {
        self.asked.lock().unwrap().push(after);
        let mut out = Changes {
            upto: after,
            ..Changes::default()
        };
        for (at, row) in self
            .rows
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at > after)
            .take(limit as usize)
        {
            out.upto = *at;
            match row {
                Row::Host(h) => out.hosts.push(h.clone()),
                Row::Subscriber(s) => out.subscribers.push(s.clone()),
            }
        }
        Box::pin(async move { Ok(out) })
    }

    fn decisions(
        &self,
        _: u32,
    ) -> BoxFuture<'_, Result<Vec<crate::store::feed::FleetRow>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn decided_by(&self, _: String, _: bool) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    fn signal(&self) -> watch::Receiver<Signal> {
        self.signal.subscribe()
    }

    fn heartbeat(
        &self,
        at: cordon_policy::lifecycle::Unix,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.beats.lock().unwrap().push(at);
        Box::pin(async { Ok(()) })
    }
}

#[derive(Default)]
struct Outbox(AtomicBool);

impl Pending for Outbox {
    fn pending(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

fn config(dir: &std::path::Path) -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .set_path("store.path", &dir.join("c.db"))
        .load()
}

/// A quarantine as another gateway's engine decided and stored it.
fn decided(config: &Config, subject: Subject) -> Record {
    let mut e = Engine::new(config, [], []);
    let (plan, _) = e.handle(
        vec![Input::Event(Event::Quarantine(QuarantineRequest {
            subject,
            reason: Reason::Operator,
            actor: Actor::Operator("bob".into()),
            note: "decided on gw1".into(),
            hold: None,
            mac: None,
            evidence: Default::default(),
        }))],
        1_700_000_000,
    );
    plan.changes
        .iter()
        .find_map(|c| match c {
            Change::Host(h) => Some(Record::of(h)),
            _ => None,
        })
        .unwrap()
}

struct Rig {
    feed: Arc<MemFeed>,
    kernel: Arc<FakeKernel>,
    core: CoreHandle,
    config: Arc<Config>,
    outbox: Arc<Outbox>,
    cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(dir.path()));
    let (store, loaded) = Store::open(&dir.path().join("c.db")).unwrap();
    let kernel = Arc::new(FakeKernel::default());
    let built = Core::builder(config.clone(), store)
        .kernel(kernel.clone())
        .build(loaded);
    let mut core = built.core;
    core.install().await.unwrap();
    let cancel = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let core = crate::core::spawn(core, Duration::from_secs(3600), cancel.clone(), &tracker);
    let (feed, outbox) = (MemFeed::new(), Arc::new(Outbox::default()));
    tokio::spawn(follow(
        feed.clone(),
        core.clone(),
        built.config,
        outbox.clone(),
        0,
        cancel.clone(),
    ));
    Rig {
        feed,
        kernel,
        core,
        config,
        outbox,
        cancel,
        _dir: dir,
    }
}

impl Rig {
    fn host(&self, address: &str) -> Row {
        let subject = Subject::Addr(self.config.subscriber_addr(address).unwrap());
        Row::Host(StoredHost {
            address: address.into(),
            record: decided(&self.config, subject),
        })
    }

    fn walled(&self, address: &str) -> bool {
        let net: IpNet = format!("{address}/32").parse().unwrap();
        self.kernel.state.lock().quarantined.contains(&net)
    }

    /// Polls until `address` is walled in, or fails after `within`.
    async fn until_walled(&self, address: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.walled(address) {
            assert!(
                Instant::now() < deadline,
                "{address} not walled in within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test]
async fn a_notified_decision_is_enforced_at_once() {
    let r = rig().await;
    // Let the first poll pass, so only the notification can bring it fast.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    r.feed.write(r.host("100.64.1.7"), true);
    r.until_walled("100.64.1.7", Duration::from_millis(900))
        .await;
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn a_decision_nobody_announced_is_enforced_by_the_next_poll() {
    let r = rig().await;
    r.feed.write(r.host("100.64.1.8"), false);
    r.until_walled("100.64.1.8", Duration::from_secs(3)).await;
}

#[tokio::test]
async fn other_prefixes_are_left_to_their_gateways_and_subscribers_are_adopted() {
    let r = rig().await;
    let elsewhere = Row::Host(StoredHost {
        address: "198.51.100.9".into(),
        record: decided(
            &r.config,
            Subject::Addr(r.config.subscriber_addr("100.64.9.9").unwrap()),
        ),
    });
    r.feed.write(elsewhere, true);
    let alice: cordon_proto::subscriber::SubscriberId = "alice".parse().unwrap();
    let record = decided(&r.config, Subject::Subscriber(alice.clone()));
    r.feed.write(
        Row::Subscriber(StoredSubscriber {
            id: "alice".into(),
            record,
        }),
        true,
    );
    r.feed.write(r.host("100.64.1.9"), true);
    r.until_walled("100.64.1.9", Duration::from_secs(3)).await;
    assert_eq!(
        r.kernel.state.lock().quarantined.len(),
        1,
        "another gateway's prefix was walled in here"
    );
    let view = r.core.view_subscriber(alice).await.unwrap();
    assert!(view.host.unwrap().state.is_quarantined());
}

#[tokio::test]
async fn nothing_is_adopted_while_own_decisions_wait_in_the_outbox() {
    let r = rig().await;
    r.outbox.0.store(true, Ordering::SeqCst);
    r.feed.write(r.host("100.64.2.1"), true);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!r.walled("100.64.2.1"), "adopted while the outbox was full");
    r.outbox.0.store(false, Ordering::SeqCst);
    r.until_walled("100.64.2.1", Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_new_listening_connection_reads_everything_again() {
    let r = rig().await;
    r.feed.write(r.host("100.64.3.1"), true);
    r.until_walled("100.64.3.1", Duration::from_secs(3)).await;
    // Wait until the follower has moved past 0, then drop the connection.
    let deadline = Instant::now() + Duration::from_secs(3);
    while !r.feed.asked.lock().unwrap().contains(&1) {
        assert!(Instant::now() < deadline, "never read past 0");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = r.feed.asked.lock().unwrap().len();
    r.feed.signal.send_modify(|s| s.connection += 1);
    loop {
        let asked = r.feed.asked.lock().unwrap().clone();
        if asked[before..].contains(&0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never read from 0 again: {asked:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_full_read_goes_page_by_page_and_misses_nothing() {
    let r = rig().await;
    r.outbox.0.store(true, Ordering::SeqCst);
    let n = PAGE as usize * 2 + 17;
    for i in 0..n {
        let a = format!("100.64.{}.{}", 10 + i / 250, 1 + i % 250);
        r.feed.write(r.host(&a), false);
    }
    r.outbox.0.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.kernel.state.lock().quarantined.len() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} walled in",
            r.kernel.state.lock().quarantined.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_beats_every_interval_until_cancelled() {
    let feed = MemFeed::new();
    let cancel = CancellationToken::new();
    let clock: Arc<dyn cordon_proto::time::Clock> = Arc::new(cordon_proto::time::SystemClock);
    let task = tokio::spawn(heartbeat(feed.clone(), clock, cancel.clone()));
    tokio::time::sleep(HEARTBEAT * 3 + Duration::from_millis(1)).await;
    assert_eq!(
        feed.beats.lock().unwrap().len(),
        4,
        "one at start, then one per interval"
    );
    cancel.cancel();
    task.await.unwrap();
}
