//! Enforce first, evidence after: a detection's quarantine is one batch
//! with its audit line, and the evidence looked up afterwards is a record
//! change of its own, with no transition, no audit line and nothing for
//! the kernel, that never lands on a later quarantine.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use cordon_config::Config;
use cordon_proto::portal::Reason;
use cordon_testkit::Fixture;

use super::*;
use crate::actor::Actor;
use crate::lifecycle::{EvidenceUpdate, QuarantineRequest, State};

const NOW: Unix = 1_700_000_000;

fn config() -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .section("quarantine", "min_hold: 30m, quiet_period: 2h")
        .load()
}

fn detected(a: SubscriberAddr) -> Input {
    Input::Event(Event::Quarantine(QuarantineRequest {
        subject: Subject::Addr(a),
        reason: Reason::Detection,
        actor: Actor::Detection,
        note: "crossed the smtp_attempts threshold".into(),
        hold: None,
        mac: None,
        evidence: BTreeMap::from([("smtp_attempts_threshold".to_owned(), 20)]),
    }))
}

fn evidence(a: SubscriberAddr, since: Unix, attempts: u64) -> Input {
    Input::Event(Event::Evidence(EvidenceUpdate {
        subject: Subject::Addr(a),
        since,
        mac: Some("02:00:00:00:00:07".into()),
        evidence: BTreeMap::from([("smtp_attempts".to_owned(), attempts)]),
    }))
}

fn quarantined(e: &Engine, a: SubscriberAddr) -> (crate::lifecycle::Quarantined, Option<String>) {
    let h = e.lifecycle().get(&Subject::Addr(a)).unwrap();
    let State::Quarantined(q) = &h.state else {
        panic!("{h:?}")
    };
    (q.clone(), h.mac.clone())
}

#[test]
fn crossings_that_arrive_together_are_one_plan() {
    let c = config();
    let units: Vec<SubscriberAddr> = (2..40)
        .map(|n| c.subscriber_addr(&format!("100.64.1.{n}")).unwrap())
        .collect();
    let mut e = Engine::new(&c, [], []);
    let (plan, outcomes) = e.handle(units.iter().map(|a| detected(*a)).collect(), NOW);
    assert_eq!(plan.add, units);
    assert_eq!(plan.flush, units);
    assert_eq!(plan.transitions.len(), units.len());
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Outcome::Event {
            result: Ok(()),
            changed: true,
            ..
        }
    )));
    // Crossing again while quarantined: taken, nothing changed.
    let (plan, outcomes) = e.handle(vec![detected(units[0])], NOW + 1);
    assert!(plan.is_empty() && plan.add.is_empty());
    assert!(matches!(
        outcomes[0],
        Outcome::Event {
            result: Ok(()),
            changed: false,
            ..
        }
    ));
}

#[test]
fn evidence_fills_the_record_without_a_transition() {
    let c = config();
    let a = c.subscriber_addr("100.64.1.7").unwrap();
    let mut e = Engine::new(&c, [], []);
    let (plan, _) = e.handle(vec![detected(a)], NOW);
    assert_eq!(plan.transitions.len(), 1);
    assert_eq!(
        plan.transitions[0].note,
        "crossed the smtp_attempts threshold"
    );

    let (plan, outcomes) = e.handle(vec![evidence(a, NOW, 57)], NOW + 1);
    assert!(matches!(
        outcomes[0],
        Outcome::Event {
            result: Ok(()),
            changed: true,
            ..
        }
    ));
    // One record written, no audit line, no transition, no kernel change.
    assert!(matches!(plan.changes.as_slice(), [Change::Host(_)]));
    assert!(plan.transitions.is_empty());
    assert!(plan.add.is_empty() && plan.remove.is_empty() && plan.flush.is_empty());
    let (q, mac) = quarantined(&e, a);
    assert_eq!(q.since, NOW);
    assert_eq!(q.evidence["smtp_attempts"], 57);
    assert_eq!(q.evidence["smtp_attempts_threshold"], 20);
    assert_eq!(mac.as_deref(), Some("02:00:00:00:00:07"));

    // The same evidence again changes nothing and writes nothing.
    let (plan, _) = e.handle(vec![evidence(a, NOW, 57)], NOW + 2);
    assert!(plan.is_empty());
}

#[test]
fn evidence_for_an_ended_quarantine_is_dropped() {
    let c = config();
    let a = c.subscriber_addr("100.64.1.7").unwrap();
    let mut e = Engine::new(&c, [], []);
    e.handle(vec![detected(a)], NOW);
    // Released and quarantined again before the look-up came back.
    e.handle(
        vec![Input::Event(Event::Release {
            subject: Subject::Addr(a),
            actor: Actor::Operator("alice".into()),
            note: "cleaned".into(),
        })],
        NOW + 5,
    );
    e.handle(vec![detected(a)], NOW + 10);
    let (plan, _) = e.handle(vec![evidence(a, NOW, 57)], NOW + 11);
    assert!(plan.is_empty());
    assert!(!quarantined(&e, a).0.evidence.contains_key("smtp_attempts"));
    // For a host never quarantined: nothing either.
    let b = c.subscriber_addr("100.64.1.8").unwrap();
    let (plan, outcomes) = e.handle(vec![evidence(b, NOW, 3)], NOW + 12);
    assert!(plan.is_empty());
    assert!(matches!(outcomes[0], Outcome::Event { changed: false, .. }));
}

/// A crossing with `action: notice`, as detection asks for it: the
/// signal's threshold given at once, the kernel's count filled in after.
fn detected_notice(a: SubscriberAddr) -> Input {
    Input::Event(Event::Notice(crate::lifecycle::NoticeRequest {
        subject: Subject::Addr(a),
        reason: Reason::Detection,
        actor: Actor::Detection,
        note: "smtp_attempts over 20 in 10s".into(),
        mac: None,
        evidence: BTreeMap::from([("smtp_attempts_threshold".to_owned(), 20)]),
    }))
}

#[test]
fn a_notice_keeps_its_evidence_and_the_ladders_quarantine_carries_it() {
    let c = Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .section("quarantine", "min_hold: 30m, quiet_period: 2h")
        .set("detection.ladder", "{crossings: 1}")
        .load();
    let a = c.subscriber_addr("100.64.1.7").unwrap();
    let mut e = Engine::new(&c, [], []);
    e.handle(vec![detected_notice(a)], NOW);
    let (plan, _) = e.handle(vec![evidence(a, NOW, 25)], NOW + 1);
    assert!(matches!(plan.changes.as_slice(), [Change::Host(_)]));
    assert!(plan.transitions.is_empty() && plan.add.is_empty());
    let h = e.lifecycle().get(&Subject::Addr(a)).unwrap().clone();
    let State::Noticed(n) = &h.state else {
        panic!("{h:?}")
    };
    assert_eq!(n.evidence["smtp_attempts"], 25);
    assert_eq!(n.evidence["smtp_attempts_threshold"], 20);
    assert_eq!(h.mac.as_deref(), Some("02:00:00:00:00:07"));

    // The next crossing: the ladder's quarantine names what the notice
    // counted, and its own count lands on the quarantine, not the notice.
    e.handle(vec![detected_notice(a)], NOW + 20);
    let (q, _) = quarantined(&e, a);
    assert_eq!(q.evidence["smtp_attempts"], 25);
    assert_eq!(q.evidence["smtp_attempts_threshold"], 20);
    let (plan, _) = e.handle(vec![evidence(a, NOW, 90)], NOW + 21);
    assert!(
        plan.is_empty(),
        "the notice's look-up is for the notice only"
    );
    e.handle(vec![evidence(a, NOW + 20, 90)], NOW + 22);
    assert_eq!(quarantined(&e, a).0.evidence["smtp_attempts"], 90);
}
