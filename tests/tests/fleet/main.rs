//! A fleet of gateways sharing one PostgreSQL (the lab's own, real
//! namespaces, the real cordond on each gateway): a decision made on one
//! gateway is enforced, within a second, by the gateway a subscriber sits
//! behind; the audit trail is the fleet's on every gateway; and a gateway
//! that loses the database keeps quarantining and hands its decisions over,
//! once, when the database is back (`outage`).
//!
//! Needs root, Debian's `postgresql`, and the workspace's binaries beside
//! the test executable (`cargo build -p cordon-orchestrator -p
//! cordon-portal` first). Every wait polls with a deadline.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod outage;
mod restart;

use std::time::{Duration, Instant};

use cordon_lab::addresses::WEB_V4;
use cordon_lab::{Gateway, Host, Lab, url, wait_for};

use common::{lab, quarantined_in_kernel_of};

/// How long a gateway may take to enforce another's decision.
const FLEET_DELAY: Duration = Duration::from_secs(1);

/// A lab of two gateways (subscriber 0 behind gw0, subscriber 1 behind
/// gw1) sharing the lab's PostgreSQL, cordond and the portal on each.
fn fleet(stem: &str) -> Lab {
    lab(stem)
        .gateways(2)
        .subscribers(2)
        .daemons(true)
        .up()
        .unwrap()
}

/// How long one probe may take. A request in flight when the gateway
/// changes its rules may hang (its packets are now dropped) until this
/// ends, so it is well under the second a test allows.
const PROBE: &[&str] = &["--max-time", "0.5"];

/// True when `host`'s plain http:// lands on `gw`'s portal.
fn walled_in_by(host: &Host, gw: &Gateway) -> bool {
    let page = host.curl(&url(WEB_V4, 80, "/"), PROBE).unwrap();
    page.status == Some(302)
        && page
            .header("location")
            .is_some_and(|l| l.starts_with(gw.portal_url()))
}

/// True when `host`'s plain http:// reaches the real site.
fn browses_freely(host: &Host) -> bool {
    host.curl(&url(WEB_V4, 80, "/"), PROBE)
        .unwrap()
        .from_real_site()
}

/// Waits (at most [`FLEET_DELAY`] after `since`) until `holds`, and returns
/// how long after `since` it held; the panic names the gateways' logs.
fn within_a_second(lab: &Lab, since: Instant, what: &str, holds: impl FnMut() -> bool) -> Duration {
    let mut holds = holds;
    let left = FLEET_DELAY.saturating_sub(since.elapsed());
    if let Err(e) = wait_for(left, what, &mut holds) {
        // How late, if at all, for the report.
        let late = wait_for(Duration::from_secs(5), what, &mut holds).map(|()| since.elapsed());
        panic!("{e} (then: {late:?})\n{}", logs(lab));
    }
    let took = since.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(took < FLEET_DELAY, "{what}: {took:?}");
    took
}

/// Every gateway's cordond log, for a failing test to show.
fn logs(lab: &Lab) -> String {
    (0..lab.plan().gateways.len())
        .map(|g| {
            let config = &lab.plan().gateways[g].config;
            let log = config.parent().map(|d| d.join("cordond.log"));
            let log = log
                .and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_default();
            format!("--- gw{g} cordond.log ---\n{log}")
        })
        .collect()
}

/// `cordon session start` (or `stop`) on `gw`.
fn session(gw: &Gateway, verb: &str, who: &str, addr: &str) {
    gw.cordon_ok(&["session", verb, "--subscriber", who, "--address", addr])
        .unwrap();
}

/// `cordon --json status` on `gw`.
fn status(gw: &Gateway) -> serde_json::Value {
    gw.cordon_json(&["status"]).unwrap()
}

/// `cordon --json history` entries on `gw` (for `args`, e.g. an address).
fn history(gw: &Gateway, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["history"];
    all.extend_from_slice(args);
    gw.cordon_json(&all).unwrap()["entries"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_quarantine_on_one_gateway_walls_in_the_subscriber_behind_another_within_a_second() {
    let lab = fleet("flq");
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    let alice = lab.subscriber(1);
    assert_eq!(lab.plan().subscribers[1].gateway, 1);
    session(&gw1, "start", "alice", &alice.ipv4().to_string());
    assert!(browses_freely(&alice));

    let said = gw0
        .cordon_ok(&[
            "quarantine",
            "--subscriber",
            "alice",
            "--reason",
            "abuse desk, fleet test",
            "--hold",
            "1h",
        ])
        .unwrap();
    let answered = Instant::now();
    // She holds no address behind gw0: the answer names her.
    assert!(
        said.starts_with("subscriber alice is quarantined."),
        "{said}"
    );
    // gw1's kernel first (how long the fleet took), then her browser.
    let ipv4 = alice.ipv4().to_string();
    within_a_second(&lab, answered, "gw1's kernel holds alice's address", || {
        quarantined_in_kernel_of(&gw1, &ipv4)
    });
    within_a_second(
        &lab,
        answered,
        "gw1 walls alice in after gw0's quarantine",
        || walled_in_by(&alice, &gw1),
    );
    assert_eq!(gw1.state(&alice.ipv4().to_string()).unwrap(), "quarantined");

    // The audit trail is the fleet's: gateway 1 shows the decision with
    // the gateway that made it.
    let entries = history(&gw1, &["--subscriber", "alice"]);
    let made = entries
        .iter()
        .find(|e| e["to"] == "quarantined")
        .unwrap_or_else(|| panic!("no quarantine in gw1's history: {entries:?}"));
    assert_eq!(made["gateway"], "gw0", "{made}");
    assert_eq!(made["subscriber"], "alice", "{made}");
    let text = gw1
        .cordon_ok(&["history", "--subscriber", "alice"])
        .unwrap();
    assert!(text.contains("gw0"), "{text}");
}

#[test]
fn a_release_on_one_gateway_lifts_a_quarantine_made_on_another_within_a_second() {
    let lab = fleet("flr");
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    let bob = lab.subscriber(0);
    session(&gw0, "start", "bob", &bob.ipv4().to_string());
    gw0.cordon_ok(&[
        "quarantine",
        "--subscriber",
        "bob",
        "--reason",
        "fleet test",
        "--hold",
        "1h",
    ])
    .unwrap();
    wait_for(Duration::from_secs(2), "bob walled in on gw0", || {
        walled_in_by(&bob, &gw0)
    })
    .unwrap();

    gw1.cordon_ok(&[
        "release",
        "--subscriber",
        "bob",
        "--reason",
        "cleaned, says the desk",
    ])
    .unwrap();
    let answered = Instant::now();
    within_a_second(&lab, answered, "gw0 frees bob after gw1's release", || {
        browses_freely(&bob)
    });
    assert_ne!(gw0.state(&bob.ipv4().to_string()).unwrap(), "quarantined");
}

#[test]
fn a_quarantined_subscriber_whose_session_moves_is_walled_in_on_the_new_gateway() {
    let lab = fleet("flm");
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    let (before, after) = (lab.subscriber(0), lab.subscriber(1));
    session(&gw0, "start", "carol", &before.ipv4().to_string());
    gw0.cordon_ok(&[
        "quarantine",
        "--subscriber",
        "carol",
        "--reason",
        "fleet test",
        "--hold",
        "1h",
    ])
    .unwrap();
    wait_for(Duration::from_secs(2), "carol walled in on gw0", || {
        walled_in_by(&before, &gw0)
    })
    .unwrap();
    assert!(browses_freely(&after), "nobody holds gw1's address yet");

    // Her line drops on gw0 and she reconnects through gw1.
    session(&gw0, "stop", "carol", &before.ipv4().to_string());
    session(&gw1, "start", "carol", &after.ipv4().to_string());
    let started = Instant::now();
    within_a_second(
        &lab,
        started,
        "gw1 walls carol in at her new address",
        || walled_in_by(&after, &gw1),
    );
    // gw0's address left with her session.
    wait_for(Duration::from_secs(2), "gw0's old address freed", || {
        browses_freely(&before)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
}

#[test]
fn one_gateway_may_keep_its_decisions_in_the_labs_postgres_and_a_sqlite_lab_runs_none() {
    let mut lab = lab("flone")
        .subscribers(1)
        .postgres(true)
        .daemons(true)
        .up()
        .unwrap();
    let socket_dir = lab.plan().store.clone().unwrap().socket_dir;
    assert_eq!(socket_dir, lab.run_dir().join("pg"));
    let status = lab.cordon_json(&["status"]).unwrap();
    assert!(
        status["store"]
            .as_str()
            .unwrap()
            .contains(&*socket_dir.to_string_lossy()),
        "{status}"
    );
    assert_eq!(status["store_outbox"], 0, "{status}");
    let addr = lab.subscriber(0).ipv4().to_string();
    lab.cordon_ok(&["quarantine", &addr, "--reason", "one gateway on postgres"])
        .unwrap();
    // A crashed cordond comes back with what the database holds.
    lab.restart_cordond().unwrap();
    assert_eq!(lab.state(&addr).unwrap(), "quarantined");

    let mut plain = common::lab("flsql").subscribers(1).up().unwrap();
    assert!(plain.plan().store.is_none());
    let e = plain.kill_postgres().unwrap_err();
    assert!(matches!(e, cordon_lab::LabError::InvalidOption(_)), "{e}");
    let e = plain.start_postgres().unwrap_err();
    assert!(e.to_string().contains("no PostgreSQL"), "{e}");
}

/// `cordon list` on any gateway shows the fleet's decisions with the
/// gateway that made each: an address quarantine of gw0's (an address gw1
/// does not serve), and gw1's own, listed on gw1.
#[test]
fn the_list_on_any_gateway_shows_the_fleets_decisions_and_who_made_them() {
    let lab = fleet("fll");
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    let here = lab.subscriber(0).ipv4().to_string();
    let there = lab.subscriber(1).ipv4().to_string();
    gw0.cordon_ok(&["quarantine", &here, "--reason", "ticket 1"])
        .unwrap();
    gw1.cordon_ok(&["quarantine", &there, "--reason", "ticket 2"])
        .unwrap();
    let listed = gw1.cordon_json(&["list"]).unwrap();
    let hosts = listed["hosts"].as_array().unwrap();
    let find = |addr: &str| {
        hosts
            .iter()
            .find(|h| h["address"] == addr)
            .unwrap_or_else(|| panic!("{addr} not in {listed}"))
    };
    assert_eq!(find(&here)["state"], "quarantined", "{listed}");
    assert_eq!(find(&here)["gateway"], "gw0", "{listed}");
    assert_eq!(find(&here)["note"], "ticket 1", "{listed}");
    assert_eq!(find(&there)["gateway"], "gw1", "{listed}");
    let text = gw1.cordon_ok(&["list"]).unwrap();
    assert!(text.contains("GATEWAY"), "{text}");
    // `show` of a subscriber decided elsewhere names the gateway too, and
    // what it holds behind the other gateway.
    session(&gw0, "start", "dana", "100.64.1.9");
    gw0.cordon_ok(&["quarantine", "--subscriber", "dana", "--reason", "ticket 3"])
        .unwrap();
    let show = || gw1.cordon_json(&["show", "--subscriber", "dana"]).unwrap();
    wait_for(FLEET_DELAY, "gw1 to hold dana's quarantine", || {
        show()["state"] == "quarantined"
    })
    .unwrap();
    let dana = show();
    assert_eq!(dana["gateway"], "gw0", "{dana}");
    assert_eq!(
        dana["addresses"],
        serde_json::json!(["100.64.1.9"]),
        "{dana}"
    );
    let text = gw1.cordon_ok(&["show", "--subscriber", "dana"]).unwrap();
    assert!(text.contains("decided on"), "{text}");
    let listed = gw1.cordon_json(&["list"]).unwrap();
    let row = listed["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subscriber"] == "dana")
        .cloned()
        .unwrap_or_else(|| panic!("dana not in {listed}"));
    assert_eq!(row["addresses"], serde_json::json!(["100.64.1.9"]), "{row}");
}
