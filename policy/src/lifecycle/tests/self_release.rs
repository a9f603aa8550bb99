//! The subscriber's button: the hold, the quiet it needs, and how many
//! self-releases a window allows.

use super::*;
use crate::journal::Restore;

#[test]
fn self_release_checks_hold_quiet_and_count() {
    let mut m = machine();
    let a = addr("100.64.1.7");
    let ask = |since_last| Event::SelfRelease {
        subject: a.clone(),
        since_last,
    };
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    assert!(
        matches!(m.handle(ask(None), 10 * MIN), Err(Refusal::TooEarly { remaining }) if remaining == Duration::from_secs(20 * 60))
    );
    assert!(matches!(
        m.handle(ask(Some(Duration::from_secs(60))), 40 * MIN),
        Err(Refusal::StillSending { .. })
    ));
    let actions = m.handle(ask(None), 40 * MIN).unwrap();
    assert!(actions.contains(&Action::Lift(a.clone())));
    assert_eq!(m.get(&a).unwrap().self_releases, vec![40 * MIN]);
    // Self-releases age out of the window.
    let b = addr("100.64.1.8");
    let now = 100 * 86_400;
    let mut host = Host::clean(b.clone());
    host.self_releases = vec![now - 31 * 86_400, now - 86_400];
    m.restore(b.clone(), Some(host));
    m.handle(quarantine(b.clone(), None), now).unwrap();
    assert_eq!(m.self_releases_left(m.get(&b).unwrap(), now), 1);
    assert_eq!(
        m.self_releases_left(m.get(&b).unwrap(), now + 29 * 86_400),
        2
    );
}

#[test]
fn the_button_needs_less_quiet_than_the_automatic_release() {
    // self_release.quiet defaults to 15 minutes; quiet_period is 2 hours.
    let mut m = machine();
    let a = addr("100.64.1.10");
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    let twenty_min = Some(Duration::from_secs(20 * 60));
    let checked = Event::QuietChecked {
        subject: a.clone(),
        since_last: twenty_min,
    };
    assert!(
        m.handle(checked, 40 * MIN).unwrap().is_empty(),
        "not quiet for 2 h yet"
    );
    let ten_min = Some(Duration::from_secs(10 * 60));
    assert!(matches!(
        m.handle(Event::SelfRelease { subject: a.clone(), since_last: ten_min }, 40 * MIN),
        Err(Refusal::StillSending { quiet, .. }) if quiet == Duration::from_secs(15 * 60)
    ));
    let released = m
        .handle(
            Event::SelfRelease {
                subject: a.clone(),
                since_last: twenty_min,
            },
            40 * MIN,
        )
        .unwrap();
    assert!(released.contains(&Action::Lift(a)));
}

#[test]
fn two_self_releases_within_the_window_use_them_up() {
    let mut m = machine();
    let a = addr("100.64.1.9");
    let ask = Event::SelfRelease {
        subject: a.clone(),
        since_last: None,
    };
    m.handle(quarantine(a.clone(), None), 0).unwrap();
    m.handle(ask.clone(), 30 * MIN).unwrap();
    // An operator clears the probation record by quarantining again after
    // probation ended would be a long time; instead, simulate with a second
    // address record that already used one release (as loaded from the store).
    let mut host = m.get(&a).unwrap().clone();
    host.state = State::Clean;
    m.restore(a.clone(), Some(host));
    m.handle(quarantine(a.clone(), None), 40 * MIN).unwrap();
    assert_eq!(m.self_releases_left(m.get(&a).unwrap(), 40 * MIN), 1);
    m.handle(ask.clone(), 80 * MIN).unwrap();
    let mut host = m.get(&a).unwrap().clone();
    host.state = State::Clean;
    m.restore(a.clone(), Some(host));
    m.handle(quarantine(a, None), 90 * MIN).unwrap();
    assert_eq!(m.handle(ask, 200 * MIN), Err(Refusal::NoneLeft));
}
