//! The mail load: 1 000 normal senders at a quarter of the threshold and
//! zombies flooding, each from its own subscriber namespace, and what one
//! phase of it cost cordond. Apart from the measurements because this is the
//! traffic generator: raw non-blocking SYNs, the extra addresses and routes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_lab::{Host, Lab};
use socket2::{Domain, Protocol, Socket, Type};

use super::{EINPROGRESS, EXTRA, FLOOD_EVERY, LATENCY_EXTRA, NORMAL_EVERY, PHASE, SUBSCRIBERS};
use crate::metrics::Scrape;
use crate::process::Cpu;

/// The i-th "other network" mail server, port 25.
pub(crate) fn mail_server(i: usize) -> SocketAddr {
    let last = u8::try_from(i % 64 + 1).unwrap_or(1);
    SocketAddr::new(Ipv4Addr::new(198, 51, 100, last).into(), 25)
}

pub(crate) fn subscriber_addr(i: usize, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, u8::try_from(i + 1).unwrap_or(255), host)
}

/// Sends one SYN from `src` to `dst` without waiting for the answer. The
/// socket is returned so that the caller decides when it closes.
pub(crate) fn syn(src: Ipv4Addr, dst: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(src.into(), 0).into())?;
    match s.connect(&dst.into()) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => Ok(s),
        Err(e) => Err(e),
    }
}

/// Sleeps until `until` or until `stop`, in short steps.
fn nap(until: Instant, stop: &AtomicBool) {
    let now = Instant::now();
    if until > now && !stop.load(Ordering::Relaxed) {
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// Subscriber `i`'s four normal senders, each one attempt per
/// [`NORMAL_EVERY`] to its own mail server, all 1 000 spread evenly.
fn normal_senders(i: usize, stop: &AtomicBool, sent: &AtomicU64) {
    let n = EXTRA.len();
    let start = Instant::now();
    let slots = u32::try_from(SUBSCRIBERS * n).unwrap_or(u32::MAX);
    let mut due: Vec<Instant> = (0..n)
        .map(|k| start + NORMAL_EVERY * u32::try_from(i * n + k).unwrap_or(0) / slots)
        .collect();
    let mut held: Vec<Option<Socket>> = (0..n).map(|_| None).collect();
    while !stop.load(Ordering::Relaxed) {
        let Some((k, next)) = due.iter().copied().enumerate().min_by_key(|(_, d)| *d) else {
            return;
        };
        if next > Instant::now() {
            nap(next, stop);
            continue;
        }
        held[k] = syn(subscriber_addr(i, EXTRA[k]), mail_server(i * n + k)).ok();
        sent.fetch_add(1, Ordering::Relaxed);
        due[k] += NORMAL_EVERY;
    }
}

/// A zombie at subscriber `i`'s own address, flooding until `stop`.
fn flooder(i: usize, stop: &AtomicBool, sent: &AtomicU64) {
    let src = subscriber_addr(i, 2);
    let mut held = std::collections::VecDeque::new();
    let mut next = Instant::now();
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        if next > Instant::now() {
            nap(next, stop);
            continue;
        }
        if let Ok(s) = syn(src, mail_server(k)) {
            held.push_back(s);
            if held.len() > 64 {
                held.pop_front();
            }
        }
        k += 1;
        sent.fetch_add(1, Ordering::Relaxed);
        next += FLOOD_EVERY;
    }
}

/// What one load phase cost cordond.
#[derive(Debug, Clone, Copy)]
pub(super) struct Phase {
    pub(super) cpu: Cpu,
    pub(super) detections: f64,
    pub(super) normal_sent: u64,
    pub(super) flood_sent: u64,
    pub(super) wall: Duration,
}

/// Runs `during` with the normal senders (if `normal`) and the zombies in
/// `flooders` sending; every sender is stopped and joined before returning,
/// also when `during` fails.
pub(super) fn with_load<T>(
    subs: &[Host],
    normal: bool,
    flooders: &[usize],
    counts: (&AtomicU64, &AtomicU64),
    during: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let stop = &stop;
        let mut senders = Vec::new();
        if normal {
            for (i, h) in subs.iter().enumerate() {
                senders.push(s.spawn(move || h.run(|| normal_senders(i, stop, counts.0))));
            }
        }
        for &z in flooders {
            let h = &subs[z];
            senders.push(s.spawn(move || h.run(|| flooder(z, stop, counts.1))));
        }
        let result = during();
        stop.store(true, Ordering::Relaxed);
        let mut failed = None;
        for t in senders {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(anyhow::Error::from(e)),
                Err(_) => failed = Some(anyhow::anyhow!("a sender thread panicked")),
            }
        }
        match (result, failed) {
            (Err(e), _) | (Ok(_), Some(e)) => Err(e),
            (Ok(r), None) => Ok(r),
        }
    })
}

/// cordond's CPU and detections over [`PHASE`] of the given load.
pub(super) fn phase(lab: &Lab, pid: i32, normal: bool, flooders: &[usize]) -> Result<Phase> {
    let gw = lab.gateway();
    let subs = lab.subscribers();
    let (n, f) = (AtomicU64::new(0), AtomicU64::new(0));
    let before = Scrape::fetch(&gw)?;
    let cpu0 = Cpu::of(pid)?;
    let t = Instant::now();
    with_load(&subs, normal, flooders, (&n, &f), || {
        std::thread::sleep(PHASE);
        Ok(())
    })?;
    // Let cordond finish what the last packets started.
    std::thread::sleep(Duration::from_millis(300));
    let cpu = Cpu::of(pid)?.since(&cpu0);
    let wall = t.elapsed();
    let after = Scrape::fetch(&gw)?;
    eprintln!(
        "cordon-bench: detection phase (normal {normal}, zombies {}): cordond {:?} + nft {:?}",
        flooders.len(),
        cpu.own,
        cpu.children
    );
    Ok(Phase {
        cpu,
        detections: after.sum("cordon_detections_total") - before.sum("cordon_detections_total"),
        normal_sent: n.load(Ordering::Relaxed),
        flood_sent: f.load(Ordering::Relaxed),
        wall,
    })
}

/// Gives every subscriber the extra addresses of [`EXTRA`] (the normal
/// senders) and [`LATENCY_EXTRA`] (more latency zombies), routed to it
/// by the gateway (a /30 via its own address, as a BNG routes a delegated
/// prefix). On-link addresses would cost the gateway a neighbour entry
/// each, and 1 000 more overflow the kernel's ARP table (`gc_thresh3` is
/// 1 024 for all namespaces together).
pub(super) fn add_addresses(lab: &Lab) -> Result<()> {
    routed_to_subscribers(lab, |i| {
        let addrs = EXTRA
            .iter()
            .chain(&LATENCY_EXTRA)
            .map(|&x| subscriber_addr(i, x))
            .collect();
        let nets = [EXTRA[0], LATENCY_EXTRA[0]]
            .map(|x| format!("{}/30", subscriber_addr(i, x)))
            .into();
        (addrs, nets)
    })
}

/// Puts the addresses `plan(i).0` on subscriber namespace `i`'s loopback
/// and has the gateway route each prefix of `plan(i).1` (`net/len`) to it
/// via the subscriber's own link address, as a BNG routes a delegated
/// prefix: one `ip -batch` per namespace, one for the gateway.
pub(crate) fn routed_to_subscribers(
    lab: &Lab,
    plan: impl Fn(usize) -> (Vec<Ipv4Addr>, Vec<String>),
) -> Result<()> {
    let mut routes = String::new();
    for (i, h) in lab.subscribers().iter().enumerate() {
        let (addrs, prefixes) = plan(i);
        let script: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/32 dev lo\n"))
            .collect();
        ip_batch(h.netns(), &script)?;
        let via = subscriber_addr(i, 2);
        for p in prefixes {
            writeln!(routes, "route add {p} via {via} dev sub{i}")?;
        }
    }
    ip_batch(lab.gateway().netns(), &routes)
}

/// `ip -n NETNS -batch -` with `script` on its input.
pub(crate) fn ip_batch(netns: &str, script: &str) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["-n", netns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running ip -batch")?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "ip -n {netns} -batch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
