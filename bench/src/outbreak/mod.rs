//! Outbreak: 10 000 subscriber addresses start flooding port 25 within
//! 10 s, beside 1 000 normal senders below the thresholds, as when a worm
//! turns thousands of subscribers into zombies at once.
//!
//! The lab has 250 subscriber namespaces; each gets 40 zombie addresses
//! (`.64`–`.103` of its /24) and 4 normal ones (`.8`–`.11`), routed to it
//! by the gateway as a BNG routes a delegated prefix (on-link addresses
//! would cost a neighbour entry each). Each zombie sends the attempts the
//! kernel's meter lets pass, back to back, then the one that crosses; the
//! moment it sends that one is its crossing. Its enforcement is the moment
//! its element enters the quarantine set, as `nft monitor` in the gateway
//! reports it. The kernel's own record of crossings is the `alerted_v4`
//! set (every crossing the kernel logs adds its source for 10 s), read
//! every 2 s; a crossing it logged that no quarantine followed is an event
//! lost.
//!
//! `load` makes the traffic, `watch` follows the kernel, `report` writes
//! the Markdown.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use cordon_lab::Lab;
use cordon_lab::addresses::MAX_SUBSCRIBERS;

use crate::metrics::{Scrape, bucket_delta};
use crate::process::Cpu;

mod load;
mod report;
mod watch;

/// Subscriber namespaces (the lab's maximum).
const NAMESPACES: usize = MAX_SUBSCRIBERS;
/// Zombie addresses per namespace, from host number [`ZOMBIE_FROM`].
const ZOMBIES_PER: usize = 40;
const ZOMBIE_FROM: u8 = 64;
/// Normal senders per namespace, from host number [`NORMAL_FROM`].
const NORMAL_PER: usize = 4;
const NORMAL_FROM: u8 = 8;
/// The zombies' crossings are spread evenly over this long.
const SPREAD: Duration = Duration::from_secs(10);
/// A normal sender's pace: one attempt every 2 s to one server, 5 in the
/// lab's 10 s window against a threshold of 20.
const NORMAL_EVERY: Duration = Duration::from_secs(2);
/// How long after the last crossing every zombie must be enforced before
/// the measurement stops waiting (the ones still missing are reported).
const SETTLE: Duration = Duration::from_secs(20);

/// Zombie `k` of namespace `i`.
fn zombie(i: usize, k: usize) -> Ipv4Addr {
    host(i, ZOMBIE_FROM + u8::try_from(k).unwrap_or(0))
}

/// Normal sender `k` of namespace `i`.
fn normal(i: usize, k: usize) -> Ipv4Addr {
    host(i, NORMAL_FROM + u8::try_from(k).unwrap_or(0))
}

fn host(i: usize, n: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, u8::try_from(i + 1).unwrap_or(255), n)
}

/// Everything one outbreak measured.
#[derive(Debug)]
struct Measured {
    /// Attempts the kernel's meter lets pass before one crosses.
    passes: u32,
    /// Each zombie's crossing (the bench's clock).
    crossed: BTreeMap<Ipv4Addr, Instant>,
    /// Each quarantine's entry into the kernel's set (`nft monitor`).
    enforced: BTreeMap<Ipv4Addr, Instant>,
    /// Sources the kernel logged a crossing for (`alerted_v4`).
    logged: BTreeSet<Ipv4Addr>,
    /// The first crossing to the last, as sent.
    sent_over: Duration,
    cpu: Cpu,
    wall: Duration,
    hwm_kib: u64,
    rss_before_kib: u64,
    normal_sent: u64,
    /// Attempts the senders could not send.
    failed: u64,
    /// cordond's own crossing-to-enforced histogram over the outbreak.
    own: Vec<(f64, f64)>,
    /// Kernel transactions and store commits cordond made.
    transactions: f64,
    commits: f64,
    flushes: f64,
    /// Seconds cordond spent in kernel changes, store commits and
    /// conntrack flushes (its histograms' sums).
    spent: [f64; 3],
    detections: f64,
}

/// Runs the outbreak and returns its Markdown section.
pub fn run(bin: &Path) -> Result<String> {
    let lab = crate::lab::with_gateway_timings("bob", NAMESPACES, bin).up()?;
    report::report(&crate::lab::measure_in(lab, measure)?)
}

fn measure(lab: &Lab) -> Result<Measured> {
    load::add_addresses(lab)?;
    let gw = lab.gateway();
    let pid = crate::process::find(gw.netns(), "cordond")?;
    let passes = crate::detection::kernel_burst(lab)?;
    let monitor = watch::Monitor::start(gw.netns(), &lab.config().table)?;
    let sampler = watch::Alerted::start(gw.netns(), &lab.config().table);
    let hist = "cordon_detection_latency_seconds";
    let before = Scrape::fetch(&gw)?;
    let rss_before_kib = crate::process::status_kib(pid, "VmRSS")?;
    let cpu0 = Cpu::of(pid)?;
    let t0 = Instant::now();
    let zombies: Vec<Ipv4Addr> = (0..NAMESPACES)
        .flat_map(|i| (0..ZOMBIES_PER).map(move |k| zombie(i, k)))
        .collect();
    let sent = load::outbreak(lab, passes, || {
        monitor.wait_for(&zombies, SPREAD + SETTLE);
    })?;
    let cpu = Cpu::of(pid)?.since(&cpu0);
    let wall = t0.elapsed();
    let hwm_kib = crate::process::status_kib(pid, "VmHWM")?;
    let after = Scrape::fetch(&gw)?;
    let logged = sampler.stop();
    let enforced = monitor.stop();
    let crossed = sent.crossed;
    let first = crossed.values().min().copied();
    let last = crossed.values().max().copied();
    let sent_over = match (first, last) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    };
    let delta = |name: &str| after.sum(name) - before.sum(name);
    Ok(Measured {
        passes,
        crossed,
        enforced,
        logged,
        sent_over,
        cpu,
        wall,
        hwm_kib,
        rss_before_kib,
        normal_sent: sent.normal,
        failed: sent.failed,
        own: bucket_delta(&before.buckets(hist), &after.buckets(hist)),
        transactions: delta("cordon_rule_change_seconds_count"),
        commits: delta("cordon_store_write_seconds_count"),
        flushes: delta("cordon_conntrack_flush_seconds_count"),
        spent: [
            delta("cordon_rule_change_seconds_sum"),
            delta("cordon_store_write_seconds_sum"),
            delta("cordon_conntrack_flush_seconds_sum"),
        ],
        detections: delta("cordon_detections_total"),
    })
}
