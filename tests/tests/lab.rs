//! The lab itself: it comes up with the promised topology and services, goes
//! away completely (also after a panic), and labs run side by side.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use common::{CliLab, LAB_EXE, assert_gone, lab, lab_cli_ok, namespaces_of};
use cordon_lab::addresses::{
    GARDEN_V4, RELAY_V4, RESOLVER_V4, RESOLVER_V6, WEB_V4, WEB_V6, mail_server_v6,
};
use cordon_lab::{DnsOutcome, LabError, RecordType, TcpOutcome, poll_until, unique_name, url};

const SHORT: Duration = Duration::from_secs(2);

#[test]
fn a_lab_comes_up_with_its_namespaces_and_config_and_goes_down() {
    let lab = lab("updown").subscribers(2).up().unwrap();
    let name = lab.name().to_owned();
    let ns = format!("cl-{name}");
    assert_eq!(
        namespaces_of(&name),
        [
            format!("{ns}-gw"),
            format!("{ns}-net"),
            format!("{ns}-s0"),
            format!("{ns}-s1")
        ]
    );
    let config = cordon_config::load_file(lab.gateway().config_path()).unwrap();
    assert_eq!(&config, lab.config());
    assert_eq!(config.control.socket, lab.gateway().control_socket());
    assert!(lab.run_dir().join("plan.json").is_file());
    assert!(lab.internet().stats().is_ok(), "the services answer");

    let removed = lab.down().unwrap();
    assert_eq!(removed.namespaces.len(), 4);
    assert_gone(&name);
}

#[test]
fn the_gateway_has_the_promised_interfaces_and_the_root_namespace_none() {
    let lab = lab("links").subscribers(2).up().unwrap();
    let out = lab.gateway().exec("ip", &["-br", "addr"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "sub0@",
        "sub1@",
        "uplink@",
        "100.64.1.1/24",
        "100.64.2.1/24",
        "2001:db8:100:1::1/64",
        "192.0.2.1/24",
        "100.64.0.1/32",
        "2001:db8:100::1/128",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from gateway:\n{text}"
        );
    }
    assert_eq!(
        cordon_lab::netns::sysctl(lab.gateway().netns(), "net.ipv4.ip_forward").unwrap(),
        "1"
    );
    let sub = lab
        .subscriber(1)
        .exec("ip", &["-br", "addr", "show", "eth0"])
        .unwrap();
    let sub = String::from_utf8_lossy(&sub.stdout);
    assert!(
        sub.contains("100.64.2.2/24") && sub.contains("2001:db8:100:2::2/64"),
        "{sub}"
    );
    let root = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let root = String::from_utf8_lossy(&root.stdout);
    assert!(
        !root.contains(" uplink@") && !root.contains(" sub0@"),
        "a lab link leaked into the root namespace:\n{root}"
    );
}

#[test]
fn every_subscriber_reaches_the_real_site_over_ipv4_and_ipv6() {
    let lab = lab("web").up().unwrap();
    let internet = lab.internet();
    internet.reset_stats().unwrap();
    for s in lab.subscribers() {
        for web in [IpAddr::V4(WEB_V4), IpAddr::V6(WEB_V6)] {
            for port in [80, 443] {
                let reply = s.curl(&url(web, port, "/"), &[]).unwrap();
                assert!(
                    reply.from_real_site(),
                    "{} to {web}:{port}: {reply:?}",
                    s.netns()
                );
                assert_eq!(reply.status, Some(200));
            }
        }
    }
    let stats = internet.stats().unwrap();
    assert_eq!(stats.http_requests(), 12);
    for s in lab.subscribers() {
        assert_eq!(stats.http_requests_from(s.ipv4().into()), 2);
        assert_eq!(stats.http_requests_from(s.ipv6().into()), 2);
    }
}

#[test]
fn swaks_delivers_to_the_relay_and_mail_servers_and_is_counted() {
    let lab = lab("mail").subscribers(2).up().unwrap();
    let internet = lab.internet();
    internet.reset_stats().unwrap();
    let s0 = lab.subscriber(0);

    let sent = s0.swaks(RELAY_V4, 587, &[]).unwrap();
    assert!(sent.delivered(), "{}", sent.transcript);
    let sent = lab.subscriber(1).swaks(mail_server_v6(7), 25, &[]).unwrap();
    assert!(sent.delivered(), "{}", sent.transcript);

    let stats = internet.stats().unwrap();
    assert_eq!(stats.smtp_messages(587), 1);
    assert_eq!(stats.smtp_messages_from(587, s0.ipv4().into()), 1);
    assert_eq!(
        stats.smtp[&587].by_destination[&IpAddr::V4(RELAY_V4)].messages,
        1
    );
    assert_eq!(stats.smtp_messages(25), 1);
    assert_eq!(
        stats.smtp[&25].by_destination[&IpAddr::V6(mail_server_v6(7))].connections,
        1
    );
}

#[test]
fn a_flood_reaches_many_mail_servers_at_once() {
    let lab = lab("flood").subscribers(1).up().unwrap();
    let s = lab.subscriber(0);
    lab.internet().reset_stats().unwrap();
    let v4 = s.flood_smtp(70, s.ipv4().into()).unwrap();
    assert!(v4.iter().all(|o| *o == TcpOutcome::Connected), "{v4:?}");
    let v6 = s.flood_smtp(5, s.ipv6().into()).unwrap();
    assert!(v6.iter().all(|o| *o == TcpOutcome::Connected), "{v6:?}");
    let stats = poll_until(SHORT, "75 connections counted", || {
        let st = lab.internet().stats().unwrap();
        (st.smtp_connections(25) == 75).then_some(st)
    })
    .unwrap();
    assert_eq!(stats.smtp[&25].by_destination.len(), 64 + 5);
    assert_eq!(stats.smtp_connections_from(25, s.ipv4().into()), 70);
    assert_eq!(stats.smtp_messages(25), 0);
}

#[test]
fn the_resolver_answers_a_and_aaaa_and_subscribers_use_it() {
    let lab = lab("dns").subscribers(1).up().unwrap();
    let s = lab.subscriber(0);
    let a = s
        .dns(RESOLVER_V4, "www.example.com", RecordType::A, SHORT)
        .unwrap();
    assert_eq!(a.addresses(), [IpAddr::V4(WEB_V4)]);
    let aaaa = s
        .dns(RESOLVER_V6, "www.example.com", RecordType::Aaaa, SHORT)
        .unwrap();
    assert_eq!(aaaa.addresses(), [IpAddr::V6(WEB_V6)]);
    let nx = s
        .dns(RESOLVER_V4, "nothing.invalid", RecordType::A, SHORT)
        .unwrap();
    assert_eq!(
        nx,
        DnsOutcome::Answer {
            nxdomain: true,
            addresses: vec![]
        }
    );
    // Programs in the namespace resolve through the lab's resolver too.
    let reply = s.curl("http://www.example.com/", &[]).unwrap();
    assert!(reply.from_real_site(), "{reply:?}");
    assert!(lab.internet().stats().unwrap().dns_queries() >= 4);
}

#[test]
fn tcp_probes_tell_connected_from_reset_from_dropped() {
    let lab = lab("probe").subscribers(1).up().unwrap();
    let s = lab.subscriber(0);
    // A silent drop, made inside the lab's own internet namespace.
    let nft = lab
        .internet()
        .exec(
            "nft",
            &["add table inet lab; add chain inet lab input { type filter hook input priority 0; }; add rule inet lab input tcp dport 9 drop"],
        )
        .unwrap();
    assert!(
        nft.status.success(),
        "{}",
        String::from_utf8_lossy(&nft.stderr)
    );

    assert_eq!(
        s.tcp_connect(GARDEN_V4, 25, SHORT).unwrap(),
        TcpOutcome::Connected
    );
    assert_eq!(s.tcp_connect(WEB_V4, 81, SHORT).unwrap(), TcpOutcome::Reset);
    assert_eq!(s.tcp_connect(WEB_V6, 81, SHORT).unwrap(), TcpOutcome::Reset);
    assert_eq!(
        s.tcp_connect(WEB_V4, 9, Duration::from_millis(300))
            .unwrap(),
        TcpOutcome::TimedOut
    );
    let outcomes = s
        .tcp_connect_all(&[(WEB_V4.into(), 80), (WEB_V4.into(), 81)], SHORT)
        .unwrap();
    assert_eq!(outcomes, [TcpOutcome::Connected, TcpOutcome::Reset]);

    // The same from the command line, as shell scripts use it.
    for (port, want) in [("80", "connected"), ("81", "reset"), ("9", "timeout")] {
        let out = s
            .exec(
                LAB_EXE,
                &["probe", "tcp", "192.0.2.80", port, "--timeout-ms", "300"],
            )
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want,
            "port {port}"
        );
    }
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    let name = unique_name("panic");
    let inner = name.clone();
    let result = std::panic::catch_unwind(move || {
        let lab = cordon_lab::Lab::builder(&inner)
            .lab_exe(LAB_EXE)
            .up()
            .unwrap();
        assert_eq!(namespaces_of(lab.name()).len(), 5);
        panic!("the test failed with the lab up");
    });
    assert!(result.is_err());
    assert_gone(&name);
}

#[test]
fn a_lab_that_fails_half_way_is_removed() {
    let name = unique_name("half");
    let err = cordon_lab::Lab::builder(&name)
        .lab_exe(LAB_EXE)
        .cordond("/nonexistent/cordond")
        .up()
        .unwrap_err();
    assert!(matches!(err, LabError::ExeNotFound { .. }), "{err}");
    assert_gone(&name);
}

#[test]
fn up_refuses_a_lab_that_exists_and_leaves_it_alone() {
    let lab = lab("twice").subscribers(1).up().unwrap();
    let err = cordon_lab::Lab::builder(lab.name())
        .lab_exe(LAB_EXE)
        .up()
        .unwrap_err();
    assert!(matches!(err, LabError::AlreadyExists { .. }), "{err}");

    let out = Command::new(LAB_EXE)
        .args(["up", "--name", lab.name()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    assert_eq!(namespaces_of(lab.name()).len(), 3);
    assert!(lab.internet().stats().is_ok(), "the first lab still runs");
}

#[test]
fn two_labs_run_side_by_side_without_seeing_each_other() {
    let a = lab("pair").subscribers(1).up().unwrap();
    let b = lab("pair").subscribers(1).up().unwrap();
    a.internet().reset_stats().unwrap();
    b.internet().reset_stats().unwrap();
    let reply = a.subscriber(0).curl(&url(WEB_V4, 80, "/"), &[]).unwrap();
    assert!(reply.from_real_site());
    assert_eq!(a.internet().stats().unwrap().http_requests(), 1);
    assert_eq!(b.internet().stats().unwrap().http_requests(), 0);
    let (na, nb) = (a.name().to_owned(), b.name().to_owned());
    let listed = cordon_lab::existing_labs().unwrap();
    assert!(listed.contains(&na) && listed.contains(&nb), "{listed:?}");
    drop(a);
    assert_gone(&na);
    // b is untouched by a's teardown.
    let reply = b.subscriber(0).curl(&url(WEB_V6, 443, "/"), &[]).unwrap();
    assert!(reply.from_real_site());
    drop(b);
    assert_gone(&nb);
}

#[test]
fn the_cli_prints_the_plan_as_json_and_removes_the_lab() {
    let name = unique_name("cli");
    let _guard = CliLab(name.clone());
    let out = lab_cli_ok(&["up", "--name", &name, "--subscribers", "2", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for pointer in [
        "/gateway/netns",
        "/gateway/config",
        "/gateway/control_socket",
        "/gateway/portal",
        "/gateway/quiet_period_s",
        "/gateway/min_hold_s",
        "/gateway/report_score",
        "/subscribers/0/netns",
        "/subscribers/0/ipv4",
        "/subscribers/1/ipv6",
        "/internet/netns",
        "/internet/web",
        "/internet/smtp",
    ] {
        assert!(
            plan.pointer(pointer).is_some(),
            "{pointer} missing from {plan}"
        );
    }
    assert_eq!(plan["gateway"]["netns"], format!("cl-{name}-gw"));
    assert_eq!(plan["subscribers"][1]["ipv4"], "100.64.2.2");
    assert_eq!(plan["subscribers"][1]["ipv6"], "2001:db8:100:2::2");
    assert_eq!(plan["gateway"]["portal"], "http://100.64.0.1:8080/");
    assert_eq!(plan["internet"]["smtp"][0], "192.0.2.25");
    assert_eq!(plan["gateway"]["quiet_period_s"], 4);
    assert!(plan["store"].is_null(), "one gateway, its own SQLite file");
    // The services outlive `up` until `down`.
    let stats = poll_until(SHORT, "the CLI lab's services", || {
        cordon_lab::internet::read_stats(
            &cordon_lab::LabName::new(&name)
                .unwrap()
                .run_dir()
                .join("internet.sock"),
            "stats",
        )
        .ok()
    });
    assert!(stats.is_ok());

    lab_cli_ok(&["down", "--name", &name]);
    assert_gone(&name);
}

#[test]
fn builder_options_reach_the_config_and_the_plan() {
    let lab = lab("opts")
        .subscribers(3)
        .allowed_sender(2)
        .smtp_attempts(5, Duration::from_secs(30))
        .quiet_period(Duration::from_secs(6))
        .min_hold(Duration::from_secs(1))
        .report_score(2)
        .configure(|c| c.quarantine.self_release.count = 1)
        .up()
        .unwrap();
    let c = lab.config();
    assert_eq!(c.detection.smtp_attempts.threshold, 5);
    assert_eq!(c.quarantine.self_release.count, 1);
    let allowed: Vec<String> = c
        .port25
        .allowed_senders
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(allowed, ["100.64.3.2", "2001:db8:100:3::/64"]);
    let plan = lab.plan();
    assert_eq!(plan.gateway.quiet_period_s, 6);
    assert_eq!(plan.gateway.min_hold_s, 1);
    assert_eq!(plan.gateway.report_score, 2);
    assert!(plan.subscribers[2].allowed_sender && !plan.subscribers[0].allowed_sender);
    // The file on disk is what cordond will read.
    assert_eq!(&cordon_config::load_file(&plan.gateway.config).unwrap(), c);
}

#[test]
fn bad_options_are_refused_before_anything_is_built() {
    let name = unique_name("bad");
    let err = cordon_lab::Lab::builder(&name)
        .subscribers(0)
        .up()
        .unwrap_err();
    assert!(matches!(err, LabError::InvalidOption(_)), "{err}");
    let err = cordon_lab::Lab::builder(&name)
        .subscribers(1)
        .allowed_sender(1)
        .up()
        .unwrap_err();
    assert!(matches!(err, LabError::InvalidOption(_)), "{err}");
    let err = cordon_lab::Lab::builder("Not A Name").up().unwrap_err();
    assert!(matches!(err, LabError::InvalidName { .. }), "{err}");
    assert_gone(&name);
}
