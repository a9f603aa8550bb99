//! An outbreak in small: many subscribers start flooding at once. Every
//! one is quarantined, crossings that arrived together share a kernel
//! transaction, and each record's evidence (the attempts the kernel
//! counted) is filled in after the quarantine, with one audit line per
//! zombie saying why.

use std::time::{Duration, Instant};

use cordon_lab::poll_until;

use super::common::lab;
use super::{SHORT, metric, quarantined_in_kernel, with_log};

/// Zombies flooding at once.
const ZOMBIES: usize = 40;

#[test]
fn a_burst_of_zombies_is_enforced_together_and_each_gets_its_evidence() {
    let lab = lab("burst")
        .subscribers(ZOMBIES)
        .daemons(true)
        .up()
        .unwrap();
    let hosts = lab.subscribers();
    let addrs: Vec<String> = hosts.iter().map(|h| h.ipv4().to_string()).collect();
    let transactions = || metric(&lab, "cordon_rule_change_seconds_count");
    let before = transactions();

    let start = Instant::now();
    std::thread::scope(|s| {
        for h in &hosts {
            s.spawn(move || h.flood_smtp(30, h.ipv4().into()).unwrap());
        }
    });
    with_log(
        &lab,
        poll_until(Duration::from_secs(5), "every zombie quarantined", || {
            addrs
                .iter()
                .all(|a| quarantined_in_kernel(&lab, a))
                .then_some(())
        }),
    );
    let took = start.elapsed();
    let used = transactions() - before;
    eprintln!(
        "{ZOMBIES} zombies: all enforced {took:?} after the burst began, in {used} kernel transactions"
    );
    let mean = metric(&lab, "cordon_detection_latency_seconds_sum")
        / metric(&lab, "cordon_detection_latency_seconds_count");
    eprintln!(
        "mean crossing to enforced (cordond's histogram): {:.1} ms",
        mean * 1000.0
    );
    // One crossing per transaction would be ZOMBIES; crossings that come
    // in together go together. How many arrive together depends on how
    // the 40 floods are scheduled (3 on an idle machine, 14–18 on a loaded
    // one); the core's unit tests hold the exact batching
    // (`crossings_handed_over_together_are_one_commit_and_one_transaction`).
    assert!(
        used < ZOMBIES as f64,
        "{used} transactions for {ZOMBIES} zombies: none went together"
    );

    for a in &addrs {
        let host = with_log(
            &lab,
            poll_until(SHORT, &format!("{a}'s evidence filled in"), || {
                let h = lab.show(a).unwrap();
                h["evidence"]["smtp_attempts"].is_u64().then_some(h)
            }),
        );
        assert_eq!(host["state"], "quarantined", "{host}");
        assert_eq!(host["actor"], "detection", "{host}");
        let evidence = &host["evidence"];
        let threshold = ["smtp_attempts_threshold", "smtp_destinations_threshold"]
            .iter()
            .find_map(|k| evidence[*k].as_u64())
            .unwrap_or_else(|| panic!("no signal's threshold in the evidence: {host}"));
        assert!(
            evidence["smtp_attempts"].as_u64().unwrap() >= threshold.min(20),
            "{host}"
        );
        // The evidence was a record change, not a transition: one line.
        let history = lab.cordon_json(&["history", a]).unwrap();
        let lines = history["entries"].as_array().map_or(0, Vec::len);
        assert_eq!(lines, 1, "{history}");
    }
}
