//! Detection: threshold-crossing packet to enforced quarantine, and
//! cordond's CPU time while 1 000 subscriber addresses open SMTP connections
//! at a normal rate and 10 zombies flood.
//!
//! The claim under test: ordinary SMTP attempts are counted in the kernel
//! and never wake userspace; cordond works per crossing (one NFLOG event per
//! host and alert period), not per packet.
//!
//! The lab has 250 subscriber namespaces; each gets four more addresses
//! (`.4`–`.7` of its /24, routed to it by the gateway), and the normal
//! senders bind their connections to those, so that the kernel sees 1 000
//! distinct sources. The zombies use
//! subscribers' own `.2` addresses.
//!
//! `load` makes the traffic (normal senders and zombies), `latency` times
//! one quarantine from a crossing or from the CLI, and `report` writes the
//! Markdown; this module holds the constants they share and runs the lab.

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::{Context, Result};
use cordon_lab::Lab;
use cordon_lab::addresses::MAX_SUBSCRIBERS;

use crate::metrics::{Scrape, bucket_delta};
use crate::stats::Samples;

mod latency;
pub(crate) mod load;
mod report;

use latency::{cli_latency, zombie_latency};
use load::{Phase, add_addresses, phase, with_load};
use report::report;

/// Subscriber namespaces (the lab's maximum).
const SUBSCRIBERS: usize = MAX_SUBSCRIBERS;
/// Extra host numbers per subscriber used by the normal senders (a /30).
const EXTRA: [u8; 4] = [4, 5, 6, 7];
/// Zombies flooding during the CPU measurement.
const FLOODERS: usize = 10;
/// Zombies measured one at a time for latency (and as many CLI
/// quarantines): enough that the p99 is not simply the slowest one.
const LATENCY_HOSTS: usize = 100;
/// The host numbers measured in each latency namespace: its own address
/// and three more routed to it ([`LATENCY_EXTRA`]).
const LATENCY_AT: [u8; 4] = [2, LATENCY_EXTRA[0], LATENCY_EXTRA[1], LATENCY_EXTRA[2]];
/// More host numbers per subscriber for the latency zombies (a /30).
const LATENCY_EXTRA: [u8; 4] = [8, 9, 10, 11];
/// First subscriber of the latency zombies, and of the CLI reference.
const LATENCY_FROM: usize = 100;
const CLI_FROM: usize = 150;
/// Length of each CPU measurement.
const PHASE: Duration = Duration::from_secs(6);
/// A normal sender's pace: one attempt per address every 2 s, 5 in the
/// lab's 10 s window, a quarter of the threshold (20), one destination.
const NORMAL_EVERY: Duration = Duration::from_secs(2);
/// A zombie's pace: 200 attempts a second, round robin over 64 mail servers.
const FLOOD_EVERY: Duration = Duration::from_millis(5);
/// How long a quarantine may take before the measurement gives up.
const ENFORCED_WITHIN: Duration = Duration::from_secs(3);
/// Pause between two probes of the walled garden.
const PROBE_PAUSE: Duration = Duration::from_micros(500);
/// Linux's EINPROGRESS: a non-blocking connect whose SYN is on its way.
const EINPROGRESS: i32 = 115;

/// Runs the detection benchmark and returns its Markdown section.
pub fn run(bin: &Path, runs: usize) -> Result<String> {
    let runs = runs.max(1);
    let lab = crate::lab::with_gateway_timings("bdet", SUBSCRIBERS, bin).up()?;
    let measured = crate::lab::measure_in(lab, |lab| measure(lab, bin, runs))?;
    report(runs, &measured)
}

/// Everything one lab measured.
#[derive(Debug)]
struct Measured {
    /// The config's attempts threshold.
    threshold: u32,
    /// Attempts back to back the kernel's meter lets pass.
    passes: u32,
    idle: Vec<Phase>,
    normal: Vec<Phase>,
    zombies: Vec<Phase>,
    /// Crossing to enforced, per zombie.
    det: Samples,
    /// cordond's own latency histogram over the same zombies.
    own: Vec<(f64, f64)>,
    /// `cordon quarantine` to enforced, per host.
    cli: Samples,
}

/// Everything measured in one lab.
fn measure(lab: &Lab, bin: &Path, runs: usize) -> Result<Measured> {
    add_addresses(lab)?;
    let pid = crate::process::find(lab.gateway().netns(), "cordond")?;
    let threshold = lab.config().detection.smtp_attempts.threshold;
    let passes = kernel_burst(lab)?;

    // CPU: each load `runs` times, the idle reference first, so that no
    // quarantine from a zombie phase is still held (and checked) in it.
    let mut idle = Vec::new();
    let mut normal = Vec::new();
    let mut zombies = Vec::new();
    for _ in 0..runs {
        idle.push(phase(lab, pid, false, &[])?);
    }
    for _ in 0..runs {
        normal.push(phase(lab, pid, true, &[])?);
    }
    for r in 0..runs {
        let set: Vec<usize> = (0..FLOODERS)
            .map(|j| (r * FLOODERS + j) % LATENCY_FROM)
            .collect();
        zombies.push(phase(lab, pid, true, &set)?);
    }

    // Latency, with the normal senders running.
    let subs = lab.subscribers();
    let gw = lab.gateway();
    let (n, f) = (AtomicU64::new(0), AtomicU64::new(0));
    let hist = "cordon_detection_latency_seconds";
    let (det, own, cli) = with_load(&subs, true, &[], (&n, &f), || {
        std::thread::sleep(Duration::from_millis(500));
        let before = Scrape::fetch(&gw)?.buckets(hist);
        let mut det = Vec::new();
        for (h, src) in latency_hosts(&subs, LATENCY_FROM) {
            det.push(zombie_latency(h, src, passes)?);
        }
        // Each crossing is observed when its asker hears back, after the
        // conntrack flush, which waits for a pause in the quarantines.
        let after = answered(&gw, hist, &before, det.len())?;
        let own = bucket_delta(&before, &after);
        let mut cli = Vec::new();
        for (h, src) in latency_hosts(&subs, CLI_FROM) {
            cli.push(cli_latency(lab, bin, h, src)?);
        }
        Ok((Samples::new(det), own, Samples::new(cli)))
    })?;
    Ok(Measured {
        threshold,
        passes,
        idle,
        normal,
        zombies,
        det,
        own,
        cli,
    })
}

/// The burst of the kernel's attempts meter for IPv4 (`update @smtp_rate_v4
/// { ip saddr limit rate over R burst B packets }`): on this kernel B
/// attempts back to back pass and the next one crosses.
pub(crate) fn kernel_burst(lab: &Lab) -> Result<u32> {
    let table = &lab.config().table;
    let out = lab
        .gateway()
        .exec("nft", &["list", "chain", "inet", table, "smtp_attempt"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("@smtp_rate_v4"))
        .and_then(|l| l.split(" burst ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|b| b.parse().ok())
        .context("no burst in the smtp_rate_v4 rule of smtp_attempt")
}

/// The [`LATENCY_HOSTS`] measured from namespace `from` on: each
/// namespace's [`LATENCY_AT`] addresses in turn.
fn latency_hosts(
    subs: &[cordon_lab::Host],
    from: usize,
) -> impl Iterator<Item = (&cordon_lab::Host, std::net::Ipv4Addr)> {
    subs.iter()
        .enumerate()
        .skip(from)
        .flat_map(|(i, h)| LATENCY_AT.map(|x| (h, load::subscriber_addr(i, x))))
        .take(LATENCY_HOSTS)
}

/// The histogram once it holds `count` observations more than `before`
/// (polled, up to 5 s; then as it stands).
fn answered(
    gw: &cordon_lab::Host,
    hist: &str,
    before: &[(f64, f64)],
    count: usize,
) -> Result<Vec<(f64, f64)>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = Scrape::fetch(gw)?.buckets(hist);
        let seen = bucket_delta(before, &now).last().map_or(0.0, |(_, n)| *n);
        if seen >= count as f64 || std::time::Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
