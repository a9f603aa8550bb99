//! The database goes away in the middle of a zombie's flood: the gateway
//! quarantines anyway (enforcement never waits on the database), says the
//! store is unreachable and queues the decision in its outbox; once the
//! database is back the decision reaches it, and the rest of the fleet,
//! exactly once.

use std::time::{Duration, Instant};

use cordon_lab::{Gateway, wait_for};

use super::common::{metric, metric_of, quarantined_in_kernel};
use super::{history, logs, session, status, walled_in_by};

#[test]
fn a_zombie_caught_while_postgres_is_down_is_quarantined_and_reaches_it_once_after() {
    // A quiet period longer than the test: the zombie stays in because
    // nothing released it, not because it kept sending.
    let mut lab = super::common::lab("flpg")
        .gateways(2)
        .subscribers(2)
        .quiet_period(Duration::from_secs(120))
        .daemons(true)
        .up()
        .unwrap();
    let (gw0, gw1) = (lab.gateway_at(0), lab.gateway_at(1));
    let zombie = lab.subscriber(0);
    let addr = zombie.ipv4().to_string();
    let fleet_sees = |gw: &Gateway| -> Vec<serde_json::Value> {
        history(gw, &["--limit", "500"])
            .into_iter()
            .filter(|e| e["subscriber"] == "zed" && e["to"] == "quarantined")
            .collect()
    };
    // The zombie is subscriber zed's computer, online through gw0.
    session(&gw0, "start", "zed", &addr);

    // The flood starts below the threshold (20 attempts in 10 s)...
    zombie.flood_smtp(10, zombie.ipv4().into()).unwrap();
    assert!(!quarantined_in_kernel(&lab, &addr));
    // ...the database dies...
    lab.kill_postgres().unwrap();
    // ...and the flood goes on past the threshold.
    let crossing = Instant::now();
    zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
    wait_for(
        Duration::from_secs(2),
        "the zombie quarantined on gw0",
        || quarantined_in_kernel(&lab, &addr),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    eprintln!(
        "quarantined with the database down: {:?}",
        crossing.elapsed()
    );
    assert_eq!(gw0.state(&addr).unwrap(), "quarantined");
    let down = status(&gw0);
    assert!(down["store_unreachable_since"].is_i64(), "{down}");
    assert!(down["store_outbox"].as_u64().unwrap() > 0, "{down}");
    let text = gw0.cordon_ok(&["status"]).unwrap();
    assert!(text.contains("UNREACHABLE"), "{text}");
    assert!(metric(&lab, "cordon_store_outbox_batches") >= 1.0);
    assert_eq!(metric_of(&lab, "cordon_store_reachable"), Some(0.0));

    lab.start_postgres().unwrap();
    let back = Instant::now();
    // The decision reaches the database: gateway 1 reads it there, made
    // by gw0.
    wait_for(
        Duration::from_secs(10),
        "gw1 to see gw0's quarantine",
        || !fleet_sees(&gw1).is_empty(),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    eprintln!("in the database after the restart: {:?}", back.elapsed());
    wait_for(Duration::from_secs(10), "gw0's outbox to drain", || {
        let s = status(&gw0);
        s["store_outbox"] == 0 && s["store_unreachable_since"].is_null()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    assert_eq!(metric_of(&lab, "cordon_store_outbox_batches"), Some(0.0));
    assert_eq!(metric(&lab, "cordon_store_reachable"), 1.0);
    eprintln!("outbox drained, store reachable: {:?}", back.elapsed());
    // Once, on every gateway's view of the fleet's trail; still walled in.
    for gw in [&gw0, &gw1] {
        let seen = fleet_sees(gw);
        assert_eq!(seen.len(), 1, "{}: {seen:?}", gw.name());
        assert_eq!(seen[0]["gateway"], "gw0", "{seen:?}");
    }
    assert!(quarantined_in_kernel(&lab, &addr));
    assert_eq!(gw0.state(&addr).unwrap(), "quarantined");
    // gw1 lost its listening connection with the database and read
    // everything again when it came back: it holds zed quarantined, and
    // walls zed in when zed's session moves behind it.
    let on_gw1 =
        || gw1.cordon_json(&["show", "--subscriber", "zed"]).unwrap()["state"] == "quarantined";
    wait_for(
        Duration::from_secs(2),
        "gw1 to hold zed quarantined",
        on_gw1,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
    let moved = lab.subscriber(1);
    session(&gw0, "stop", "zed", &addr);
    session(&gw1, "start", "zed", &moved.ipv4().to_string());
    wait_for(Duration::from_secs(1), "zed walled in behind gw1", || {
        walled_in_by(&moved, &gw1)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs(&lab)));
}
