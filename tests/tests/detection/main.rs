//! Detection end to end: the real `cordond` reading the kernel's NFLOG
//! crossings, the real `cordon` CLI handing in reports, a real DNS block
//! list (Debian's `rbldnsd`) in the internet namespace, and real clients
//! (TCP floods, swaks) in the subscribers' namespaces.
//!
//! Needs root, and the workspace's binaries beside the test executable
//! (`cargo build -p cordon-orchestrator -p cordon-portal` first, or
//! `cargo test --workspace`). Every wait polls with a deadline.
//!
//! One test binary (`--test detection`), split by where the evidence comes
//! from: the kernel's SMTP counters (`mail`), reports handed in through the
//! CLI (`reports`), and DNS block lists (`dnsbl`). What the gateway says
//! (metrics, log, the kernel's set) is read by the helpers here.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use cordon_lab::{Lab, wait_for};

mod dnsbl;
mod mail;
mod reports;

const SHORT: Duration = Duration::from_secs(2);

fn metrics(lab: &Lab) -> String {
    let out = lab
        .gateway()
        .exec(
            "curl",
            &["-s", "--max-time", "5", "http://127.0.0.1:9464/metrics"],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of a metric line that starts with `name` (labels included).
fn metric(lab: &Lab, name: &str) -> f64 {
    metrics(lab)
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn cordond_log(lab: &Lab) -> String {
    std::fs::read_to_string(lab.run_dir().join("cordond.log")).unwrap_or_default()
}

/// Explains a failed wait with the daemon's log.
fn with_log<T>(lab: &Lab, r: Result<T, cordon_lab::LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}\n--- cordond.log ---\n{}", cordond_log(lab)))
}

fn quarantined_in_kernel(lab: &Lab, addr: &str) -> bool {
    // An IPv6 subscriber prefix is held by its first address.
    let (set, addr) = if addr.contains(':') {
        ("quarantined_v6", addr.split('/').next().unwrap_or(addr))
    } else {
        ("quarantined_v4", addr)
    };
    lab.gateway()
        .exec(
            "nft",
            &[
                "get",
                "element",
                "inet",
                "cordon",
                set,
                &format!("{{ {addr} }}"),
            ],
        )
        .unwrap()
        .status
        .success()
}

/// Waits until `addr` is quarantined (in the store's view and the
/// kernel's set) and returns how long that took.
fn until_quarantined(lab: &Lab, addr: &str, within: Duration) -> Duration {
    let start = Instant::now();
    with_log(
        lab,
        wait_for(within, &format!("{addr} to be quarantined"), || {
            quarantined_in_kernel(lab, addr)
        }),
    );
    start.elapsed()
}
