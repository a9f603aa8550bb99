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

use common::{cordond_log, metric, metrics, quarantined_in_kernel, with_log};

mod burst;
mod dnsbl;
mod ladder;
mod mail;
mod maildir;
mod reports;
mod unrecorded;

const SHORT: Duration = Duration::from_secs(2);

/// `cordon import -` against gateway 0, as an MTA's pipe alias runs it:
/// stdin, stdout and stderr piped for the test.
fn import_from_stdin(lab: &Lab) -> std::process::Child {
    use std::process::{Command, Stdio};
    let gw = lab.gateway();
    Command::new(lab.cordon_exe().unwrap())
        .arg("--socket")
        .arg(gw.control_socket())
        .arg("--config")
        .arg(gw.config_path())
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
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
