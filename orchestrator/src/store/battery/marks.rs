//! The battery's marks part: what every backend must do with
//! [`Write::Mark`], which makes a gateway's outbox replay idempotent.

use super::{Harness, audit, quarantined, report};
use crate::store::{Store, Write};

/// The mark of batch `seq` from `gateway`.
pub fn mark(gateway: &str, seq: u64) -> Write {
    Write::Mark {
        gateway: gateway.into(),
        seq,
    }
}

/// A quarantine of `text` at `at` as one batch: the record, its audit
/// entry and a report, after `mark` when there is one.
fn batch(mark: Option<Write>, text: &str, at: i64) -> Vec<Write> {
    let h = quarantined(text, at);
    mark.into_iter()
        .chain([
            Write::Host(h.clone(), at),
            Write::Audit(audit(&h, at)),
            Write::Report(report(text, at, None)),
        ])
        .collect()
}

/// How many audit entries, reports and host records the store holds.
async fn counts(store: &Store) -> (usize, usize, usize) {
    let audits = store.history(None, None, 10_000).await.unwrap().len();
    let reports = store.reports().await.unwrap().len();
    let hosts = store.load().await.unwrap().hosts.len();
    (audits, reports, hosts)
}

pub async fn a_marked_batch_committed_twice_is_stored_once(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let twice = batch(Some(mark("gw-a", 7)), "100.64.1.7", 1000);
    store.write(twice.clone()).await.unwrap();
    store.write(twice.clone()).await.unwrap();
    assert_eq!(counts(&store).await, (1, 1, 1));
    drop(store);
    // Marks survive a restart of the store.
    let (store, _) = h.open().await.unwrap();
    store.write(twice).await.unwrap();
    assert_eq!(counts(&store).await, (1, 1, 1));
}

pub async fn different_marks_all_land(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    // Another number, and the same number from another gateway.
    for (gateway, seq, text) in [
        ("gw-a", 1, "100.64.1.7"),
        ("gw-a", 2, "100.64.1.8"),
        ("gw-b", 1, "100.64.1.9"),
    ] {
        let writes = batch(Some(mark(gateway, seq)), text, 1000);
        store.write(writes).await.unwrap();
    }
    assert_eq!(counts(&store).await, (3, 3, 3));
}

pub async fn an_unmarked_batch_committed_twice_is_stored_twice(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let twice = batch(None, "100.64.1.7", 1000);
    store.write(twice.clone()).await.unwrap();
    store.write(twice).await.unwrap();
    // The record is replaced; the trail and the reports keep both.
    assert_eq!(counts(&store).await, (2, 2, 1));
}

pub async fn a_batch_already_applied_is_not_run_again(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let writes = batch(Some(mark("gw-a", 3)), "100.64.1.9", 1000);
    store.write(writes.clone()).await.unwrap();
    // The database would now refuse the batch's record: the replay is Ok
    // because nothing of it runs.
    h.refuse_host("100.64.1.9").await;
    store.write(writes).await.unwrap();
    assert_eq!(counts(&store).await, (1, 1, 1));
}

pub async fn a_repeated_mark_among_concurrent_calls_skips_only_that_call(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    // 100 marked batches, each sent twice, and 100 unmarked ones, all at
    // once: a backend that groups calls meets repeats inside one group and
    // beside calls that must land.
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let store = store.clone();
        let n = i % 100;
        let text = format!("100.64.{}.{}", i / 200 + 1, n + 2);
        let mark = (i < 200).then(|| mark("gw-a", u64::from(n)));
        let text = if i < 200 {
            text
        } else {
            format!("100.64.3.{}", n + 2)
        };
        let writes = batch(mark, &text, i64::from(n) + 1000);
        tasks.push(tokio::spawn(async move { store.write(writes).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(counts(&store).await, (200, 200, 200));
}

pub async fn a_purge_keeps_marks_applied_after_its_horizon(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let writes = batch(Some(mark("gw-a", 1)), "100.64.1.7", 1_000_000);
    store.write(writes.clone()).await.unwrap();
    // A horizon long before the mark was applied (any clock of this
    // century) leaves it, so the replay is still skipped.
    store
        .write(vec![Write::Purge { before: 500 }])
        .await
        .unwrap();
    store.write(writes).await.unwrap();
    assert_eq!(counts(&store).await, (1, 1, 1));
}
