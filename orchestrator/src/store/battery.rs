//! The store battery: every guarantee of [`Backend`](super::Backend),
//! written once against the [`Store`] handle, run by each backend on a real
//! instance of itself (hickory-dns runs one battery against each of its
//! store backends the same way). A backend provides a [`Harness`] and
//! writes `cordon_orchestrator::store_battery!(harness)` in a test module;
//! that makes one test per function here, named as here.
//!
//! What only one backend can show (SQLite's WAL, its file modes, a torn
//! file) is tested beside that backend, not here.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

mod marks;
mod sessions;
mod states;
mod webhooks;

use cordon_config::Config;
use cordon_proto::portal::{HostState, Reason};
use cordon_proto::text::MAX_NOTE;
use futures::future::BoxFuture;

use super::{Loaded, Store, StoreError, StoredReport, Write};
use cordon_policy::lifecycle::{Audit, Host, Quarantined, State};
use cordon_policy::subject::Subject;
pub use marks::*;
pub use sessions::*;
pub use states::*;
pub use webhooks::*;

/// A backend under test: one store, opened as often as a test restarts.
pub trait Harness: Send + Sync {
    /// Opens the store under test as cordond does at start (creating it
    /// empty the first time; later calls open the same store again).
    fn open(&self) -> BoxFuture<'_, Result<(Store, Loaded), StoreError>>;

    /// From now on, makes the database itself refuse any new host record
    /// for `address` (SQLite and PostgreSQL: a trigger), so a commit fails part-way
    /// through as it would on a full disk.
    fn refuse_host<'a>(&'a self, address: &'a str) -> BoxFuture<'a, ()>;
}

/// Makes one `#[tokio::test]` per battery function, each on a fresh
/// harness from `$harness` (an expression evaluated once per test).
#[macro_export]
macro_rules! store_battery {
    ($harness:expr) => {
        $crate::store_battery!(@each $harness;
            a_new_store_is_empty,
            records_and_audits_round_trip,
            a_host_record_is_replaced_not_duplicated,
            history_is_newest_first_and_filters_by_address,
            history_is_in_the_order_written_and_limited,
            history_clips_what_was_stored_oversized,
            an_empty_write_is_no_commit,
            a_batch_is_all_or_nothing,
            concurrent_writes_all_land,
            a_failed_writer_among_concurrent_ones_leaves_no_half_batch,
            reports_are_oldest_first_and_reloaded,
            recent_reports_are_one_units_newest_first,
            retention_purge_removes_old_audit_and_clean_records_only,
            reports_are_kept_reloaded_and_purged_with_the_audit_trail,
            purge_keeps_what_is_at_the_horizon,
            a_begun_session_is_loaded_as_open,
            an_ended_session_is_not_loaded_but_kept_in_the_history,
            a_session_never_ends_before_it_began,
            holder_at_answers_across_time,
            holder_at_matches_any_given_text_and_prefers_the_latest_start,
            holders_at_answers_each_question_in_order,
            sessions_are_newest_first_limited_and_filtered,
            purge_deletes_sessions_ended_before_and_keeps_open_ones,
            a_refused_commit_stores_no_session_change,
            sessions_clip_what_was_stored_oversized,
            a_noticed_record_round_trips_by_address_and_by_subscriber,
            a_marked_batch_committed_twice_is_stored_once,
            different_marks_all_land,
            an_unmarked_batch_committed_twice_is_stored_twice,
            a_batch_already_applied_is_not_run_again,
            a_repeated_mark_among_concurrent_calls_skips_only_that_call,
            a_purge_keeps_marks_applied_after_its_horizon,
            webhook_events_queue_in_order_per_gateway_and_hook,
            webhook_events_go_with_their_decision_or_not_at_all,
            webhooks_done_removes_through_a_row_of_one_queue_only,
            webhooks_trim_keeps_the_newest,
            retention_purge_removes_old_webhook_events
        );
    };
    (@each $harness:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::store::battery::$name(&harness).await;
            }
        )*
    };
}

/// The config the battery's addresses belong to.
pub fn config() -> Config {
    cordon_testkit::Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .load()
}

/// A clean host.
fn clean(text: &str) -> Host {
    Host::clean(Subject::Addr(config().subscriber_addr(text).unwrap()))
}

/// A host an operator quarantined at `at`.
pub fn quarantined(text: &str, at: i64) -> Host {
    let mut h = clean(text);
    h.state = State::Quarantined(Quarantined {
        since: at,
        reason: Reason::Operator,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
        hold_until: at + 60,
        until: None,
        self_release: true,
        relapses: 0,
        evidence: Default::default(),
    });
    h
}

/// The audit entry of that quarantine.
pub fn audit(h: &Host, at: i64) -> Audit {
    Audit {
        at,
        subject: h.subject.clone(),
        address: None,
        from: HostState::Clean,
        to: HostState::Quarantined,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
    }
}

/// Writes that quarantine of `text` at `at` (the record and its audit
/// entry, one batch) and returns the record.
pub async fn write_quarantined(store: &Store, text: &str, at: i64) -> Host {
    let h = quarantined(text, at);
    store
        .write(vec![
            Write::Host(h.clone(), at),
            Write::Audit(audit(&h, at)),
        ])
        .await
        .unwrap();
    h
}

/// A report against `unit`, which happened and arrived at `at`.
pub fn report(unit: &str, at: i64, id: Option<&str>) -> StoredReport {
    StoredReport {
        unit: unit.into(),
        subscriber: None,
        address: unit.into(),
        at,
        received_at: at,
        source: "fbl".into(),
        kind: cordon_policy::ReportKind::Other,
        evidence: "spam".into(),
        message_id: id.map(String::from),
        weight: 1,
        counted: true,
    }
}

/// The audit trail's times, newest first.
async fn history_times(store: &Store, address: Option<&str>) -> Vec<i64> {
    let entries = store.history(address.map(String::from), None, 1000).await;
    entries.unwrap().iter().map(|e| e.at).collect()
}

/// Stored host addresses, sorted.
fn addresses(loaded: &Loaded) -> Vec<String> {
    let mut names: Vec<_> = loaded.hosts.iter().map(|h| h.address.clone()).collect();
    names.sort();
    names
}

pub async fn a_new_store_is_empty(h: &dyn Harness) {
    let (store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded, Loaded::default());
    assert_eq!(store.load().await.unwrap(), Loaded::default());
    assert!(store.history(None, None, 10).await.unwrap().is_empty());
    assert!(store.reports().await.unwrap().is_empty());
}

pub async fn records_and_audits_round_trip(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let host = write_quarantined(&store, "100.64.1.7", 100).await;
    let entries = store.history(None, None, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        (e.at, e.address.as_str(), e.from, e.to),
        (100, "100.64.1.7", HostState::Clean, HostState::Quarantined)
    );
    assert_eq!((e.actor.as_str(), e.note.as_str()), ("alice", "ticket"));
    drop(store);
    // Reopened, the record reads back as written, and a later load agrees.
    let (store, loaded) = h.open().await.unwrap();
    assert_eq!(store.load().await.unwrap(), loaded);
    let (hosts, _, rejected) = loaded.into_parts(&config());
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(hosts, vec![host]);
}

pub async fn a_host_record_is_replaced_not_duplicated(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let first = quarantined("100.64.1.7", 100);
    store.write(vec![Write::Host(first, 100)]).await.unwrap();
    let mut lifted = clean("100.64.1.7");
    lifted.self_releases = vec![150];
    let writes = vec![Write::Host(lifted.clone(), 200)];
    store.write(writes).await.unwrap();
    let (hosts, _, _) = store.load().await.unwrap().into_parts(&config());
    assert_eq!(hosts, vec![lifted]);
}

pub async fn history_is_newest_first_and_filters_by_address(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let a = quarantined("100.64.1.7", 1);
    let b = quarantined("100.64.1.8", 2);
    store
        .write(vec![Write::Audit(audit(&a, 1)), Write::Audit(audit(&b, 2))])
        .await
        .unwrap();
    assert_eq!(history_times(&store, None).await, vec![2, 1]);
    let only = store
        .history(Some("100.64.1.7".into()), None, 10)
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].address, "100.64.1.7");
}

pub async fn history_is_in_the_order_written_and_limited(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let a = quarantined("100.64.1.7", 1);
    // The clock went back between two commits: the later one is newer.
    for at in [50, 10, 30] {
        store
            .write(vec![Write::Audit(audit(&a, at))])
            .await
            .unwrap();
    }
    assert_eq!(history_times(&store, None).await, vec![30, 10, 50]);
    let two = store.history(None, None, 2).await.unwrap();
    assert_eq!(two.iter().map(|e| e.at).collect::<Vec<_>>(), vec![30, 10]);
    assert!(two[0].id > two[1].id, "ids grow in the order written");
}

pub async fn history_clips_what_was_stored_oversized(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let a = quarantined("100.64.1.7", 1);
    let mut long = audit(&a, 1);
    long.note = "n".repeat(MAX_NOTE * 3);
    store.write(vec![Write::Audit(long)]).await.unwrap();
    let entries = store.history(None, None, 10).await.unwrap();
    assert!(
        entries[0].note.len() <= MAX_NOTE,
        "{}",
        entries[0].note.len()
    );
    assert!(entries[0].note.contains("more bytes not shown"));
}

pub async fn an_empty_write_is_no_commit(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    h.refuse_host("100.64.1.9").await;
    store.write(Vec::new()).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Loaded::default());
}

pub async fn a_batch_is_all_or_nothing(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    h.refuse_host("100.64.1.9").await;
    let a = quarantined("100.64.1.7", 10);
    let err = store
        .write(vec![
            Write::Host(a.clone(), 10),
            Write::Audit(audit(&a, 10)),
            Write::Report(report("100.64.1.7", 10, None)),
            Write::Purge { before: 5 },
            Write::Host(quarantined("100.64.1.9", 10), 10),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(err.to_string().contains("check the disk"), "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the backend's reason is kept: {err:?}"
    );
    assert!(history_times(&store, None).await.is_empty());
    assert!(store.reports().await.unwrap().is_empty());
    // The store still works, and only what committed is there.
    store.write(vec![Write::Host(a, 10)]).await.unwrap();
    drop(store);
    let (_store, loaded) = h.open().await.unwrap();
    assert_eq!(addresses(&loaded), vec!["100.64.1.7"]);
    assert!(loaded.reports.is_empty());
}

/// `n` writers at once, each with a host record and its audit entry; the
/// answers in order.
async fn concurrent(store: &Store, n: u32) -> Vec<(String, Result<(), StoreError>)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            let text = format!("100.64.{}.{}", i / 200 + 1, i % 200 + 2);
            tokio::spawn(async move {
                let host = quarantined(&text, i64::from(i));
                let writes = vec![
                    Write::Host(host.clone(), i64::from(i)),
                    Write::Audit(audit(&host, i64::from(i))),
                ];
                (text, store.write(writes).await)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

pub async fn concurrent_writes_all_land(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let answers = concurrent(&store, 300).await;
    for (text, answer) in &answers {
        assert!(answer.is_ok(), "{text}: {answer:?}");
    }
    assert_eq!(history_times(&store, None).await.len(), 300);
    drop(store);
    let (_store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.hosts.len(), 300);
}

pub async fn a_failed_writer_among_concurrent_ones_leaves_no_half_batch(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    h.refuse_host("100.64.1.52").await;
    let answers = concurrent(&store, 300).await;
    let loaded = store.load().await.unwrap();
    let hosts = addresses(&loaded);
    let mut audited = Vec::new();
    for e in store.history(None, None, 1000).await.unwrap() {
        audited.push(e.address);
    }
    for (text, answer) in &answers {
        // Each writer's batch is whole or absent, whoever it was grouped
        // with; the refused one is absent.
        let stored = hosts.contains(text);
        assert_eq!(stored, audited.contains(text), "{text}: half a batch");
        assert_eq!(stored, answer.is_ok(), "{text}: {answer:?}");
    }
    let refused = answers.iter().find(|(t, _)| t == "100.64.1.52").unwrap();
    assert!(
        matches!(refused.1, Err(StoreError::Io { .. })),
        "{refused:?}"
    );
}

pub async fn reports_are_oldest_first_and_reloaded(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    // Oldest first means first written, whatever the reports' own times.
    let first = report("100.64.1.7", 1000, Some("<1@x>"));
    let second = report("100.64.1.8", 10, None);
    let third = report("100.64.1.7", 500, None);
    store
        .write(vec![Write::Report(first.clone())])
        .await
        .unwrap();
    let writes = vec![Write::Report(second.clone()), Write::Report(third.clone())];
    store.write(writes).await.unwrap();
    let all = vec![first, second, third];
    assert_eq!(store.reports().await.unwrap(), all);
    drop(store);
    let (_store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.reports, all);
}

pub async fn recent_reports_are_one_units_newest_first(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let a: Vec<_> = [30, 10, 20]
        .iter()
        .map(|&at| report("100.64.1.7", at, None))
        .collect();
    let b = report("100.64.1.8", 40, None);
    let mut writes: Vec<_> = a.iter().cloned().map(Write::Report).collect();
    writes.insert(1, Write::Report(b.clone()));
    store.write(writes).await.unwrap();
    let recent = store.recent_reports("100.64.1.7".into(), 2).await.unwrap();
    assert_eq!(recent, vec![a[2].clone(), a[1].clone()]);
    let other = store.recent_reports("100.64.1.8".into(), 10).await.unwrap();
    assert_eq!(other, vec![b]);
    assert!(
        store
            .recent_reports("100.64.1.9".into(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn retention_purge_removes_old_audit_and_clean_records_only(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let old = quarantined("100.64.1.7", 10);
    let mut old_clean = clean("100.64.1.9");
    old_clean.self_releases = vec![5];
    let new = quarantined("100.64.1.8", 1000);
    store
        .write(vec![
            Write::Host(old.clone(), 10),
            Write::Host(old_clean, 10),
            Write::Host(new.clone(), 1000),
            Write::Audit(audit(&old, 10)),
            Write::Audit(audit(&new, 1000)),
        ])
        .await
        .unwrap();
    store
        .write(vec![Write::Purge { before: 500 }])
        .await
        .unwrap();
    let left = store.history(None, None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, 1000);
    drop(store);
    let (_s, loaded) = h.open().await.unwrap();
    // The old quarantine is still in force, so it stays; the clean one goes.
    assert_eq!(addresses(&loaded), vec!["100.64.1.7", "100.64.1.8"]);
}

pub async fn reports_are_kept_reloaded_and_purged_with_the_audit_trail(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let unit = "100.64.1.7";
    store
        .write(vec![
            Write::Report(report(unit, 10, Some("<1@x>"))),
            Write::Report(report(unit, 1000, None)),
        ])
        .await
        .unwrap();
    assert_eq!(store.reports().await.unwrap().len(), 2);
    store
        .write(vec![Write::Purge { before: 500 }])
        .await
        .unwrap();
    drop(store);
    let (_s, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.reports, vec![report(unit, 1000, None)]);
}

pub async fn purge_keeps_what_is_at_the_horizon(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let host = clean("100.64.1.9");
    let q = quarantined("100.64.1.9", 500);
    store
        .write(vec![
            Write::Host(host, 500),
            Write::Audit(audit(&q, 500)),
            Write::Report(report("100.64.1.9", 500, None)),
            Write::Purge { before: 500 },
        ])
        .await
        .unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(addresses(&loaded), vec!["100.64.1.9"]);
    assert_eq!(loaded.reports.len(), 1);
    assert_eq!(history_times(&store, None).await, vec![500]);
}
