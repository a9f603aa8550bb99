//! Cordon's ruleset against the real kernel, with real traffic through the
//! lab's gateway: the port-25 policy, the walled garden for IPv4 and IPv6,
//! and the table reinstalled under running flows.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use common::lab;
use common::stand_in::{StandIn, portal_lands, portal_stand_ins, redirect_stand_in};
use cordon_lab::addresses::{
    GARDEN_V4, GARDEN_V6, RELAY_V4, RELAY_V6, RESOLVER_V4, RESOLVER_V6, WEB_V4, WEB_V6,
    mail_server_v4, mail_server_v6,
};
use cordon_lab::{Host, Lab, RecordType, TcpOutcome, url};
use cordon_rules::{Carried, Installed, Kernel, NftCommand};

const SHORT: Duration = Duration::from_secs(2);

fn kernel(lab: &Lab) -> Kernel {
    Kernel::new(lab.config(), NftCommand::in_netns(lab.gateway().netns()))
}

fn install(lab: &Lab, carried: &Carried) -> Kernel {
    let k = kernel(lab);
    k.install(lab.config(), carried).unwrap();
    k
}

fn connect(host: &Host, addr: impl Into<IpAddr>, port: u16) -> TcpOutcome {
    host.tcp_connect(addr, port, SHORT).unwrap()
}

#[test]
fn port_25_is_reset_submission_passes_and_allowed_senders_send() {
    let lab = lab("p25").subscribers(3).allowed_sender(2).up().unwrap();
    let (s0, s2) = (lab.subscriber(0), lab.subscriber(2));
    // Before Cordon's table, direct mail goes out: the table is what stops it.
    assert_eq!(connect(&s0, mail_server_v4(1), 25), TcpOutcome::Connected);

    install(&lab, &Carried::default());
    for (mx, relay) in [
        (IpAddr::from(mail_server_v4(1)), IpAddr::from(RELAY_V4)),
        (IpAddr::from(mail_server_v6(1)), IpAddr::from(RELAY_V6)),
    ] {
        assert_eq!(connect(&s0, mx, 25), TcpOutcome::Reset, "port 25 to {mx}");
        assert_eq!(connect(&s0, mx, 587), TcpOutcome::Connected, "587 to {mx}");
        assert_eq!(
            connect(&s2, mx, 25),
            TcpOutcome::Connected,
            "allowed sender to {mx}"
        );
        let mail = s0.swaks(relay, 587, &[]).unwrap();
        assert!(
            mail.delivered(),
            "submission through {relay}: {}",
            mail.transcript
        );
    }
}

fn walled_garden(family_v4: bool) {
    let lab = lab(if family_v4 { "wg4" } else { "wg6" })
        .subscribers(2)
        .up()
        .unwrap();
    let (free, caught) = (lab.subscriber(0), lab.subscriber(1));
    let pick = |v4: IpAddr, v6: IpAddr| if family_v4 { v4 } else { v6 };
    let web = pick(WEB_V4.into(), WEB_V6.into());
    let resolver = pick(RESOLVER_V4.into(), RESOLVER_V6.into());
    let garden = pick(GARDEN_V4.into(), GARDEN_V6.into());
    let mx = pick(mail_server_v4(3).into(), mail_server_v6(3).into());
    let rtype = if family_v4 {
        RecordType::A
    } else {
        RecordType::Aaaa
    };
    let own: IpAddr = pick(caught.ipv4().into(), caught.ipv6().into());

    let _stand_in = redirect_stand_in(&lab);
    let _portal = portal_stand_ins(&lab);
    let k = install(&lab, &Carried::default());
    assert!(
        caught
            .curl(&url(web, 80, "/"), &[])
            .unwrap()
            .from_real_site()
    );
    assert_eq!(portal_lands(&caught, family_v4), "portal");

    let addr = lab.config().subscriber_of(own).unwrap();
    // An attempt before the quarantine counts among every sender's only.
    assert_eq!(connect(&caught, mx, 25), TcpOutcome::Reset);
    assert!(k.smtp_held().unwrap().is_empty());
    k.change_quarantined(&[addr], &[]).unwrap();

    let page = caught.curl(&url(web, 80, "/any/page"), &[]).unwrap();
    assert!(
        page.header("X-Stand-In") == Some("redirect-port") && !page.from_real_site(),
        "http lands on the redirect port: {page:?}"
    );
    assert_eq!(
        portal_lands(&caught, family_v4),
        "captive-port",
        "the host's own connections to the portal"
    );
    assert_eq!(portal_lands(&free, family_v4), "portal");
    assert_eq!(
        connect(&caught, web, 443),
        TcpOutcome::Reset,
        "HTTPS elsewhere"
    );
    assert_eq!(
        connect(&caught, mx, 25),
        TcpOutcome::Reset,
        "SMTP elsewhere"
    );
    let held = k.smtp_held().unwrap();
    assert_eq!(
        held.iter().map(|s| (s.key, s.attempts)).collect::<Vec<_>>(),
        [(addr.net().network(), 1)],
        "the attempt made while quarantined is counted for the quiet check"
    );
    assert!(
        k.smtp_recent()
            .unwrap()
            .iter()
            .any(|s| s.key == addr.net().network() && s.attempts == 2)
    );
    let dns = caught
        .dns(resolver, "anything.example", rtype, SHORT)
        .unwrap();
    assert!(dns.answered(), "DNS to the resolver: {dns:?}");
    assert!(
        caught
            .curl(&url(garden, 80, "/"), &[])
            .unwrap()
            .from_real_site(),
        "garden"
    );
    assert_eq!(
        connect(&caught, mx, 587),
        TcpOutcome::TimedOut,
        "everything else dropped"
    );
    assert_eq!(
        connect(&caught, web, 8080),
        TcpOutcome::TimedOut,
        "everything else dropped"
    );

    // The neighbour is untouched.
    assert!(free.curl(&url(web, 80, "/"), &[]).unwrap().from_real_site());
    assert_eq!(connect(&free, web, 443), TcpOutcome::Connected);
    assert_eq!(connect(&free, mx, 587), TcpOutcome::Connected);

    k.change_quarantined(&[], &[addr]).unwrap();
    assert!(
        caught
            .curl(&url(web, 80, "/"), &[])
            .unwrap()
            .from_real_site(),
        "released"
    );
    assert_eq!(connect(&caught, web, 443), TcpOutcome::Connected);
    assert_eq!(portal_lands(&caught, family_v4), "portal", "released");
}

#[test]
fn a_quarantined_ipv4_host_meets_the_walled_garden() {
    walled_garden(true);
}

#[test]
fn a_quarantined_ipv6_prefix_meets_the_walled_garden() {
    walled_garden(false);
}

#[test]
fn a_quarantined_range_meets_the_walled_garden() {
    let lab = lab("range").subscribers(2).up().unwrap();
    let (free, caught) = (lab.subscriber(0), lab.subscriber(1));
    let _stand_in = redirect_stand_in(&lab);
    let _portal = portal_stand_ins(&lab);
    let k = install(&lab, &Carried::default());
    // Wider than one subscriber: these go in the interval sets.
    let v4 = lab.config().subscriber_addr("100.64.2.0/24").unwrap();
    let v6 = lab.config().subscriber_addr("2001:db8:100:2::/63").unwrap();
    assert!(v4.contains(&caught.ipv4().into()) && v6.contains(&caught.ipv6().into()));
    k.change_quarantined(&[v4, v6], &[]).unwrap();
    assert_eq!(k.quarantined().unwrap(), vec![v4.net(), v6.net()]);

    for web in [IpAddr::from(WEB_V4), IpAddr::from(WEB_V6)] {
        assert_eq!(connect(&caught, web, 443), TcpOutcome::Reset, "{web}");
        assert_eq!(connect(&free, web, 443), TcpOutcome::Connected, "{web}");
        let page = caught.curl(&url(web, 80, "/"), &[]).unwrap();
        assert_eq!(
            page.header("X-Stand-In"),
            Some("redirect-port"),
            "{web}: {page:?}"
        );
    }
    for v4 in [true, false] {
        assert_eq!(portal_lands(&caught, v4), "captive-port", "IPv4: {v4}");
        assert_eq!(portal_lands(&free, v4), "portal", "IPv4: {v4}");
    }

    k.change_quarantined(&[], &[v4, v6]).unwrap();
    assert!(k.quarantined().unwrap().is_empty());
    assert_eq!(connect(&caught, WEB_V4, 443), TcpOutcome::Connected);
}

/// Pings `to` from `host` quickly for a while; returns ping's summary.
fn ping(host: &Host, to: IpAddr) -> String {
    let to = to.to_string();
    let out = host
        .exec(
            "ping",
            &["-n", "-q", "-c", "600", "-i", "0.005", "-W", "1", &to],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn reinstalling_the_table_drops_no_packet_and_frees_nobody() {
    let lab = lab("swap").subscribers(2).up().unwrap();
    let caught = lab
        .config()
        .subscriber_of(lab.subscriber(1).ipv4().into())
        .unwrap();
    let carried = Carried {
        quarantined: vec![caught],
        ..Carried::default()
    };
    let k = install(&lab, &carried);
    let replaced = std::thread::scope(|scope| {
        let (s0, s0b, s1) = (lab.subscriber(0), lab.subscriber(0), lab.subscriber(1));
        let v4 = scope.spawn(move || ping(&s0, WEB_V4.into()));
        let v6 = scope.spawn(move || ping(&s0b, WEB_V6.into()));
        // The quarantined neighbour must not slip out while tables change.
        let held = scope.spawn(move || ping(&s1, WEB_V4.into()));
        let mut replaced = 0;
        while !(v4.is_finished() && v6.is_finished() && held.is_finished()) {
            assert_eq!(
                k.install(lab.config(), &carried).unwrap(),
                Installed::Updated
            );
            replaced += 1;
        }
        for summary in [v4.join().unwrap(), v6.join().unwrap()] {
            assert!(summary.contains(" 0% packet loss"), "{summary}");
        }
        let held = held.join().unwrap();
        assert!(
            held.contains(" 100% packet loss"),
            "quarantined host got out: {held}"
        );
        replaced
    });
    assert!(
        replaced >= 5,
        "the table was replaced only {replaced} times during the flows"
    );
    assert_eq!(
        k.quarantined().unwrap(),
        vec![caught.net()],
        "the quarantine survived"
    );
    assert_eq!(
        connect(&lab.subscriber(1), WEB_V4, 443),
        TcpOutcome::Reset,
        "and is still enforced"
    );
}

#[test]
fn the_printed_ruleset_of_the_example_config_passes_nft_check() {
    let lab = lab("rules").subscribers(1).up().unwrap();
    let exe = std::env::current_exe().unwrap();
    let cordon = exe.parent().unwrap().parent().unwrap().join("cordon");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../cordon.example.yaml");
    let mut rules = std::process::Command::new(cordon);
    rules.args(["rules", "--config", example]);
    let printed = cordon_testkit::command::checked(rules, SHORT * 15);
    let mut check = cordon_lab::netns::command(lab.gateway().netns(), "nft")
        .args(["-c", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(&printed.stdout)
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "nft -c refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&printed.stdout).contains("table inet cordon {"));
}

/// The attempts meter is a token bucket that refills while the test sends,
/// so the test chooses a window long enough that the refill during the whole
/// test stays below one attempt on any machine (threshold 20 per day: one
/// token every 72 minutes), and checks that it did. With the lab's default
/// (20 per 10 s, 2 tokens a second) a slow machine that took 0.5 s per
/// attempt was never flagged at attempt 21.
#[test]
fn the_kernel_flags_a_host_on_its_attempt_after_the_threshold() {
    let window = Duration::from_secs(86_400);
    let lab = lab("thr")
        .subscribers(1)
        .smtp_attempts(20, window)
        .up()
        .unwrap();
    let threshold = lab.config().detection.smtp_attempts.threshold;
    // The time one token takes to come back.
    let refill = window / threshold;
    install(&lab, &Carried::default());
    let s0 = lab.subscriber(0);
    let alerted = || {
        let elem = format!("{{ {} }}", s0.ipv4());
        let out = lab
            .gateway()
            .exec(
                "nft",
                &["get", "element", "inet", "cordon", "alerted_v4", &elem],
            )
            .unwrap();
        out.status.success()
    };
    // One mail server, so only the attempts meter counts.
    let mx = mail_server_v4(7);
    let started = std::time::Instant::now();
    for n in 1..=threshold {
        assert_eq!(connect(&s0, mx, 25), TcpOutcome::Reset);
        assert!(
            !alerted(),
            "flagged at attempt {n} of a threshold of {threshold}"
        );
    }
    assert_eq!(connect(&s0, mx, 25), TcpOutcome::Reset);
    let elapsed = started.elapsed();
    assert!(
        elapsed < refill,
        "the attempts took {elapsed:?}, longer than one token's refill ({refill:?}): \
         the bucket may have refilled, so this run proves nothing"
    );
    assert!(alerted(), "not flagged at attempt {}", threshold + 1);
}

/// The notice set: a noticed host's plain `http://` lands on the portal's
/// notice port (not the redirect port, which answers without asking
/// cordond because only quarantined hosts land there), and nothing else of it is touched (HTTPS, submission,
/// other ports, DNS, the garden; port 25 as for everyone); out of the set
/// (acknowledged) it reaches the real site again.
fn notice(family_v4: bool) {
    let lab = lab(if family_v4 { "nt4" } else { "nt6" })
        .subscribers(2)
        .up()
        .unwrap();
    let (free, noticed) = (lab.subscriber(0), lab.subscriber(1));
    let pick = |v4: IpAddr, v6: IpAddr| if family_v4 { v4 } else { v6 };
    let web = pick(WEB_V4.into(), WEB_V6.into());
    let resolver = pick(RESOLVER_V4.into(), RESOLVER_V6.into());
    let garden = pick(GARDEN_V4.into(), GARDEN_V6.into());
    let mx = pick(mail_server_v4(3).into(), mail_server_v6(3).into());
    let rtype = if family_v4 {
        RecordType::A
    } else {
        RecordType::Aaaa
    };
    let own: IpAddr = pick(noticed.ipv4().into(), noticed.ipv6().into());
    let _redirect = redirect_stand_in(&lab);
    let _notice = StandIn::start(&lab, lab.config().portal.notice_port, "notice-port");
    let k = install(&lab, &Carried::default());
    let addr = lab.config().subscriber_of(own).unwrap();
    k.change_noticed(&[addr], &[]).unwrap();
    let page = noticed.curl(&url(web, 80, "/any/page"), &[]).unwrap();
    assert!(
        page.header("X-Stand-In") == Some("notice-port") && !page.from_real_site(),
        "http lands on the notice port: {page:?}"
    );
    assert_eq!(connect(&noticed, web, 443), TcpOutcome::Connected, "HTTPS");
    assert_eq!(
        connect(&noticed, mx, 587),
        TcpOutcome::Connected,
        "submission"
    );
    assert_eq!(
        connect(&noticed, web, 8080),
        connect(&free, web, 8080),
        "other ports as for a clean neighbour"
    );
    assert_eq!(
        connect(&noticed, mx, 25),
        TcpOutcome::Reset,
        "port 25 as for all"
    );
    let dns = noticed
        .dns(resolver, "anything.example", rtype, SHORT)
        .unwrap();
    assert!(dns.answered(), "DNS: {dns:?}");
    let tools = noticed.curl(&url(garden, 80, "/"), &[]).unwrap();
    assert!(tools.from_real_site(), "the garden (cleanup tools) as is");
    assert!(free.curl(&url(web, 80, "/"), &[]).unwrap().from_real_site());
    k.change_noticed(&[], &[addr]).unwrap();
    let page = noticed.curl(&url(web, 80, "/"), &[]).unwrap();
    assert!(page.from_real_site(), "acknowledged: the real site");
}

#[test]
fn a_noticed_ipv4_hosts_http_lands_on_the_portal_and_nothing_else_is_touched() {
    notice(true);
}

#[test]
fn a_noticed_ipv6_prefixs_http_lands_on_the_portal_and_nothing_else_is_touched() {
    notice(false);
}
