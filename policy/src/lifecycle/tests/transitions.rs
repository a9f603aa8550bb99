//! Quarantine, operator release, the quiet check, fixed holds, probation
//! and relapse: one transition at a time over the virtual clock.

use super::*;

#[test]
fn quarantine_stores_then_enforces_then_flushes() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    let actions = m.handle(quarantine(a.clone(), None), 1000).unwrap();
    assert!(matches!(&actions[0], Action::Persist { audit, .. } if audit.actor == "alice"));
    assert_eq!(
        actions[1..],
        [
            Action::Enforce(a.clone()),
            Action::FlushConntrack(a.clone())
        ]
    );
    let q = quarantined(&m, &a);
    assert_eq!(q.since, 1000);
    assert_eq!(q.hold_until, 1000 + 30 * MIN);
    assert_eq!(q.until, None);
    assert!(q.self_release);
    assert_eq!(m.self_releases_left(m.get(&a).unwrap(), 1000), 2);
}

#[test]
fn quarantining_twice_changes_nothing() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    assert_eq!(m.handle(quarantine(a, None), 10).unwrap(), vec![]);
}

#[test]
fn operator_release_puts_on_probation_and_lifts() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    let actions = m.handle(release(a.clone()), 5).unwrap();
    assert_eq!(
        actions[1..],
        [Action::Lift(a.clone()), Action::FlushConntrack(a.clone())]
    );
    assert!(matches!(
        m.get(&a).unwrap().state,
        State::Probation(Probation { since: 5, .. })
    ));
    assert_eq!(
        m.handle(release(a.clone()), 6),
        Err(Refusal::NotQuarantined(a))
    );
}

#[test]
fn releasing_a_clean_address_is_refused() {
    let mut m = machine();
    let a = addr("100.64.1.8");
    assert_eq!(
        m.handle(release(a.clone()), 0),
        Err(Refusal::NotQuarantined(a))
    );
}

#[test]
fn auto_release_needs_the_hold_and_the_quiet() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    assert!(m.due_quiet_checks(29 * MIN).is_empty());
    assert_eq!(m.next_deadline(), Some(30 * MIN));
    // Hold passed, but it sent mail 10 minutes ago.
    assert_eq!(m.due_quiet_checks(30 * MIN), vec![(a.clone(), 0)]);
    let still = Event::QuietChecked {
        subject: a.clone(),
        since_last: Some(Duration::from_secs(600)),
    };
    assert_eq!(m.handle(still, 30 * MIN).unwrap(), vec![]);
    // Quiet for the quiet period: released.
    let quiet = Event::QuietChecked {
        subject: a.clone(),
        since_last: Some(Duration::from_secs(7200)),
    };
    let actions = m.handle(quiet, 200 * MIN).unwrap();
    assert!(actions.contains(&Action::Lift(a)));
    let Action::Persist { audit, .. } = &actions[0] else {
        panic!()
    };
    assert_eq!(audit.actor, "cordond");
}

#[test]
fn a_quiet_report_before_the_hold_changes_nothing() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    let quiet = Event::QuietChecked {
        subject: a,
        since_last: None,
    };
    assert_eq!(m.handle(quiet, MIN).unwrap(), vec![]);
}

#[test]
fn fixed_hold_ends_at_its_time_and_not_by_quiet() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), Some(Duration::from_secs(3600))), 0)
        .unwrap();
    let q = quarantined(&m, &a);
    assert_eq!(q.until, Some(3600));
    assert!(!q.self_release);
    assert!(m.due_quiet_checks(3000).is_empty());
    let quiet = Event::QuietChecked {
        subject: a.clone(),
        since_last: None,
    };
    assert_eq!(m.handle(quiet, 3000).unwrap(), vec![]);
    assert_eq!(m.handle(Event::Tick, 3599).unwrap(), vec![]);
    let actions = m.handle(Event::Tick, 3600).unwrap();
    assert!(actions.contains(&Action::Lift(a)));
}

#[test]
fn zero_hold_is_refused() {
    let mut m = machine();
    assert_eq!(
        m.handle(quarantine(addr("100.64.1.7"), Some(Duration::ZERO)), 0),
        Err(Refusal::ZeroHold)
    );
}

#[test]
fn probation_ends_clean() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    m.handle(release(a.clone()), 10).unwrap();
    let end = 10 + 30 * 86_400;
    assert_eq!(m.next_deadline(), Some(end));
    assert_eq!(m.handle(Event::Tick, end - 1).unwrap(), vec![]);
    let actions = m.handle(Event::Tick, end).unwrap();
    assert_eq!(actions.len(), 1, "no kernel change leaving probation");
    assert_eq!(m.get(&a).unwrap().state, State::Clean);
}

#[test]
fn relapse_escalates_the_hold_and_switches_self_release_off() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    m.handle(release(a.clone()), 10).unwrap();
    m.handle(quarantine(a.clone(), None), 100).unwrap();
    let q = quarantined(&m, &a);
    assert_eq!(q.relapses, 1);
    assert_eq!(q.hold_until, 100 + 4 * 30 * MIN);
    assert!(!q.self_release);
    assert_eq!(m.self_releases_left(m.get(&a).unwrap(), 100), 0);
    m.handle(release(a.clone()), 200).unwrap();
    m.handle(quarantine(a.clone(), None), 300).unwrap();
    assert_eq!(quarantined(&m, &a).hold_until, 300 + 16 * 30 * MIN);
    // Capped by max_hold (7 days).
    for t in [400, 600, 800] {
        m.handle(release(a.clone()), t).unwrap();
        m.handle(quarantine(a.clone(), None), t + 100).unwrap();
    }
    assert_eq!(quarantined(&m, &a).hold_until, 900 + 7 * 86_400);
    assert_eq!(
        m.handle(
            Event::SelfRelease {
                subject: a,
                since_last: None
            },
            900 + 8 * 86_400
        ),
        Err(Refusal::NoneLeft)
    );
}

#[test]
fn ipv6_is_quarantined_by_prefix_and_ranges_cover_hosts() {
    let mut m = machine();
    let v6 = addr("2001:db8:1:2::5");
    assert_eq!(v6.to_string(), "2001:db8:1:2::/64");
    m.handle(quarantine(v6, None), 0).unwrap();
    let range = addr("100.64.9.0/24");
    m.handle(quarantine(range.clone(), None), 0).unwrap();
    let host = addr("100.64.9.20");
    assert_eq!(m.lookup(&host).unwrap().subject, range);
}
