//! A lab of several gateways: each a BNG of its own (namespace, cordond,
//! portal, store, subscriber prefixes) in front of one shared internet. A
//! decision on one gateway walls in its subscriber there and leaves the
//! subscribers behind another gateway alone; the plan describes every
//! gateway alike; nothing of any gateway outlives the lab.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use common::{CliLab, LAB_EXE, assert_gone, lab, lab_cli_ok, namespaces_of, processes_mentioning};
use cordon_config::Prefix;
use cordon_lab::addresses::{MAX_GATEWAYS, WEB_V4, WEB_V6};
use cordon_lab::{LabError, unique_name, url};

#[test]
fn a_quarantine_on_one_gateway_walls_in_its_subscriber_and_leaves_another_gateways_free() {
    let lab = lab("fleet")
        .gateways(2)
        .subscribers(2)
        .daemons(true)
        .up()
        .unwrap();
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    let (caught, free) = (lab.subscriber(0), lab.subscriber(1));
    let plan = lab.plan();
    assert_eq!(
        (plan.subscribers[0].gateway, plan.subscribers[1].gateway),
        (0, 1)
    );
    assert_ne!(gw0.portal_url(), gw1.portal_url());

    let addr = caught.ipv4().to_string();
    gw0.cordon_ok(&[
        "quarantine",
        &addr,
        "--reason",
        "fleet test",
        "--hold",
        "1h",
    ])
    .unwrap();
    assert_eq!(gw0.state(&addr).unwrap(), "quarantined");
    // Walled in on gateway 0: the web goes to gateway 0's portal.
    let page = caught.curl(&url(WEB_V4, 80, "/"), &[]).unwrap();
    let location = page.header("location").unwrap_or_default();
    assert!(
        page.status == Some(302) && location.starts_with(gw0.portal_url()),
        "{page:?}"
    );
    // Behind gateway 1, the other subscriber reaches the real site over
    // both families...
    for web in [IpAddr::from(WEB_V4), IpAddr::from(WEB_V6)] {
        let reply = free.curl(&url(web, 80, "/"), &[]).unwrap();
        assert!(reply.from_real_site(), "{web}: {reply:?}");
    }
    // ...and gateway 1's cordond has decided nothing about it; gateway
    // 0's refuses an address from gateway 1's pool.
    let other = free.ipv4().to_string();
    assert_eq!(gw1.state(&other).unwrap(), "clean");
    let refused = gw0.cordon(&["show", &other]).unwrap();
    assert!(!refused.status.success(), "{refused:?}");

    // Gateway 1 enforces its own decisions, with its own portal.
    gw1.cordon_ok(&[
        "quarantine",
        &other,
        "--reason",
        "fleet test",
        "--hold",
        "1h",
    ])
    .unwrap();
    let page = free.curl(&url(WEB_V4, 80, "/"), &[]).unwrap();
    let location = page.header("location").unwrap_or_default().to_owned();
    assert!(location.starts_with(gw1.portal_url()), "{page:?}");
    let portal = free.curl(&location, &[]).unwrap();
    assert_eq!(portal.status, Some(200), "{portal:?}");
}

#[test]
fn the_cli_plans_every_gateway_with_the_keys_of_gateway_and_disjoint_prefixes() {
    let name = unique_name("gwcli");
    let _guard = CliLab(name.clone());
    let out = lab_cli_ok(&[
        "up",
        "--name",
        &name,
        "--gateways",
        "2",
        "--subscribers",
        "3",
        "--daemons",
        "--json",
    ]);
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let keys = |v: &serde_json::Value| -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let gateways = plan["gateways"].as_array().unwrap();
    assert_eq!(gateways.len(), 2);
    assert_eq!(gateways[0], plan["gateway"], "gateway is gateways[0]");
    assert_eq!(keys(&gateways[1]), keys(&plan["gateway"]));
    assert_eq!(
        (&gateways[0]["name"], &gateways[1]["name"]),
        (&"gw0".into(), &"gw1".into())
    );
    assert_eq!(gateways[1]["netns"], format!("cl-{name}-gw1"));
    for key in [
        "netns",
        "config",
        "control_socket",
        "portal_socket",
        "portal",
    ] {
        assert_ne!(gateways[0][key], gateways[1][key], "{key} shared");
    }
    for g in gateways {
        assert!(g["radius_accounting"]["port"].is_u64(), "{g}");
    }

    let prefixes: Vec<Vec<Prefix>> = gateways
        .iter()
        .map(|g| {
            let list = g["subscriber_prefixes"].as_array().unwrap();
            list.iter()
                .map(|p| p.as_str().unwrap().parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(prefixes[0].len(), 2, "IPv4 and IPv6: {prefixes:?}");
    for a in &prefixes[0] {
        for b in &prefixes[1] {
            let (na, nb) = (a.to_string(), b.to_string());
            let net = |s: &str| s.split('/').next().unwrap().parse::<IpAddr>().unwrap();
            assert!(
                !a.contains(&net(&nb)) && !b.contains(&net(&na)),
                "{na} and {nb} overlap"
            );
        }
    }
    let behind: Vec<u64> = plan["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let g = s["gateway"].as_u64().unwrap();
            for key in ["ipv4", "ipv6"] {
                let ip: IpAddr = s[key].as_str().unwrap().parse().unwrap();
                for (other, own) in prefixes.iter().enumerate() {
                    assert_eq!(
                        own.iter().any(|p| p.contains(&ip)),
                        other as u64 == g,
                        "{ip} and gateway {other}'s prefixes"
                    );
                }
            }
            g
        })
        .collect();
    assert_eq!(behind, [0, 1, 0]);
    // plan.json says the same.
    let run_dir = cordon_lab::LabName::new(&name).unwrap().run_dir();
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(saved, plan);
    // The gateways share the lab's PostgreSQL: its socket is in the run
    // directory, and each gateway's config reaches it there.
    let socket_dir = Path::new(plan["store"]["socket_dir"].as_str().unwrap());
    assert_eq!(socket_dir, run_dir.join("pg"));
    assert!(
        socket_dir.join(".s.PGSQL.5432").exists(),
        "the server listens"
    );
    for g in gateways {
        let config = std::fs::read_to_string(g["config"].as_str().unwrap()).unwrap();
        let url = format!("host={} dbname=cordon", socket_dir.display());
        assert!(config.contains(&url), "{config}");
        // Each cordond runs on it (their connections are open when `down`
        // comes).
        let cordon = Path::new(LAB_EXE).with_file_name("cordon");
        let mut status = std::process::Command::new(cordon);
        status
            .arg("--socket")
            .arg(g["control_socket"].as_str().unwrap())
            .args(["--json", "status"]);
        let out = cordon_testkit::command::checked(status, std::time::Duration::from_secs(10));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(status["store_outbox"], 0, "{status}");
        assert!(status["store_unreachable_since"].is_null(), "{status}");
    }

    lab_cli_ok(&["down", "--name", &name]);
    assert_gone(&name);
    gateway_1_gone(&name);
}

#[test]
fn a_panicking_test_leaves_no_gateway_behind() {
    let name = unique_name("gwpanic");
    let inner = name.clone();
    let result = std::panic::catch_unwind(move || {
        let lab = cordon_lab::Lab::builder(&inner)
            .lab_exe(LAB_EXE)
            .gateways(2)
            .subscribers(2)
            .daemons(true)
            .up()
            .unwrap();
        assert_eq!(namespaces_of(lab.name()).len(), 5);
        let gw1 = lab.run_dir().join("gw1");
        assert!(
            !processes_mentioning(&gw1.to_string_lossy()).is_empty(),
            "gateway 1's daemons run"
        );
        panic!("the test failed with two gateways up");
    });
    assert!(result.is_err());
    assert_gone(&name);
    gateway_1_gone(&name);
}

#[test]
fn gateway_counts_outside_the_bounds_are_refused_before_anything_is_built() {
    let name = unique_name("gwbad");
    for (gateways, subscribers) in [(0, 3), (MAX_GATEWAYS + 1, 10), (3, 2)] {
        let err = cordon_lab::Lab::builder(&name)
            .lab_exe(LAB_EXE)
            .gateways(gateways)
            .subscribers(subscribers)
            .up()
            .unwrap_err();
        assert!(
            matches!(err, LabError::InvalidOption(_)),
            "{gateways} gateways, {subscribers} subscribers: {err}"
        );
    }
    assert_gone(&name);
}

/// Gateway 1's namespace and its /etc files are gone (named outright, not
/// through the lab's own idea of which namespaces it owns).
fn gateway_1_gone(name: &str) {
    let netns = format!("cl-{name}-gw1");
    assert!(!cordon_lab::netns::exists(&netns), "{netns} left behind");
    assert!(!Path::new("/etc/netns").join(&netns).exists());
}
