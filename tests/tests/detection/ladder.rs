//! The ladder moved by a real flood: with the SMTP signals' action
//! `notice` and `detection.ladder: {crossings: 2}`, a zombie's swaks flood
//! first notices it (its http:// lands on the notice page, nothing else of
//! it changes), and as it keeps sending, its crossings are counted and the
//! second one after the notice walls it in (its http:// now lands on the
//! cleanup page). Both records name the signal and the attempts the
//! kernel counted. A mail user beside it is untouched throughout. And the
//! other rung, `still_sending`: at the notice's review a zombie still
//! sending is walled in, one that stopped is clean again.

use std::net::IpAddr;
use std::time::Duration;

use cordon_config::{Action, Ladder};
use cordon_lab::addresses::{RELAY_V4, WEB_V4, mail_server_v4};
use cordon_lab::{Host, TcpOutcome, poll_until};
use cordon_proto::time::{Clock, SystemClock};

use super::common::lab;
use super::common::notice::{expect_notice, notice_form};
use super::{SHORT, quarantined_in_kernel, with_log};

/// Crossings after the notice that quarantine.
const CROSSINGS: u32 = 2;
/// The kernel reports a host at most every 10 s: a crossing after the
/// notice arrives within this of the zombie going on sending.
const NEXT_CROSSING: Duration = Duration::from_secs(20);

/// What a zombie's spam run looks like from the subscriber's machine:
/// `n` real SMTP clients (swaks) at once, each straight to another
/// network's mail server on port 25, each refused by the port-25 policy.
fn swaks_flood(zombie: &Host, n: u16, first: u16) {
    let servers: Vec<IpAddr> = (0..n)
        .map(|i| mail_server_v4(1 + (first + i) % 64).into())
        .collect();
    std::thread::scope(|s| {
        let runs: Vec<_> = servers
            .iter()
            .map(|&mx| s.spawn(move || zombie.swaks(mx, 25, &[]).unwrap()))
            .collect();
        for run in runs {
            let sent = run.join().unwrap();
            assert!(
                !sent.delivered(),
                "port 25 let through: {}",
                sent.transcript
            );
        }
    });
}

/// The ladder's crossings left for `addr` while it is noticed.
fn crossings_left(lab: &cordon_lab::Lab, addr: &str) -> Option<u64> {
    let h = lab.show(addr).unwrap();
    (h["state"] == "noticed")
        .then(|| h["next_rung"]["crossings_left"].as_u64())
        .flatten()
}

/// Waits until the record of `addr` (in `state`) names a signal's
/// threshold and the attempts counted, at least that many; returns them.
fn evidence_filled(lab: &cordon_lab::Lab, addr: &str, state: &str) -> u64 {
    let h = with_log(
        lab,
        poll_until(SHORT, "the evidence filled in", || {
            let h = lab.show(addr).unwrap();
            (h["state"] == state && h["evidence"]["smtp_attempts"].is_u64()).then_some(h)
        }),
    );
    let evidence = &h["evidence"];
    let threshold = ["smtp_attempts_threshold", "smtp_destinations_threshold"]
        .iter()
        .find_map(|k| evidence[*k].as_u64())
        .unwrap_or_else(|| panic!("no signal's threshold in the evidence: {h}"));
    let attempts = evidence["smtp_attempts"].as_u64().unwrap();
    assert!(attempts >= threshold, "{h}");
    attempts
}

#[test]
fn a_flood_notices_first_and_the_ladder_quarantines_a_zombie_that_keeps_sending() {
    let lab = lab("ladder")
        .subscribers(2)
        .smtp_attempts_action(Action::Notice)
        .configure(|c| {
            c.detection.smtp_destinations.action = Action::Notice;
            c.detection.ladder = Some(Ladder {
                still_sending: true,
                crossings: Some(CROSSINGS),
            });
        })
        .daemons(true)
        .up()
        .unwrap();
    let (zombie, mailer) = (lab.subscriber(0), lab.subscriber(1));
    let addr = zombie.ipv4().to_string();
    let asked = format!("http://{WEB_V4}/mail?inbox=1");

    // The flood crosses the signals: noticed, not quarantined.
    swaks_flood(&zombie, 25, 0);
    let noticed = with_log(
        &lab,
        poll_until(SHORT * 2, "the flood to notice the zombie", || {
            let h = lab.show(&addr).unwrap();
            (h["state"] != "clean").then_some(h)
        }),
    );
    assert_eq!(noticed["state"], "noticed", "{noticed}");
    assert_eq!(noticed["reason"], "detection", "{noticed}");
    assert_eq!(
        noticed["next_rung"]["crossings_left"],
        u64::from(CROSSINGS),
        "{noticed}"
    );
    assert!(!quarantined_in_kernel(&lab, &addr));
    // The record says what crossed: the signal's threshold, and the
    // attempts the kernel counted (filled in just after).
    let counted = evidence_filled(&lab, &addr, "noticed");
    // Its http:// lands on the notice page; its mail submission works and
    // its port 25 is refused, exactly as for any subscriber.
    let form = expect_notice(&zombie, &asked);
    assert_eq!(form.url, asked);
    let submitted = zombie.swaks(RELAY_V4, 587, &[]).unwrap();
    assert!(submitted.delivered(), "{}", submitted.transcript);
    assert_eq!(
        zombie.tcp_connect(mail_server_v4(9), 25, SHORT).unwrap(),
        TcpOutcome::Reset
    );

    // It keeps sending (a few clients at a time, its own pace): each
    // crossing is counted, and the last one quarantines it.
    let mut round = 0;
    let mut keep_sending = || {
        round += 1;
        swaks_flood(&zombie, 6, 25 + 6 * (round % 6));
    };
    with_log(
        &lab,
        poll_until(NEXT_CROSSING, "a crossing counted after the notice", || {
            keep_sending();
            (crossings_left(&lab, &addr) == Some(u64::from(CROSSINGS) - 1)).then_some(())
        }),
    );
    assert!(!quarantined_in_kernel(&lab, &addr), "one crossing early");
    assert!(notice_form(&zombie.curl(&asked, &[]).unwrap()).is_some());
    let walled = with_log(
        &lab,
        poll_until(NEXT_CROSSING, "the ladder to quarantine the zombie", || {
            keep_sending();
            let h = lab.show(&addr).unwrap();
            if h["state"] == "noticed" {
                // Never a crossing counted that did not quarantine.
                assert_eq!(h["next_rung"]["crossings_left"], 1, "{h}");
                return None;
            }
            Some(h)
        }),
    );
    assert_eq!(walled["state"], "quarantined", "{walled}");
    let note = walled["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&format!("crossing {CROSSINGS} since the notice")) && note.contains("ladder"),
        "{walled}"
    );
    assert!(quarantined_in_kernel(&lab, &addr));
    let walled_count = evidence_filled(&lab, &addr, "quarantined");
    assert!(
        walled_count > counted,
        "the quarantine's count ({walled_count}) is the kernel's by then, past the notice's ({counted})"
    );

    // Now its http:// lands on the cleanup page, not the notice.
    let page = zombie.curl(&asked, &[]).unwrap();
    assert!(notice_form(&page).is_none(), "still the notice: {page:?}");
    let portal = page.header("location").unwrap_or_default().to_owned();
    assert!(
        portal.starts_with(lab.gateway().portal_url()),
        "not sent to the portal: {page:?}"
    );
    let cleanup = zombie.curl(&portal, &[]).unwrap();
    assert!(
        cleanup.body.contains("Your internet is paused"),
        "{cleanup:?}"
    );

    // The mail user beside it: untouched.
    let sent = mailer.swaks(RELAY_V4, 587, &[]).unwrap();
    assert!(sent.delivered(), "{}", sent.transcript);
    let m = lab.show(&mailer.ipv4().to_string()).unwrap();
    assert_eq!(m["state"], "clean", "{m}");
    assert_eq!(m["smtp_attempts"], 0, "{m}");
    assert!(mailer.curl(&asked, &[]).unwrap().from_real_site());
}

/// The ladder's other rung: with `still_sending` (and no `crossings`), the
/// notice's review (a minute: the shortest the config takes) quarantines a
/// zombie that still sends, and ends the notice of one that stopped.
#[test]
fn at_the_review_a_zombie_still_sending_is_walled_in_and_one_that_stopped_is_clean() {
    let lab = lab("review")
        .subscribers(2)
        .smtp_attempts_action(Action::Notice)
        .configure(|c| {
            c.detection.smtp_destinations.action = Action::Notice;
            c.detection.ladder = Some(Ladder {
                still_sending: true,
                crossings: None,
            });
            c.notice.interval = Duration::from_secs(60);
            c.notice.review = Duration::from_secs(60);
        })
        .daemons(true)
        .up()
        .unwrap();
    let (zombie, stopped) = (lab.subscriber(0), lab.subscriber(1));
    let (z, s) = (zombie.ipv4().to_string(), stopped.ipv4().to_string());
    swaks_flood(&zombie, 25, 0);
    swaks_flood(&stopped, 25, 25);
    let noticed = |addr: &str| {
        with_log(
            &lab,
            poll_until(SHORT * 2, "the flood to notice it", || {
                let h = lab.show(addr).unwrap();
                (h["state"] == "noticed").then_some(h)
            }),
        )
    };
    let (hz, hs) = (noticed(&z), noticed(&s));
    let rung = &hz["next_rung"];
    assert_eq!(rung["if_still_sending"], "quarantined", "{hz}");
    assert!(rung["crossings_left"].is_null(), "{hz}");
    let review_at = rung["review_at"].as_i64().unwrap();

    // The zombie goes on sending at its own pace (below the thresholds:
    // no crossing, only attempts) until something happens.
    let mx = mail_server_v4(5);
    let walled = loop {
        let h = lab.show(&z).unwrap();
        if h["state"] != "noticed" {
            break h;
        }
        assert!(
            SystemClock.now() < review_at + 15,
            "not reviewed 15 s after its review time: {h}"
        );
        assert!(!zombie.swaks(mx, 25, &[]).unwrap().delivered());
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(
        SystemClock.now() >= review_at,
        "moved before its review: {walled}"
    );
    assert_eq!(walled["state"], "quarantined", "{walled}");
    let note = walled["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("still sending at the notice's review"),
        "{walled}"
    );
    assert!(quarantined_in_kernel(&lab, &z));

    // The one that stopped: its notice ended at its review.
    let review_s = hs["next_rung"]["review_at"].as_i64().unwrap();
    let clean = with_log(
        &lab,
        poll_until(SHORT * 5, "the quiet one's notice to end", || {
            let h = lab.show(&s).unwrap();
            (h["state"] != "noticed").then_some(h)
        }),
    );
    assert_eq!(clean["state"], "clean", "{clean}");
    assert!(SystemClock.now() >= review_s);
    assert!(!quarantined_in_kernel(&lab, &s));
    let history = lab.cordon_ok(&["history", &s]).unwrap();
    assert!(history.contains("at the notice's review"), "{history}");
    let page = stopped.curl(&format!("http://{WEB_V4}/"), &[]).unwrap();
    assert!(page.from_real_site(), "{page:?}");
}
