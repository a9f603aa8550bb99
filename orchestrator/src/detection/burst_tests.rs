//! Enforce first: crossings that arrive together are quarantined in one
//! kernel transaction before anything is looked up about them, and their
//! evidence (the kernel's count) is in the records afterwards.

#![allow(clippy::unwrap_used)]

use super::tests::{crossing, rig};
use super::*;
use cordon_policy::lifecycle::State;

#[tokio::test]
async fn a_crossing_is_enforced_before_its_evidence_is_looked_up() {
    let r = rig("enforce", "enforce").await;
    r.seen("100.64.1.2", 31);
    let outcome = r.detector.handle_crossing(crossing("100.64.1.2")).await;
    assert!(
        matches!(outcome, CrossingOutcome::Quarantined(..)),
        "{outcome:?}"
    );
    let lookups = r.kernel.state.lock().smtp_lookups.clone();
    assert_eq!(lookups, [(r.unit("100.64.1.2"), true)]);
}

#[tokio::test]
async fn a_burst_of_crossings_is_one_transaction_and_every_one_gets_its_evidence() {
    let r = rig("enforce", "enforce").await;
    let sources: Vec<String> = (0..300u32)
        .map(|i| format!("100.64.{}.{}", 10 + i / 200, 1 + i % 200))
        .collect();
    for (i, s) in sources.iter().enumerate() {
        r.seen(s, 21 + i as u64);
    }
    let before = r.kernel.state.lock().changes;
    let mut burst: Vec<Crossing> = sources.iter().map(|s| crossing(s)).collect();
    // The same host twice in one read, and a never-quarantine address.
    burst.push(crossing(&sources[0]));
    burst.push(crossing("100.64.0.1"));
    let outcomes = r.detector.handle_crossings(burst).await;
    assert_eq!(outcomes.len(), 302);
    assert!(
        outcomes[..300]
            .iter()
            .all(|o| matches!(o, CrossingOutcome::Quarantined(..))),
        "{outcomes:?}"
    );
    assert!(matches!(
        outcomes[300],
        CrossingOutcome::AlreadyQuarantined(_)
    ));
    assert!(matches!(outcomes[301], CrossingOutcome::Skipped(_)));
    let (changes, flushes, lookups) = {
        let k = r.kernel.state.lock();
        (k.changes - before, k.flushed.len(), k.smtp_lookups.clone())
    };
    assert_eq!(changes, 1, "one kernel transaction for the burst");
    assert_eq!(flushes, 1, "one conntrack flush for the burst");
    assert_eq!(lookups.len(), 300);
    assert!(
        lookups.iter().all(|(_, held)| *held),
        "looked up before enforced"
    );
    for (i, s) in sources.iter().enumerate() {
        let Some(State::Quarantined(q)) = r.state(s).await else {
            panic!("{s} not quarantined")
        };
        assert_eq!(q.evidence["smtp_attempts"], 21 + i as u64, "{s}");
        assert_eq!(q.evidence["smtp_attempts_threshold"], 20, "{s}");
    }
    // One audit line each, all saying why: the evidence wrote none.
    let conn = rusqlite::Connection::open(&r.db).unwrap();
    let notes: Vec<String> = conn
        .prepare("SELECT note FROM audit")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(notes.len(), 300, "{notes:?}");
    assert!(
        notes.iter().all(|n| n == "smtp_attempts over 20 in 10s"),
        "{notes:?}"
    );
}
