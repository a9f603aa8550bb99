//! Notices, the ladder and quarantines together, over random sequences:
//! the notice set holds every current address of a subject whose notice
//! shows, unless the quarantine set walls it in, and nothing else; it never
//! overlaps itself or the quarantine set; the quarantine set's invariants
//! hold as before; an undone batch puts every part back; a restart rebuilds
//! both sets. And the ladder: a noticed subject is quarantined exactly when
//! it crossed `crossings` more times or still sent at its review.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cordon_config::Config;
use cordon_proto::portal::Reason;
use cordon_testkit::Fixture;
use proptest::prelude::*;

use super::session_tests::{self as st, NOW, Step, addr, sub};
use super::*;
use crate::actor::Actor;
use crate::lifecycle::{NoticeRequest, State};

/// Two crossings after the notice, or still sending at the review (1 d).
fn config() -> Config {
    Fixture::new()
        .prefixes(r#"[100.64.0.0/16, "2001:db8::/32"]"#)
        .section("quarantine", "min_hold: 30m, quiet_period: 2h")
        .section("notice", "interval: 4h, review: 1d")
        .set("detection.ladder", "{crossings: 2}")
        .load()
}

#[derive(Debug, Clone)]
enum NStep {
    Session(Step),
    NoticeAddr(usize, bool),
    NoticeSubscriber(usize, bool),
    AckAddr(usize),
    AckSubscriber(usize),
    Review(usize, bool),
}

fn nstep() -> impl Strategy<Value = NStep> {
    let s = 0..3usize;
    let a = 0..6usize;
    prop_oneof![
        6 => st::step().prop_map(NStep::Session),
        2 => (a.clone(), any::<bool>()).prop_map(|(a, d)| NStep::NoticeAddr(a, d)),
        3 => (s.clone(), any::<bool>()).prop_map(|(s, d)| NStep::NoticeSubscriber(s, d)),
        1 => a.prop_map(NStep::AckAddr),
        2 => s.clone().prop_map(NStep::AckSubscriber),
        2 => (s, any::<bool>()).prop_map(|(s, b)| NStep::Review(s, b)),
    ]
}

fn notice(subject: Subject, detection: bool) -> Input {
    let (reason, actor) = if detection {
        (Reason::Detection, Actor::Detection)
    } else {
        (Reason::Operator, Actor::Operator("op".into()))
    };
    Input::Event(Event::Notice(NoticeRequest {
        subject,
        reason,
        actor,
        note: "smtp_attempts over 20 in 10m".into(),
        mac: None,
        evidence: BTreeMap::new(),
    }))
}

fn review(subject: Subject, sending: bool) -> Input {
    Input::Event(Event::QuietChecked {
        subject,
        since_last: sending.then(|| Duration::from_secs(60)),
    })
}

fn input(c: &Config, s: &NStep) -> Input {
    match s {
        NStep::Session(s) => st::input(c, s),
        NStep::NoticeAddr(i, d) => notice(Subject::Addr(addr(c, *i)), *d),
        NStep::NoticeSubscriber(i, d) => notice(Subject::Subscriber(sub(*i)), *d),
        NStep::AckAddr(i) => Input::Event(Event::Acknowledge {
            subject: Subject::Addr(addr(c, *i)),
        }),
        NStep::AckSubscriber(i) => Input::Event(Event::Acknowledge {
            subject: Subject::Subscriber(sub(*i)),
        }),
        NStep::Review(i, b) => review(Subject::Subscriber(sub(*i)), *b),
    }
}

fn overlaps(a: &SubscriberAddr, b: &SubscriberAddr) -> bool {
    a.net().contains(&b.net()) || b.net().contains(&a.net())
}

/// The notice set's invariants, against the kernel as the plans left it.
fn check_notice(
    e: &Engine,
    quarantine: &BTreeSet<SubscriberAddr>,
    notice: &BTreeSet<SubscriberAddr>,
) -> Result<(), TestCaseError> {
    let walled = |a: &SubscriberAddr| quarantine.iter().any(|k| k.net().contains(&a.net()));
    let covers = |a: &SubscriberAddr| notice.iter().any(|k| k.net().contains(&a.net()));
    for h in e.sessions.holdings() {
        if e.lifecycle.subscriber_showing_notice(&h.subscriber) && !walled(&h.addr) {
            prop_assert!(
                covers(&h.addr),
                "{} of noticed {} is not in the notice set",
                h.addr,
                h.subscriber
            );
        }
    }
    for h in e.lifecycle.hosts() {
        if let (Some(a), true) = (h.subject.addr(), h.state.is_showing_notice())
            && !walled(&a)
        {
            prop_assert!(covers(&a), "address notice {} is not in the set", a);
        }
    }
    for k in notice {
        let wanted = e.lifecycle.addr_showing_notice(&k.net())
            || e.sessions
                .holding(k)
                .is_some_and(|h| e.lifecycle.subscriber_showing_notice(&h.subscriber));
        prop_assert!(wanted, "{} is in the notice set for nobody", k);
        // A quarantine inside a noticed range may overlap it: the
        // quarantine's rules come first in the kernel.
        prop_assert!(!walled(k), "{} is noticed and walled in", k);
    }
    let held: BTreeSet<SubscriberAddr> = e.noticed().into_iter().collect();
    prop_assert_eq!(&held, notice, "the engine's view of the notice set drifted");
    Ok(())
}

/// Applies a plan's notice change as nft would.
fn apply_notice(kernel: &mut BTreeSet<SubscriberAddr>, plan: &Plan) -> Result<(), TestCaseError> {
    for r in &plan.notice_remove {
        prop_assert!(kernel.remove(r), "removed notice {} that was not there", r);
    }
    for a in &plan.notice_add {
        let overlap = kernel.iter().find(|k| overlaps(k, a));
        prop_assert!(
            overlap.is_none(),
            "adding notice {} overlaps {:?}",
            a,
            overlap
        );
        kernel.insert(*a);
    }
    Ok(())
}

fn memory(
    e: &Engine,
) -> (
    Vec<Host>,
    Vec<crate::sessions::Holding>,
    Vec<SubscriberAddr>,
    Vec<SubscriberAddr>,
) {
    let (hosts, holdings, quarantined) = st::memory(e);
    (hosts, holdings, quarantined, e.noticed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// No sequence of sessions, notices, crossings, acknowledgements,
    /// reviews, quarantines and releases, in batches some of them refused
    /// by the store, breaks either set's invariants.
    #[test]
    fn both_sets_follow_their_subjects_and_nobody_else(
        batches in prop::collection::vec(
            (prop::collection::vec(nstep(), 1..4), any::<bool>(), 0u64..40_000), 1..30),
    ) {
        let c = config();
        let mut e = Engine::new(&c, [], []);
        let (mut quarantine, mut notice) = (BTreeSet::new(), BTreeSet::new());
        let mut now = NOW;
        for (steps, refused, wait) in batches {
            now += i64::try_from(wait).unwrap();
            let before = memory(&e);
            let (plan, _) = e.handle(steps.iter().map(|s| input(&c, s)).collect(), now);
            if refused {
                e.undo(plan);
                prop_assert_eq!(memory(&e), before, "an undone batch left a trace");
            } else {
                st::apply(&mut quarantine, &plan)?;
                apply_notice(&mut notice, &plan)?;
            }
            st::check(&e, &quarantine)?;
            check_notice(&e, &quarantine, &notice)?;
        }
        let again = Engine::new(&c, e.lifecycle.hosts().cloned(), e.sessions.holdings().cloned());
        prop_assert_eq!(again.quarantined(), e.quarantined());
        prop_assert_eq!(again.noticed(), e.noticed());
    }

    /// The ladder: a subscriber noticed by detection is quarantined once it
    /// crosses twice more, or when its review finds it still sending;
    /// a quiet review ends the notice; before either it stays noticed.
    /// An acknowledgement keeps it out of the notice set for the interval
    /// exactly.
    #[test]
    fn the_ladder_moves_on_exactly_as_configured(
        crossings in 0u32..4,
        ack in any::<bool>(),
        later in 0i64..200_000,
        sending in any::<bool>(),
    ) {
        let c = config();
        let alice = Subject::Subscriber(sub(0));
        let a = addr(&c, 0);
        let mut e = Engine::new(&c, [], []);
        e.handle(vec![st::input(&c, &Step::Start(0, vec![0], false))], NOW);
        let (plan, _) = e.handle(vec![notice(Subject::Addr(a), true)], NOW);
        prop_assert_eq!(&plan.notice_add, &vec![a], "the notice follows the holder");
        prop_assert!(plan.flush.is_empty(), "a notice ends no flow");
        prop_assert_eq!(e.state_of(&alice), HostState::Noticed);
        if ack {
            let (plan, _) = e.handle(vec![Input::Event(Event::Acknowledge { subject: Subject::Addr(a) })], NOW + 10);
            prop_assert_eq!(&plan.notice_remove, &vec![a]);
            let (plan, _) = e.handle(vec![Input::Event(Event::Tick)], NOW + 4 * 3600 - 1);
            prop_assert!(plan.notice_add.is_empty(), "back before the interval");
            prop_assert!(e.deadline_passed(NOW + 10 + 4 * 3600));
            let (plan, _) = e.handle(vec![Input::Event(Event::Tick)], NOW + 10 + 4 * 3600);
            prop_assert_eq!(&plan.notice_add, &vec![a], "back after the interval");
        }
        // The kernel reports a host at most once per ALERT_REPEAT (10 s).
        for i in 0..crossings {
            e.handle(vec![notice(Subject::Addr(a), true)], NOW + 20 + 10 * i64::from(i));
        }
        let at = NOW + 100 + later;
        // The review goes to notices only (for a quarantine the same event
        // is its quiet check).
        let plan = if crossings < 2 {
            e.handle(vec![review(alice.clone(), sending)], at).0
        } else {
            Plan::default()
        };
        let reviewed = at >= NOW + 86_400;
        let expected = if crossings >= 2 || (reviewed && sending) {
            HostState::Quarantined
        } else if reviewed {
            HostState::Clean
        } else {
            HostState::Noticed
        };
        prop_assert_eq!(e.state_of(&alice), expected);
        let walled = e.quarantined().contains(&a);
        prop_assert_eq!(walled, expected == HostState::Quarantined);
        prop_assert_eq!(e.noticed().contains(&a), expected == HostState::Noticed);
        if expected == HostState::Quarantined && crossings < 2 {
            prop_assert_eq!(&plan.add, &vec![a]);
            prop_assert_eq!(&plan.notice_remove, &vec![a]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Notices decided on one gateway and adopted on another
    /// (`Input::Stored`) put the same addresses in the follower's notice
    /// set, and the follower writes nothing of its own.
    #[test]
    fn a_follower_shows_the_notices_the_decider_decided(
        batches in prop::collection::vec(
            (prop::collection::vec(nstep(), 1..4), 0u64..40_000), 1..20),
    ) {
        let c = config();
        let mut decider = Engine::new(&c, [], []);
        let mut follower = Engine::new(&c, [], []);
        let (mut q, mut n) = (BTreeSet::new(), BTreeSet::new());
        let mut now = NOW;
        for (steps, wait) in batches {
            now += i64::try_from(wait).unwrap();
            let (plan, _) = decider.handle(steps.iter().map(|s| input(&c, s)).collect(), now);
            let sessions = steps.iter().filter_map(|s| match s {
                NStep::Session(s @ (Step::Start(..) | Step::Stop(..) | Step::NasRestart)) => {
                    Some(st::input(&c, s))
                }
                _ => None,
            });
            let stored = plan.changes.iter().filter_map(|c| match c {
                Change::Host(h) => Some(Input::Stored(h.clone())),
                _ => None,
            });
            let (fplan, _) = follower.handle(sessions.chain(stored).collect(), now);
            prop_assert!(fplan.transitions.is_empty());
            prop_assert!(!fplan.changes.iter().any(|c| matches!(c, Change::Host(_) | Change::Audit(_))));
            st::apply(&mut q, &fplan)?;
            apply_notice(&mut n, &fplan)?;
            check_notice(&follower, &q, &n)?;
            prop_assert_eq!(follower.noticed(), decider.noticed());
            prop_assert_eq!(follower.quarantined(), decider.quarantined());
        }
    }
}

#[test]
fn an_operator_notice_of_a_quarantined_subscriber_changes_nothing() {
    let c = config();
    let mut e = Engine::new(&c, [], []);
    let alice = Subject::Subscriber(sub(0));
    e.handle(vec![st::input(&c, &Step::Start(0, vec![0], false))], NOW);
    e.handle(vec![st::quarantine(alice.clone())], NOW);
    let (plan, _) = e.handle(vec![notice(alice.clone(), false)], NOW + 1);
    assert!(plan.changes.is_empty() && plan.notice_add.is_empty());
    assert_eq!(e.state_of(&alice), HostState::Quarantined);
}

/// One flood crossing two signals can be reported twice (their packets
/// pass the kernel's `alerted` check on two CPUs at once): the ladder
/// counts one crossing per `ALERT_REPEAT` (less a second of slack), counted
/// from the notice and from the last crossing it counted.
#[test]
fn one_burst_reported_twice_moves_the_ladder_once() {
    let c = config();
    let mut e = Engine::new(&c, [], []);
    let a = addr(&c, 0);
    let crossings = |e: &Engine| match &e.lifecycle.get(&Subject::Addr(a)).unwrap().state {
        State::Noticed(n) => n.crossings,
        other => panic!("not noticed: {other:?}"),
    };
    e.handle(vec![notice(Subject::Addr(a), true)], NOW);
    let (plan, _) = e.handle(vec![notice(Subject::Addr(a), true)], NOW);
    assert!(plan.changes.is_empty(), "the notice's own burst: {plan:?}");
    e.handle(vec![notice(Subject::Addr(a), true)], NOW + 8);
    assert_eq!(crossings(&e), 0);
    e.handle(vec![notice(Subject::Addr(a), true)], NOW + 10);
    assert_eq!(crossings(&e), 1);
    e.handle(
        vec![
            notice(Subject::Addr(a), true),
            notice(Subject::Addr(a), true),
        ],
        NOW + 15,
    );
    assert_eq!(crossings(&e), 1, "within 10 s of the last counted");
    e.handle(vec![notice(Subject::Addr(a), true)], NOW + 20);
    assert_eq!(
        e.state_of(&Subject::Addr(a)),
        HostState::Quarantined,
        "the ladder's second crossing"
    );
}

#[test]
fn a_notice_on_probation_quarantines_as_a_relapse() {
    let c = config();
    let mut e = Engine::new(&c, [], []);
    let alice = Subject::Subscriber(sub(0));
    e.handle(vec![st::input(&c, &Step::Start(0, vec![0], false))], NOW);
    e.handle(vec![st::quarantine(alice.clone())], NOW);
    e.handle(vec![st::release(alice.clone())], NOW + 3600);
    e.handle(vec![notice(alice.clone(), true)], NOW + 7200);
    assert_eq!(e.state_of(&alice), HostState::Noticed);
    e.handle(vec![notice(alice.clone(), true)], NOW + 7300);
    e.handle(vec![notice(alice.clone(), true)], NOW + 7310);
    let host = e.lifecycle.get(&alice).unwrap();
    let State::Quarantined(q) = &host.state else {
        panic!("not quarantined: {:?}", host.state)
    };
    assert_eq!(q.relapses, 1);
    assert!(!q.self_release, "a relapse has no self-release");
}

#[test]
fn an_operator_release_withdraws_a_notice_and_an_ack_without_one_is_refused() {
    let c = config();
    let mut e = Engine::new(&c, [], []);
    let alice = Subject::Subscriber(sub(0));
    e.handle(vec![st::input(&c, &Step::Start(0, vec![0], false))], NOW);
    e.handle(vec![notice(alice.clone(), false)], NOW);
    let (plan, _) = e.handle(vec![st::release(alice.clone())], NOW + 1);
    assert_eq!(plan.notice_remove, [addr(&c, 0)]);
    assert_eq!(e.state_of(&alice), HostState::Clean);
    let (_, outcomes) = e.handle(
        vec![Input::Event(Event::Acknowledge {
            subject: alice.clone(),
        })],
        NOW + 2,
    );
    assert!(matches!(
        &outcomes[0],
        Outcome::Event {
            result: Err(Refusal::NotNoticed(_)),
            ..
        }
    ));
}
