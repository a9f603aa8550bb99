//! A gateway that only follows: every record another engine writes is fed
//! to it as [`Input::Stored`], with the same sessions. Whatever the
//! decider did, the follower ends with the same records and walls in
//! exactly the same addresses, and it writes nothing of its own.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::session_tests::{NOW, Step, addr, apply, check, config, input, quarantine, step, sub};
use super::*;

/// What the follower is fed of a batch the decider carried out: the same
/// session events, and each record the decider wrote.
fn followed(c: &Config, steps: &[Step], plan: &Plan) -> Vec<Input> {
    let sessions = steps
        .iter()
        .map(|s| input(c, s))
        .filter(|i| matches!(i, Input::Session(_)));
    let stored = plan.changes.iter().filter_map(|c| match c {
        Change::Host(h) => Some(Input::Stored(h.clone())),
        _ => None,
    });
    sessions.chain(stored).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Decisions made on one gateway, adopted on another, wall in the same
    /// addresses there, and the follower never writes a record or
    /// publishes a transition of its own for them.
    #[test]
    fn a_follower_walls_in_what_the_decider_decided(
        batches in prop::collection::vec(
            (prop::collection::vec(step(), 1..4), any::<bool>(), 0u64..20_000), 1..30),
    ) {
        let c = config();
        let mut decider = Engine::new(&c, [], []);
        let mut follower = Engine::new(&c, [], []);
        let (mut k_decider, mut k_follower) = (BTreeSet::new(), BTreeSet::new());
        let mut now = NOW;
        for (steps, refused, wait) in batches {
            now += i64::try_from(wait).unwrap();
            let (plan, _) = decider.handle(steps.iter().map(|s| input(&c, s)).collect(), now);
            if refused {
                decider.undo(plan);
                continue;
            }
            apply(&mut k_decider, &plan)?;
            let (fplan, _) = follower.handle(followed(&c, &steps, &plan), now);
            prop_assert!(fplan.transitions.is_empty(), "the follower published {:?}", fplan.transitions);
            prop_assert!(
                !fplan.changes.iter().any(|c| matches!(c, Change::Host(_) | Change::Audit(_))),
                "the follower wrote a decision of its own"
            );
            apply(&mut k_follower, &fplan)?;
            check(&follower, &k_follower)?;
            prop_assert_eq!(&k_follower, &k_decider);
            let records = |e: &Engine| e.lifecycle().hosts().cloned().collect::<Vec<_>>();
            prop_assert_eq!(records(&follower), records(&decider));
        }
    }
}

#[test]
fn a_record_already_held_changes_nothing() {
    let c = config();
    let mut a = Engine::new(&c, [], []);
    let (plan, _) = a.handle(vec![quarantine(Subject::Subscriber(sub(0)))], NOW);
    let Some(Change::Host(host)) = plan.changes.first().cloned() else {
        panic!("no record in {:?}", plan.changes);
    };
    let (plan, outcomes) = a.handle(vec![Input::Stored(host)], NOW + 1);
    assert_eq!(
        outcomes,
        [Outcome::Stored {
            subject: Subject::Subscriber(sub(0)),
            changed: false
        }]
    );
    assert!(plan.changes.is_empty() && plan.add.is_empty() && plan.remove.is_empty());
}

#[test]
fn a_release_decided_elsewhere_lifts_the_wall_and_ends_flows_and_undo_puts_it_back() {
    let c = config();
    let a1 = addr(&c, 0);
    let start = Input::Session(SessionEvent::Start {
        subscriber: sub(0),
        addrs: vec![a1],
        source: cordon_proto::subscriber::SessionSource::Radius,
        session_id: None,
        nas: None,
        calling_station: None,
    });
    let mut e = Engine::new(&c, [], []);
    let (plan, _) = e.handle(vec![start, quarantine(Subject::Subscriber(sub(0)))], NOW);
    assert_eq!(plan.add, [a1]);
    let released = Host::clean(Subject::Subscriber(sub(0)));
    let (plan, outcomes) = e.handle(vec![Input::Stored(released)], NOW + 5);
    assert!(matches!(outcomes[0], Outcome::Stored { changed: true, .. }));
    assert_eq!(plan.remove, [a1]);
    assert_eq!(plan.flush, [a1]);
    assert!(plan.transitions.is_empty());
    e.undo(plan);
    assert_eq!(
        e.quarantined(),
        [a1],
        "an undone adoption left the wall down"
    );
    assert!(e.lifecycle().subscriber_quarantined(&sub(0)));
}
