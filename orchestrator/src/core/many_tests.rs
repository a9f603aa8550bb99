//! Crossings that arrive together are one batch: one store commit, one
//! kernel transaction and one conntrack flush however many they are, each
//! answered with whether it quarantined; the evidence that follows is a
//! record change of its own, with no audit line and no kernel change.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use cordon_config::SubscriberAddr;
use cordon_policy::lifecycle::{Event, EvidenceUpdate, QuarantineRequest, State};
use cordon_policy::subject::Subject;
use cordon_proto::portal::Reason;
use tokio_util::sync::CancellationToken;

use super::tests::rig;
use super::*;

pub(super) fn detected(addr: SubscriberAddr) -> Event {
    Event::Quarantine(QuarantineRequest {
        subject: Subject::Addr(addr),
        reason: Reason::Detection,
        actor: cordon_policy::Actor::Detection,
        note: "crossed the smtp_attempts threshold".into(),
        hold: None,
        mac: None,
        evidence: BTreeMap::from([("smtp_attempts_threshold".to_owned(), 20)]),
    })
}

/// How many times a histogram of `metrics` was observed.
fn count(metrics: &Metrics, name: &str) -> f64 {
    let text = metrics.encode();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("cordon_{name}_count ")))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn crossings_handed_over_together_are_one_commit_and_one_transaction() {
    let r = rig().await;
    let (kernel, metrics) = (r.kernel.clone(), r.metrics.clone());
    let before = kernel.state.lock().changes;
    let units: Vec<SubscriberAddr> = (0..600u32)
        .map(|i| r.addr(&format!("100.64.{}.{}", 10 + i / 250, 1 + i % 250)))
        .collect();
    let (tx, rx) = mpsc::channel(16);
    let handle = CoreHandle(tx);
    let cancel = CancellationToken::new();
    let core = tokio::spawn(r.core.run(rx, Duration::from_secs(3600), cancel.clone()));

    // Two NFLOG reads' worth, the second with one crossing again.
    let (first, second) = units.split_at(400);
    let mut again: Vec<Event> = second.iter().map(|a| detected(*a)).collect();
    again.push(detected(first[0]));
    let (a, b) = tokio::join!(
        handle.apply_many(first.iter().map(|a| detected(*a)).collect()),
        handle.apply_many(again),
    );
    assert_eq!(a.len(), 400);
    assert_eq!(b.len(), 201);
    assert!(
        a.iter()
            .chain(&b[..200])
            .all(|t| t.as_ref().unwrap().changed)
    );
    // Already quarantined: taken, nothing done.
    assert!(!b[200].as_ref().unwrap().changed);
    let (held, transactions, flushes) = {
        let s = kernel.state.lock();
        (s.quarantined.len(), s.changes - before, s.flushed.len())
    };
    assert_eq!(held, 600);
    // At most one batch each (the core may take them together).
    assert!((1..=2).contains(&transactions), "{transactions}");
    // Flushes queued together are one (see `flush`).
    assert!((1..=transactions).contains(&flushes), "{flushes}");
    assert_eq!(
        count(&metrics, "store_write_seconds") as usize,
        transactions
    );

    // The evidence, looked up afterwards, for all of them at once: one
    // commit, no kernel change, no flush.
    let Some(State::Quarantined(q)) = a[0]
        .as_ref()
        .unwrap()
        .host
        .as_ref()
        .map(|h| h.state.clone())
    else {
        panic!("{:?}", a[0])
    };
    let evidence: Vec<Event> = a
        .iter()
        .chain(&b[..200])
        .map(|t| {
            let host = t.as_ref().unwrap().host.clone().unwrap();
            Event::Evidence(EvidenceUpdate {
                subject: host.subject,
                since: q.since,
                mac: None,
                evidence: BTreeMap::from([("smtp_attempts".to_owned(), 42)]),
            })
        })
        .collect();
    let filled = handle.apply_many(evidence).await;
    assert!(filled.iter().all(|t| t.as_ref().unwrap().changed));
    let Some(State::Quarantined(q)) = filled[7]
        .as_ref()
        .unwrap()
        .host
        .as_ref()
        .map(|h| h.state.clone())
    else {
        panic!()
    };
    assert_eq!(q.evidence["smtp_attempts"], 42);
    assert_eq!(q.evidence["smtp_attempts_threshold"], 20);
    {
        let s = kernel.state.lock();
        assert_eq!(s.changes - before, transactions);
        assert_eq!(s.flushed.len(), flushes);
    }
    assert_eq!(
        count(&metrics, "store_write_seconds") as usize,
        transactions + 1
    );
    cancel.cancel();
    core.await.unwrap();
}

/// Polls `check` every millisecond until it holds; false after `within`.
async fn soon(within: Duration, check: impl Fn() -> bool) -> bool {
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_conntrack_flush_holds_up_no_later_batch_and_its_askers_hear_after_it() {
    let r = rig().await;
    let kernel = r.kernel.clone();
    kernel.state.lock().flush_delay = Duration::from_secs(1);
    let a = r.addr("100.64.1.1");
    let b = r.addr("100.64.1.2");
    let (tx, rx) = mpsc::channel(16);
    let handle = CoreHandle(tx);
    let cancel = CancellationToken::new();
    let core = tokio::spawn(r.core.run(rx, Duration::from_secs(3600), cancel.clone()));
    let held = |x: SubscriberAddr| {
        let k = kernel.clone();
        move || k.state.lock().quarantined.contains(&x.net())
    };

    let started = std::time::Instant::now();
    let first = tokio::spawn({
        let h = handle.clone();
        async move { h.apply_many(vec![detected(a)]).await }
    });
    assert!(soon(Duration::from_secs(5), held(a)).await);
    // A's flush is under way; B is enforced meanwhile, and A's asker has
    // not heard yet (it hears once A's flush is done).
    let second = tokio::spawn({
        let h = handle.clone();
        async move { h.apply_many(vec![detected(b)]).await }
    });
    assert!(
        soon(Duration::from_millis(500), held(b)).await,
        "the second batch waited for the first one's conntrack flush"
    );
    assert!(!first.is_finished(), "answered before its conntrack flush");
    assert!(first.await.unwrap()[0].as_ref().unwrap().changed);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(second.await.unwrap()[0].as_ref().unwrap().changed);
    let flushed = kernel.state.lock().flushed.clone();
    assert_eq!(flushed.concat(), [a, b]);
    cancel.cancel();
    core.await.unwrap();
}

#[tokio::test]
async fn conntrack_flushes_run_at_the_lowest_cpu_priority() {
    let mut r = rig().await;
    let a = r.addr("100.64.1.3");
    assert!(r.batch(vec![detected(a)]).await[0].is_ok());
    let s = r.kernel.state.lock();
    assert_eq!(s.flushed, [vec![a]]);
    // Nice 19: a dump's CPU comes after everything else's.
    assert_eq!(s.flush_nice, [19]);
}
