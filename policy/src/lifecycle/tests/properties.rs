//! Properties over random event sequences: the kernel set never disagrees
//! with the states, an undone batch restores every record, and the tally
//! follows every change.

use super::*;

#[derive(Debug, Clone)]
enum Step {
    Quarantine(usize, Option<u64>),
    Release(usize),
    SelfRelease(usize, Option<u64>),
    Quiet(usize, Option<u64>),
    Tick,
    Wait(u64),
}

fn pool() -> Vec<Subject> {
    [
        "100.64.1.1",
        "100.64.1.2",
        "100.64.1.0/30",
        "100.64.2.0/24",
        "2001:db8:0:1::1",
    ]
    .iter()
    .map(|t| addr(t))
    .collect()
}

fn step() -> impl Strategy<Value = Step> {
    let i = 0..5usize;
    let secs = prop::option::of(0..20_000u64);
    prop_oneof![
        (i.clone(), prop::option::of(1..10_000u64)).prop_map(|(i, h)| Step::Quarantine(i, h)),
        i.clone().prop_map(Step::Release),
        (i.clone(), secs.clone()).prop_map(|(i, s)| Step::SelfRelease(i, s)),
        (i, secs).prop_map(|(i, s)| Step::Quiet(i, s)),
        Just(Step::Tick),
        (1..3_000_000u64).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn the_kernel_set_always_matches_the_states(steps in prop::collection::vec(step(), 1..60)) {
        let pool = pool();
        let mut m = machine();
        let mut kernel: BTreeSet<SubscriberAddr> = BTreeSet::new();
        let mut now = 1_000_000i64;
        for s in steps {
            let Some(event) = event(&pool, s, &mut now) else { continue };
            let Ok(actions) = m.handle(event, now) else { continue };
            // The store is written before the kernel is touched.
            if let Some(first_kernel) = actions.iter().position(|a| matches!(a, Action::Enforce(_) | Action::Lift(_))) {
                let persisted = actions[..first_kernel].iter().any(|a| matches!(a, Action::Persist { .. }));
                prop_assert!(persisted, "kernel change before the store write");
            }
            for a in actions {
                match a {
                    // nft refuses to delete what is absent, and an interval
                    // set refuses overlaps: the machine must never ask for either.
                    Action::Enforce(x) => {
                        let x = x.addr().unwrap();
                        prop_assert!(!kernel.iter().any(|k| k.net().contains(&x.net()) || x.net().contains(&k.net())), "overlap adding {x}");
                        kernel.insert(x);
                    }
                    Action::Lift(x) => prop_assert!(kernel.remove(&x.addr().unwrap()), "lifted {x} that was not there"),
                    _ => {}
                }
            }
            for h in m.hosts() {
                prop_assert_eq!(h.state.is_quarantined(), kernel.contains(&h.subject.addr().unwrap()), "{} is {:?}", h.subject, h.state);
            }
            for k in &kernel {
                prop_assert!(m.get(&Subject::Addr(*k)).is_some_and(|h| h.state.is_quarantined()), "{} in the set but not quarantined", k);
            }
            prop_assert_eq!(m.tally(), m.recount(), "the tally drifted");
        }
    }

    #[test]
    fn a_batch_undone_leaves_every_record_as_it_was(
        before in prop::collection::vec(step(), 0..30),
        batch in prop::collection::vec(step(), 1..30),
    ) {
        let pool = pool();
        let mut m = machine();
        let mut now = 1_000_000i64;
        let run = |m: &mut Lifecycle, steps: Vec<Step>, now: &mut i64| {
            for s in steps {
                if let Some(e) = event(&pool, s, now) {
                    let _ = m.handle(e, *now);
                }
            }
        };
        run(&mut m, before, &mut now);
        let snapshot = m.clone();
        m.begin();
        run(&mut m, batch, &mut now);
        let undo = m.finish();
        prop_assert_eq!(m.tally(), m.recount());
        // The undo log holds exactly the records that changed, as they were.
        for a in &pool {
            match undo.before(a) {
                Some(was) => prop_assert_eq!(was, snapshot.get(a), "{} logged wrong", a),
                None => prop_assert_eq!(m.get(a), snapshot.get(a), "{} changed unlogged", a),
            }
        }
        m.undo(undo);
        prop_assert_eq!(m.hosts().collect::<Vec<_>>(), snapshot.hosts().collect::<Vec<_>>());
        prop_assert_eq!(m.tally(), snapshot.tally());
        prop_assert_eq!(m.tally(), m.recount());
    }
}

/// The event a step stands for (`None` for a wait, which moves `now`).
fn event(pool: &[Subject], s: Step, now: &mut i64) -> Option<Event> {
    Some(match s {
        Step::Quarantine(i, h) => quarantine(pool[i].clone(), h.map(Duration::from_secs)),
        Step::Release(i) => release(pool[i].clone()),
        Step::SelfRelease(i, s) => Event::SelfRelease {
            subject: pool[i].clone(),
            since_last: s.map(Duration::from_secs),
        },
        Step::Quiet(i, s) => Event::QuietChecked {
            subject: pool[i].clone(),
            since_last: s.map(Duration::from_secs),
        },
        Step::Tick => Event::Tick,
        Step::Wait(d) => {
            *now += d as i64;
            return None;
        }
    })
}

#[test]
fn the_tally_follows_every_change_and_an_undo() {
    let mut m = machine();
    let (a, b, c) = (addr("100.64.1.1"), addr("100.64.1.2"), addr("100.64.1.3"));
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    m.handle(quarantine(b.clone(), None), 0).unwrap();
    m.handle(quarantine(c.clone(), None), 0).unwrap();
    m.handle(release(c.clone()), 1).unwrap();
    let held = Tally {
        quarantined: 2,
        probation: 1,
        noticed: 0,
    };
    assert_eq!(m.tally(), held);
    m.begin();
    // Touched twice in one batch: the undo must go back to the first state.
    m.handle(release(a.clone()), 2).unwrap();
    m.handle(quarantine(a.clone(), None), 3).unwrap();
    m.handle(release(b), 3).unwrap();
    m.handle(quarantine(c.clone(), None), 3).unwrap();
    m.handle(quarantine(addr("100.64.1.4"), None), 3).unwrap();
    assert_eq!(
        m.handle(release(addr("100.64.1.9")), 3),
        Err(Refusal::NotQuarantined(addr("100.64.1.9")))
    );
    assert_eq!(
        m.tally(),
        Tally {
            quarantined: 3,
            probation: 1,
            noticed: 0,
        }
    );
    let undo = m.finish();
    assert_eq!(
        undo.len(),
        4,
        "a, b, c and the new host; not the refused one"
    );
    assert_eq!(undo.before(&addr("100.64.1.4")), Some(None));
    assert!(matches!(
        undo.before(&a),
        Some(Some(Host {
            state: State::Quarantined(Quarantined { relapses: 0, .. }),
            ..
        }))
    ));
    m.undo(undo);
    assert_eq!(m.tally(), held);
    assert_eq!(m.get(&addr("100.64.1.4")), None);
    assert_eq!(quarantined(&m, &a).since, 0);
    assert!(matches!(m.get(&c).unwrap().state, State::Probation(_)));
    // With no batch open nothing is logged.
    m.handle(quarantine(addr("100.64.1.5"), None), 4).unwrap();
    assert!(m.finish().is_empty());
}
