//! The lifecycle over a virtual clock: every transition, escalation, the
//! self-release limits, hold expiry; and proptest's invariant that the kernel
//! set (as the actions leave it) always matches the states.

#![allow(clippy::unwrap_used)]

mod overlaps;
mod properties;
mod self_release;
mod transitions;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cordon_config::{Config, SubscriberAddr};
use cordon_proto::portal::Reason;
use cordon_testkit::Fixture;
use proptest::prelude::*;

use super::*;
use crate::actor::Actor;
use crate::subject::Subject;

const MIN: i64 = 60;

fn config() -> Config {
    Fixture::new()
        .prefixes(r#"[100.64.0.0/16, "2001:db8::/32"]"#)
        .set("never_quarantine", "[100.64.0.1]")
        .section(
            "quarantine",
            "min_hold: 30m, quiet_period: 2h, self_release: {count: 2, window: 30d}, probation: 30d, escalation: 4, max_hold: 7d",
        )
        .load()
}

fn addr(text: &str) -> Subject {
    Subject::Addr(config().subscriber_addr(text).unwrap())
}

fn machine() -> Lifecycle {
    Lifecycle::new(Policy::from_config(&config()), [])
}

fn quarantine(a: Subject, hold: Option<Duration>) -> Event {
    Event::Quarantine(QuarantineRequest {
        subject: a,
        reason: Reason::Operator,
        actor: Actor::Operator("alice".into()),
        note: "ticket 1".into(),
        hold,
        mac: None,
        evidence: BTreeMap::new(),
    })
}

fn release(a: Subject) -> Event {
    Event::Release {
        subject: a,
        actor: Actor::Operator("alice".into()),
        note: "cleaned".into(),
    }
}

fn quarantined(m: &Lifecycle, a: &Subject) -> Quarantined {
    match &m.get(a).unwrap().state {
        State::Quarantined(q) => q.clone(),
        other => panic!("{a} is {other:?}, expected quarantined"),
    }
}
