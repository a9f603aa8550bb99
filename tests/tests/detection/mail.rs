//! Mail from subscribers as the kernel counts it: a zombie's flood is
//! quarantined within a second and a mail user never is; a zombie that keeps
//! trying stays in, one that stops is released and relapses; observe mode
//! quarantines nobody; relay-limit hits are counted.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cordon_config::Action;
use cordon_lab::addresses::{RELAY_V4, mail_server_v4};
use cordon_lab::{TcpOutcome, poll_until, wait_for};
use cordon_proto::time::{Clock, SystemClock};

use super::common::lab;
use super::{
    SHORT, cordond_log, metric, metrics, quarantined_in_kernel, until_quarantined, with_log,
};

#[test]
fn a_zombie_is_quarantined_within_a_second_and_a_mail_user_never_is() {
    let lab = lab("detect").subscribers(3).daemons(true).up().unwrap();
    let (zombie, mailer, zombie6) = (lab.subscriber(0), lab.subscriber(1), lab.subscriber(2));

    // A person's mail program: submission through the ISP's relay.
    for i in 0..3 {
        let subject = format!("hello {i}");
        let sent = mailer
            .swaks(RELAY_V4, 587, &["--header", &format!("Subject: {subject}")])
            .unwrap();
        assert!(sent.delivered(), "{}", sent.transcript);
    }

    // The zombie: 40 direct-to-MX connections at once, to 40 servers.
    let addr = zombie.ipv4().to_string();
    let crossing = Instant::now();
    let outcomes = zombie.flood_smtp(40, zombie.ipv4().into()).unwrap();
    assert!(
        outcomes.iter().all(|o| *o == TcpOutcome::Reset),
        "{outcomes:?}"
    );
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(1).saturating_sub(crossing.elapsed()),
            "the zombie quarantined within 1 s of crossing the threshold",
            || quarantined_in_kernel(&lab, &addr),
        ),
    );
    let took = crossing.elapsed();
    eprintln!("crossing to quarantine (seen by the test): {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // Enforced first; the attempts the kernel counted are filled in just
    // after.
    let host = with_log(
        &lab,
        poll_until(SHORT, "the zombie's evidence filled in", || {
            let h = lab.show(&addr).unwrap();
            h["evidence"]["smtp_attempts"].is_u64().then_some(h)
        }),
    );
    assert_eq!(host["state"], "quarantined");
    assert_eq!(host["reason"], "detection");
    assert_eq!(host["actor"], "detection");
    // Forty attempts to forty servers cross both signals (20 attempts, 10
    // destinations); whichever the kernel logged first decided, and the
    // record names it with its threshold and the attempts counted by then.
    let evidence = &host["evidence"];
    let threshold = ["smtp_attempts_threshold", "smtp_destinations_threshold"]
        .iter()
        .find_map(|k| evidence[*k].as_u64())
        .unwrap_or_else(|| panic!("no signal's threshold in the evidence: {host}"));
    assert!(
        evidence["smtp_attempts"].as_u64().unwrap() >= threshold,
        "{host}"
    );

    // The same for an IPv6 zombie: its whole /64.
    let crossing = Instant::now();
    zombie6.flood_smtp(40, zombie6.ipv6().into()).unwrap();
    let prefix = lab.show(&zombie6.ipv6().to_string()).unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prefix.ends_with("/64"), "{prefix}");
    until_quarantined(
        &lab,
        &prefix,
        Duration::from_secs(1).saturating_sub(crossing.elapsed()),
    );

    // The mail user is untouched, and no port-25 attempt was ever counted.
    let m = lab.show(&mailer.ipv4().to_string()).unwrap();
    assert_eq!(m["state"], "clean", "{m}");
    assert_eq!(m["smtp_attempts"], 0, "{m}");
    assert_eq!(
        lab.internet()
            .stats()
            .unwrap()
            .smtp_messages_from(587, mailer.ipv4().into()),
        3
    );

    // Measured and exported by cordond too, once each crossing's answer
    // is in (after the conntrack flush, which waits for a pause).
    with_log(
        &lab,
        poll_until(SHORT, "both crossings' latency observed", || {
            (metric(&lab, "cordon_detection_latency_seconds_count") >= 2.0).then_some(())
        }),
    );
    let log = cordond_log(&lab);
    assert!(log.contains("quarantined by detection"), "{log}");
    assert!(log.contains("latency_ms"), "{log}");
}

#[test]
fn a_zombie_that_keeps_trying_stays_in_and_one_that_stops_is_released_then_relapses() {
    let lab = lab("relapse")
        .subscribers(1)
        .min_hold(Duration::from_secs(2))
        .quiet_period(Duration::from_secs(4))
        .daemons(true)
        .up()
        .unwrap();
    let zombie = lab.subscriber(0);
    let addr = zombie.ipv4().to_string();
    zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
    until_quarantined(&lab, &addr, SHORT);
    let first = lab.show(&addr).unwrap();
    let first_hold = first["hold_until"].as_i64().unwrap() - first["since"].as_i64().unwrap();
    assert_eq!(first["self_releases_left"], 2, "{first}");

    // It keeps trying, well past the hold: it stays in. (The pauses are
    // the zombie's own pace, not synchronisation.)
    let mx: IpAddr = mail_server_v4(7).into();
    let past_hold = first["hold_until"].as_i64().unwrap() + 2;
    while SystemClock.now() <= past_hold {
        assert_eq!(
            zombie.tcp_connect(mx, 25, SHORT).unwrap(),
            TcpOutcome::Reset
        );
        assert_eq!(lab.state(&addr).unwrap(), "quarantined");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(lab.state(&addr).unwrap(), "quarantined");

    // It stops: released once quiet for the quiet period.
    let stopped = Instant::now();
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(10),
            "release after the quiet period",
            || lab.state(&addr).unwrap() == "probation",
        ),
    );
    assert!(
        stopped.elapsed() >= Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert!(!quarantined_in_kernel(&lab, &addr));

    // It relapses: quarantined again, for longer, with no self-release.
    // (The kernel repeats an alert for a host at most every 10 s, so the
    // zombie floods until it is caught, as a real one would.)
    let again = with_log(
        &lab,
        poll_until(Duration::from_secs(15), "the relapse to be caught", || {
            zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
            let h = lab.show(&addr).unwrap();
            (h["state"] == "quarantined").then_some(h)
        }),
    );
    assert_eq!(again["relapses"], 1, "{again}");
    assert_eq!(again["self_releases_left"], 0, "{again}");
    let hold = again["hold_until"].as_i64().unwrap() - again["since"].as_i64().unwrap();
    assert!(
        hold > first_hold,
        "relapse hold {hold} s, first {first_hold} s"
    );
    let history = lab.cordon_ok(&["history", &addr]).unwrap();
    assert!(history.contains("smtp_"), "{history}");
}

#[test]
fn observe_mode_logs_and_counts_but_quarantines_nobody() {
    let lab = lab("observe")
        .subscribers(1)
        .smtp_attempts_action(Action::Observe)
        .configure(|c| c.detection.smtp_destinations.action = Action::Observe)
        .daemons(true)
        .up()
        .unwrap();
    let zombie = lab.subscriber(0);
    let addr = zombie.ipv4().to_string();
    zombie.flood_smtp(40, zombie.ipv4().into()).unwrap();
    let host = with_log(
        &lab,
        poll_until(SHORT, "the zombie to be a suspect", || {
            let h = lab.show(&addr).unwrap();
            (!h["suspect"].is_null()).then_some(h)
        }),
    );
    // The decision is made (it is a suspect): nobody was quarantined.
    assert_eq!(host["state"], "clean", "{host}");
    assert_eq!(host["suspect"]["action"], "observe", "{host}");
    assert!(!quarantined_in_kernel(&lab, &addr));
    let list = lab.cordon_ok(&["list"]).unwrap();
    assert!(list.contains(&addr) && list.contains("suspect"), "{list}");
    let m = metrics(&lab);
    assert!(
        m.lines()
            .any(|l| l.starts_with("cordon_detections_total") && l.contains("action=\"observe\"")),
        "{m}"
    );
    assert!(cordond_log(&lab).contains("suspect"));
    // Its attempts are still counted.
    assert!(host["smtp_attempts"].as_u64().unwrap() >= 20, "{host}");
}

#[test]
fn relay_limit_hits_are_counted() {
    let lab = lab("relayhits")
        .subscribers(1)
        .relay_rate(1, 1)
        .daemons(true)
        .up()
        .unwrap();
    let s = lab.subscriber(0);
    let targets: Vec<(IpAddr, u16)> = (0..6).map(|_| (RELAY_V4.into(), 587)).collect();
    let outcomes = s.tcp_connect_all(&targets, SHORT).unwrap();
    let refused = outcomes.iter().filter(|o| **o == TcpOutcome::Reset).count();
    assert!(refused >= 1, "{outcomes:?}");
    // cordond reads the kernel's counters every 10 s.
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(15),
            "relay-limit hits in the metrics",
            || metric(&lab, "cordon_relay_limit_hits_total") >= refused as f64,
        ),
    );
    // The sender is not a zombie: relay use is never a detection signal.
    assert_eq!(lab.state(&s.ipv4().to_string()).unwrap(), "clean");
}
