//! The engine over a virtual clock: a batch's plan is its net effect, a
//! report and the quarantine it causes are one plan, and an undone batch
//! leaves every part of the engine's memory as it was (proptest).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use cordon_config::Config;
use cordon_proto::portal::Reason;
use cordon_proto::time::system_time;
use cordon_testkit::Fixture;
use proptest::prelude::*;

use super::*;
use crate::actor::Actor;
use crate::lifecycle::QuarantineRequest;
use crate::report::Report;

const NOW: Unix = 1_700_000_000;

fn config(reports_action: &str) -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .set(
            "detection.reports",
            format!("{{score: 3, window: 1d, action: {reports_action}}}"),
        )
        .section("quarantine", "min_hold: 30m, quiet_period: 2h")
        .load()
}

fn unit(c: &Config, n: u8) -> SubscriberAddr {
    c.subscriber_addr(&format!("100.64.1.{n}")).unwrap()
}

fn quarantine(addr: SubscriberAddr) -> Input {
    Input::Event(Event::Quarantine(QuarantineRequest {
        subject: Subject::Addr(addr),
        reason: Reason::Operator,
        actor: Actor::Operator("alice".into()),
        note: "ticket".into(),
        hold: None,
        mac: None,
        evidence: BTreeMap::new(),
    }))
}

fn release(addr: SubscriberAddr) -> Input {
    Input::Event(Event::Release {
        subject: Subject::Addr(addr),
        actor: Actor::Operator("alice".into()),
        note: "cleaned".into(),
    })
}

fn report(addr: SubscriberAddr, id: u32) -> Input {
    Input::Report(Incoming {
        unit: addr,
        holder: None,
        report: Report {
            address: addr.net().addr(),
            at: system_time(NOW - 60),
            source: "fbl".into(),
            kind: crate::ReportKind::Other,
            evidence: "spam".into(),
            message_id: Some(format!("<{id}@x>")),
            weight: 1,
        },
        actor: Actor::Operator("abuse".into()),
    })
}

#[test]
fn a_report_that_reaches_the_score_and_its_quarantine_are_one_plan() {
    let c = config("enforce");
    let a = unit(&c, 7);
    let mut e = Engine::new(&c, [], []);
    let (plan, outcomes) = e.handle(vec![report(a, 1), report(a, 2), report(a, 3)], NOW);
    assert_eq!(plan.add, [a]);
    assert!(plan.remove.is_empty());
    assert_eq!(plan.flush, [a]);
    assert_eq!(plan.transitions.len(), 1);
    assert_eq!(plan.transitions[0].actor, Actor::Report);
    assert_eq!(plan.transitions[0].to, HostState::Quarantined);
    let kinds: Vec<&str> = plan
        .changes
        .iter()
        .map(|c| match c {
            Change::Host(_) => "host",
            Change::Audit(_) => "audit",
            Change::Report(_) => "report",
            Change::SessionBegan(_) | Change::SessionEnded { .. } => "session",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "report", "audit", "report", "audit", "report", "audit", "host", "audit"
        ]
    );
    let Outcome::Report(third) = &outcomes[2] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(
        (third.score, third.reached),
        (3, Some(SignalAction::Enforce))
    );
    assert_eq!(e.state_of(&Subject::Addr(a)), HostState::Quarantined);
}

#[test]
fn in_observe_mode_a_reached_score_is_a_suspect_not_a_quarantine() {
    let c = config("observe");
    let a = unit(&c, 7);
    let mut e = Engine::new(&c, [], []);
    let (plan, _) = e.handle(vec![report(a, 1), report(a, 2), report(a, 3)], NOW);
    assert!(plan.add.is_empty() && plan.transitions.is_empty());
    assert_eq!(e.state_of(&Subject::Addr(a)), HostState::Clean);
    let view = e.view(&a, NOW);
    assert_eq!(view.suspect.unwrap().signal, "reports");
    assert_eq!(view.report_score, 3);
}

#[test]
fn released_and_quarantined_again_in_one_batch_changes_nothing_in_the_kernel() {
    let c = config("enforce");
    let a = unit(&c, 7);
    let mut e = Engine::new(&c, [], []);
    let (plan, _) = e.handle(vec![quarantine(a)], NOW);
    assert_eq!(plan.add, [a]);
    let (plan, outcomes) = e.handle(vec![release(a), quarantine(a)], NOW + 60);
    assert!(plan.add.is_empty() && plan.remove.is_empty(), "{plan:?}");
    // Both flushed once: established flows of a relapse end as well.
    assert_eq!(plan.flush, [a]);
    assert_eq!(plan.transitions.len(), 2);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Event { result: Ok(()), .. }))
    );
}

#[test]
fn a_refusal_is_an_outcome_and_asks_nothing_of_the_store() {
    let c = config("enforce");
    let a = unit(&c, 7);
    let mut e = Engine::new(&c, [], []);
    let (plan, outcomes) = e.handle(vec![release(a)], NOW);
    assert!(plan.is_empty());
    assert!(matches!(
        &outcomes[0],
        Outcome::Event { subject: Some(x), result: Err(Refusal::NotQuarantined(_)), .. } if *x == Subject::Addr(a)
    ));
}

/// Everything the engine remembers, to compare before and after.
fn memory(e: &Engine) -> (Vec<Host>, Book, Vec<SubscriberAddr>) {
    (
        e.lifecycle.hosts().cloned().collect(),
        e.book.clone(),
        e.quarantined(),
    )
}

#[derive(Debug, Clone)]
enum Step {
    Quarantine(u8),
    Release(u8),
    Report(u8, u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..6).prop_map(Step::Quarantine),
        (0u8..6).prop_map(Step::Release),
        ((0u8..6), (0u32..8)).prop_map(|(n, id)| Step::Report(n, id)),
    ]
}

fn input(c: &Config, s: &Step) -> Input {
    match s {
        Step::Quarantine(n) => quarantine(unit(c, *n)),
        Step::Release(n) => release(unit(c, *n)),
        Step::Report(n, id) => report(unit(c, *n), *id),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever a batch did (quarantines, releases, reports that reached
    /// the score and the quarantines they caused, suspects), undoing it
    /// puts back the records, the ledger and the suspects exactly.
    #[test]
    fn an_undone_batch_leaves_the_engine_as_it_was(
        first in prop::collection::vec(step(), 0..12),
        second in prop::collection::vec(step(), 1..12),
        observe in any::<bool>(),
    ) {
        let c = config(if observe { "observe" } else { "enforce" });
        let mut e = Engine::new(&c, [], []);
        let _ = e.handle(first.iter().map(|s| input(&c, s)).collect(), NOW);
        let before = memory(&e);
        let tally = e.tally();
        let (plan, _) = e.handle(second.iter().map(|s| input(&c, s)).collect(), NOW + 600);
        e.undo(plan);
        prop_assert_eq!(memory(&e), before);
        prop_assert_eq!(e.tally(), tally);
    }

    /// The plan's kernel change is exactly the difference between the
    /// quarantined sets before and after the batch.
    #[test]
    fn the_plan_adds_and_removes_exactly_what_changed(
        first in prop::collection::vec(step(), 0..12),
        second in prop::collection::vec(step(), 1..12),
    ) {
        let c = config("enforce");
        let mut e = Engine::new(&c, [], []);
        let _ = e.handle(first.iter().map(|s| input(&c, s)).collect(), NOW);
        let was: BTreeSet<SubscriberAddr> = e.quarantined().into_iter().collect();
        let (plan, _) = e.handle(second.iter().map(|s| input(&c, s)).collect(), NOW + 600);
        let is: BTreeSet<SubscriberAddr> = e.quarantined().into_iter().collect();
        let add: BTreeSet<_> = plan.add.iter().copied().collect();
        let remove: BTreeSet<_> = plan.remove.iter().copied().collect();
        prop_assert_eq!(add, is.difference(&was).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(remove, was.difference(&is).copied().collect::<BTreeSet<_>>());
    }
}
