//! Sessions and quarantines together, over random sequences: the kernel's
//! set always holds every address a quarantined subscriber holds now and
//! no address of anyone else (unless an address quarantine covers it), it
//! never overlaps itself, and an undone batch puts every part back.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use cordon_config::Config;
use cordon_proto::portal::Reason;
use cordon_proto::subscriber::SessionSource;
use cordon_testkit::Fixture;
use proptest::prelude::*;

use super::*;
use crate::actor::Actor;
use crate::lifecycle::{QuarantineRequest, State};

pub(super) const NOW: Unix = 1_700_000_000;
const SUBSCRIBERS: [&str; 3] = ["alice", "bob", "carol"];
const ADDRS: [&str; 6] = [
    "100.64.1.1",
    "100.64.1.2",
    "100.64.1.3",
    "100.64.1.0/30",
    "2001:db8:0:100::/56",
    "2001:db8:0:101::/64",
];

pub(super) fn config() -> Config {
    Fixture::new()
        .prefixes(r#"[100.64.0.0/16, "2001:db8::/32"]"#)
        .section("quarantine", "min_hold: 30m, quiet_period: 2h")
        .load()
}

pub(super) fn sub(i: usize) -> SubscriberId {
    SUBSCRIBERS[i].parse().unwrap()
}

pub(super) fn addr(c: &Config, i: usize) -> SubscriberAddr {
    c.subscriber_addr(ADDRS[i]).unwrap()
}

#[derive(Debug, Clone)]
pub(super) enum Step {
    Start(usize, Vec<usize>, bool),
    Stop(usize, Option<usize>),
    NasRestart,
    QuarantineAddr(usize),
    QuarantineSubscriber(usize),
    ReleaseAddr(usize),
    ReleaseSubscriber(usize),
    Quiet(usize),
    Tick,
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    let s = 0..SUBSCRIBERS.len();
    let a = 0..ADDRS.len();
    prop_oneof![
        3 => (s.clone(), prop::collection::vec(a.clone(), 1..3), any::<bool>())
            .prop_map(|(s, a, n)| Step::Start(s, a, n)),
        2 => (s.clone(), prop::option::of(a.clone())).prop_map(|(s, a)| Step::Stop(s, a)),
        1 => Just(Step::NasRestart),
        2 => a.clone().prop_map(Step::QuarantineAddr),
        2 => s.clone().prop_map(Step::QuarantineSubscriber),
        1 => a.prop_map(Step::ReleaseAddr),
        1 => s.clone().prop_map(Step::ReleaseSubscriber),
        1 => s.prop_map(Step::Quiet),
        1 => Just(Step::Tick),
    ]
}

pub(super) fn quarantine(subject: Subject) -> Input {
    Input::Event(Event::Quarantine(QuarantineRequest {
        subject,
        reason: Reason::Operator,
        actor: Actor::Operator("op".into()),
        note: "ticket".into(),
        hold: None,
        mac: None,
        evidence: BTreeMap::new(),
    }))
}

pub(super) fn release(subject: Subject) -> Input {
    Input::Event(Event::Release {
        subject,
        actor: Actor::Operator("op".into()),
        note: "cleaned".into(),
    })
}

pub(super) fn input(c: &Config, s: &Step) -> Input {
    match s {
        Step::Start(s, addrs, nas) => Input::Session(SessionEvent::Start {
            subscriber: sub(*s),
            addrs: addrs.iter().map(|i| addr(c, *i)).collect(),
            source: SessionSource::Radius,
            session_id: None,
            nas: nas.then(|| "bng1".to_owned()),
            calling_station: None,
        }),
        Step::Stop(s, a) => Input::Session(SessionEvent::Stop {
            subscriber: sub(*s),
            addrs: a.map(|i| vec![addr(c, i)]),
        }),
        Step::NasRestart => Input::Session(SessionEvent::NasRestarted { nas: "bng1".into() }),
        Step::QuarantineAddr(i) => quarantine(Subject::Addr(addr(c, *i))),
        Step::QuarantineSubscriber(s) => quarantine(Subject::Subscriber(sub(*s))),
        Step::ReleaseAddr(i) => release(Subject::Addr(addr(c, *i))),
        Step::ReleaseSubscriber(s) => release(Subject::Subscriber(sub(*s))),
        Step::Quiet(s) => Input::Event(Event::QuietChecked {
            subject: Subject::Subscriber(sub(*s)),
            since_last: None,
        }),
        Step::Tick => Input::Event(Event::Tick),
    }
}

/// Checks the invariants against the kernel as the plans left it.
pub(super) fn check(e: &Engine, kernel: &BTreeSet<SubscriberAddr>) -> Result<(), TestCaseError> {
    let covers = |a: &SubscriberAddr| kernel.iter().any(|k| k.net().contains(&a.net()));
    let addr_quarantine_covers = |a: &SubscriberAddr| {
        e.lifecycle.hosts().any(|h| {
            h.state.is_quarantined() && h.subject.addr().is_some_and(|r| r.net().contains(&a.net()))
        })
    };
    for h in e.sessions.holdings() {
        let quarantined = e.lifecycle.subscriber_quarantined(&h.subscriber);
        if quarantined {
            prop_assert!(
                covers(&h.addr),
                "{} of quarantined {} is free",
                h.addr,
                h.subscriber
            );
        } else if !addr_quarantine_covers(&h.addr) {
            prop_assert!(
                !covers(&h.addr),
                "{} of clean {} is walled in",
                h.addr,
                h.subscriber
            );
        }
    }
    for h in e.lifecycle.hosts() {
        if let (Some(a), true) = (h.subject.addr(), h.state.is_quarantined()) {
            prop_assert!(covers(&a), "address quarantine {} is free", a);
        }
    }
    for k in kernel {
        let wanted = e.lifecycle.addr_quarantined(&k.net())
            || e.sessions
                .holding(k)
                .is_some_and(|h| e.lifecycle.subscriber_quarantined(&h.subscriber));
        prop_assert!(wanted, "{} is in the set for nobody", k);
    }
    let held: BTreeSet<SubscriberAddr> = e.quarantined().into_iter().collect();
    prop_assert_eq!(&held, kernel, "the engine's view of the set drifted");
    Ok(())
}

/// Applies a plan's kernel change as nft would: refusing to add what
/// overlaps and to delete what is absent.
pub(super) fn apply(
    kernel: &mut BTreeSet<SubscriberAddr>,
    plan: &Plan,
) -> Result<(), TestCaseError> {
    for r in &plan.remove {
        prop_assert!(kernel.remove(r), "removed {} that was not there", r);
    }
    for a in &plan.add {
        let overlap = kernel
            .iter()
            .find(|k| k.net().contains(&a.net()) || a.net().contains(&k.net()));
        prop_assert!(overlap.is_none(), "adding {} overlaps {:?}", a, overlap);
        kernel.insert(*a);
    }
    Ok(())
}

pub(super) fn memory(e: &Engine) -> (Vec<Host>, Vec<Holding>, Vec<SubscriberAddr>) {
    (
        e.lifecycle.hosts().cloned().collect(),
        e.sessions.holdings().cloned().collect(),
        e.quarantined(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// No sequence of session and lifecycle events, in batches, some of
    /// them refused by the store, leaves a quarantined subscriber's current
    /// address out of the set or another subscriber's address in it.
    #[test]
    fn the_set_follows_quarantined_subscribers_and_nobody_else(
        batches in prop::collection::vec(
            (prop::collection::vec(step(), 1..4), any::<bool>(), 0u64..20_000), 1..30),
    ) {
        let c = config();
        let mut e = Engine::new(&c, [], []);
        let mut kernel = BTreeSet::new();
        let mut now = NOW;
        for (steps, refused, wait) in batches {
            now += i64::try_from(wait).unwrap();
            let before = memory(&e);
            let (plan, _) = e.handle(steps.iter().map(|s| input(&c, s)).collect(), now);
            if refused {
                e.undo(plan);
                prop_assert_eq!(memory(&e), before, "an undone batch left a trace");
            } else {
                apply(&mut kernel, &plan)?;
            }
            check(&e, &kernel)?;
        }
        // A restart rebuilds the same set from the records and sessions.
        let again = Engine::new(&c, e.lifecycle.hosts().cloned(), e.sessions.holdings().cloned());
        prop_assert_eq!(again.quarantined(), e.quarantined());
    }
}

#[test]
fn a_quarantine_of_a_held_address_follows_the_subscriber_to_its_next_address() {
    let c = config();
    let mut e = Engine::new(&c, [], []);
    let (a1, a2) = (addr(&c, 0), addr(&c, 1));
    let start = |s: usize, a: SubscriberAddr| {
        Input::Session(SessionEvent::Start {
            subscriber: sub(s),
            addrs: vec![a],
            source: SessionSource::Dhcp,
            session_id: None,
            nas: None,
            calling_station: None,
        })
    };
    e.handle(vec![start(0, a1)], NOW);
    let (plan, outcomes) = e.handle(vec![quarantine(Subject::Addr(a1))], NOW + 1);
    assert!(
        matches!(&outcomes[0], Outcome::Event { subject: Some(Subject::Subscriber(s)), result: Ok(()), .. } if *s == sub(0))
    );
    assert_eq!(plan.add, [a1]);
    // Alice's lease ends; she comes back on a2; Bob gets a1.
    let stop = Input::Session(SessionEvent::Stop {
        subscriber: sub(0),
        addrs: None,
    });
    let (plan, _) = e.handle(vec![stop, start(0, a2), start(1, a1)], NOW + 60);
    assert_eq!(plan.add, [a2]);
    assert_eq!(plan.remove, [a1]);
    assert_eq!(e.view(&a1, NOW + 60).subject, Subject::Subscriber(sub(1)));
    assert_eq!(e.view(&a1, NOW + 60).host, None);
    let alice = e.view(&a2, NOW + 60);
    assert!(matches!(alice.host.unwrap().state, State::Quarantined(_)));
    // A session change writes the history.
    let kinds = plan
        .changes
        .iter()
        .filter(|c| matches!(c, Change::SessionBegan(_) | Change::SessionEnded { .. }))
        .count();
    assert_eq!(kinds, 3);
}
