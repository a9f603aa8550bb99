//! A gateway that restarts while the database is away: it starts from its
//! local snapshot of the fleet's state (the outbox file), keeps enforcing
//! the quarantines it held, quarantines a zombie on its own, and hands
//! that decision to the database, and so to the rest of the fleet, once,
//! when the database is back.

use std::time::Duration;

use cordon_lab::{Gateway, wait_for};

use super::common::{metric, metric_of, quarantined_in_kernel_of};
use super::{history, logs, session, status, walled_in_by};

/// The quarantines of `who` in `gw`'s view of the fleet's trail.
fn quarantines_of(gw: &Gateway, who: &str) -> Vec<serde_json::Value> {
    history(gw, &["--limit", "500"])
        .into_iter()
        .filter(|e| e["subscriber"] == who && e["to"] == "quarantined")
        .collect()
}

#[test]
fn a_gateway_restarted_while_postgres_is_down_keeps_its_quarantines_and_hands_its_new_ones_over_once()
 {
    // A quiet period longer than the test: nothing is released by time.
    let mut lab = super::common::lab("flrs")
        .gateways(2)
        .subscribers(3)
        .quiet_period(Duration::from_secs(120))
        .daemons(true)
        .up()
        .unwrap();
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    // Subscribers 0 and 2 sit behind gw0.
    assert_eq!(lab.plan().subscribers[0].gateway, 0);
    assert_eq!(lab.plan().subscribers[2].gateway, 0);
    let (erin, zombie) = (lab.subscriber(0), lab.subscriber(2));
    let (erin_addr, zed_addr) = (erin.ipv4().to_string(), zombie.ipv4().to_string());
    session(&gw0, "start", "erin", &erin_addr);
    session(&gw0, "start", "zed", &zed_addr);

    // An existing quarantine, in the database (gw1 reads it there).
    gw0.cordon_ok(&[
        "quarantine",
        "--subscriber",
        "erin",
        "--reason",
        "abuse desk, before the outage",
        "--hold",
        "1h",
    ])
    .unwrap();
    wait_for(
        Duration::from_secs(2),
        "gw1 to see erin's quarantine",
        || quarantines_of(&gw1, "erin").len() == 1,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));

    // The database dies, and then gw0's cordond crashes and comes back:
    // it starts, from its snapshot, with the database still away.
    lab.kill_postgres().unwrap();
    lab.restart_cordond_at(0)
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    assert!(quarantined_in_kernel_of(&gw0, &erin_addr));
    assert!(walled_in_by(&erin, &gw0), "erin escaped the restart");
    assert_eq!(gw0.state(&erin_addr).unwrap(), "quarantined");
    let down = status(&gw0);
    assert!(down["store_unreachable_since"].is_i64(), "{down}");
    let text = gw0.cordon_ok(&["status"]).unwrap();
    assert!(text.contains("UNREACHABLE"), "{text}");
    assert_eq!(metric_of(&lab, "cordon_store_reachable"), Some(0.0));

    // zed's computer floods port 25 past the threshold (20 in 10 s): gw0
    // quarantines it on its own.
    zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
    wait_for(
        Duration::from_secs(2),
        "the zombie quarantined on gw0",
        || quarantined_in_kernel_of(&gw0, &zed_addr),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    assert_eq!(gw0.state(&zed_addr).unwrap(), "quarantined");
    let queued = status(&gw0);
    assert!(queued["store_outbox"].as_u64().unwrap() > 0, "{queued}");

    // The database comes back: the decision reaches it and gw1, made on
    // gw0.
    lab.start_postgres().unwrap();
    wait_for(
        Duration::from_secs(10),
        "gw1 to hold zed quarantined",
        || gw1.cordon_json(&["show", "--subscriber", "zed"]).unwrap()["state"] == "quarantined",
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    let shown = gw1.cordon_json(&["show", "--subscriber", "zed"]).unwrap();
    assert_eq!(shown["gateway"], "gw0", "{shown}");
    let text = gw1.cordon_ok(&["show", "--subscriber", "zed"]).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("decided on") && l.ends_with(" gw0")),
        "{text}"
    );
    let listed = gw1.cordon_json(&["list"]).unwrap();
    let hosts = listed["hosts"].as_array().unwrap();
    // A subscriber's quarantine, listed by subscriber (gw1 serves none of
    // zed's addresses).
    let zed = hosts
        .iter()
        .find(|h| h["subscriber"] == "zed")
        .unwrap_or_else(|| panic!("zed not in gw1's list: {listed}"));
    assert_eq!(zed["actor"], "detection", "{listed}");
    assert_eq!(zed["state"], "quarantined", "{listed}");
    assert_eq!(zed["gateway"], "gw0", "{listed}");
    wait_for(
        Duration::from_secs(10),
        "gw0's store reachable again",
        || {
            let s = status(&gw0);
            s["store_outbox"] == 0 && s["store_unreachable_since"].is_null()
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    let text = gw0.cordon_ok(&["status"]).unwrap();
    assert!(!text.contains("UNREACHABLE"), "{text}");
    assert_eq!(metric(&lab, "cordon_store_reachable"), 1.0);
    // Nothing was set aside as refused by the database.
    assert_eq!(metric_of(&lab, "cordon_store_outbox_refused"), Some(0.0));

    // Each decision once in the fleet's trail, on both gateways: the
    // restart recorded nothing again, the replay nothing twice.
    for gw in [&gw0, &gw1] {
        for who in ["erin", "zed"] {
            let seen = quarantines_of(gw, who);
            assert_eq!(seen.len(), 1, "{} {who}: {seen:?}", gw.name());
            assert_eq!(seen[0]["gateway"], "gw0", "{seen:?}");
        }
    }
    assert!(quarantined_in_kernel_of(&gw0, &erin_addr));
    assert!(quarantined_in_kernel_of(&gw0, &zed_addr));
}
