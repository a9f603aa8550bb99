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

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_lab::addresses::{MAX_SUBSCRIBERS, WEB_V4};
use cordon_lab::{Host, Lab, unique_name};
use socket2::{Domain, Protocol, Socket, Type};

use crate::metrics::{Scrape, bucket_delta, quantile};
use crate::process::Cpu;
use crate::stats::{Samples, ms, ratio};

/// Subscriber namespaces (the lab's maximum).
const SUBSCRIBERS: usize = MAX_SUBSCRIBERS;
/// Extra host numbers per subscriber used by the normal senders (a /30).
const EXTRA: [u8; 4] = [4, 5, 6, 7];
/// Zombies flooding during the CPU measurement.
const FLOODERS: usize = 10;
/// Zombies measured one at a time for latency (and as many CLI quarantines).
const LATENCY_HOSTS: usize = 30;
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

/// The i-th "other network" mail server, port 25.
fn mail_server(i: usize) -> SocketAddr {
    let last = u8::try_from(i % 64 + 1).unwrap_or(1);
    SocketAddr::new(Ipv4Addr::new(198, 51, 100, last).into(), 25)
}

fn subscriber_addr(i: usize, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, u8::try_from(i + 1).unwrap_or(255), host)
}

/// Sends one SYN from `src` to `dst` without waiting for the answer. The
/// socket is returned so that the caller decides when it closes.
fn syn(src: Ipv4Addr, dst: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::new(src.into(), 0).into())?;
    match s.connect(&dst.into()) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => Ok(s),
        Err(e) => Err(e),
    }
}

/// One connection from `src` to the web server on 443: `Ok(true)` when it
/// is reset (the walled garden's answer, so the host is quarantined in the
/// kernel), `Ok(false)` when it connects.
fn garden_resets(src: Ipv4Addr) -> std::io::Result<bool> {
    let web = SocketAddr::new(WEB_V4.into(), 443);
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SocketAddr::new(src.into(), 0).into())?;
    match s.connect_timeout(&web.into(), Duration::from_millis(200)) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(true),
        Err(e) => Err(e),
    }
}

/// Polls [`garden_resets`] until it holds; the time since `t0`, or what the
/// last attempt said.
fn enforced_since(src: Ipv4Addr, t0: Instant) -> Result<Duration, String> {
    loop {
        let last = match garden_resets(src) {
            Ok(true) => return Ok(t0.elapsed()),
            Ok(false) => "it still connected".to_owned(),
            Err(e) => format!("the last probe failed: {e}"),
        };
        if t0.elapsed() > ENFORCED_WITHIN {
            return Err(last);
        }
        // Half a millisecond between probes: fine enough, and it leaves the
        // two cores to cordond rather than to connections to the web server.
        std::thread::sleep(PROBE_PAUSE);
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
struct Phase {
    cpu: Cpu,
    detections: f64,
    normal_sent: u64,
    flood_sent: u64,
    wall: Duration,
}

/// Runs `during` with the normal senders (if `normal`) and the zombies in
/// `flooders` sending; every sender is stopped and joined before returning,
/// also when `during` fails.
fn with_load<T>(
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
fn phase(lab: &Lab, pid: i32, normal: bool, flooders: &[usize]) -> Result<Phase> {
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

/// Gives every subscriber the extra addresses of [`EXTRA`], routed to it
/// by the gateway (a /30 via its own address, as a BNG routes a delegated
/// prefix). On-link addresses would cost the gateway a neighbour entry
/// each, and 1 000 more overflow the kernel's ARP table (`gc_thresh3` is
/// 1 024 for all namespaces together).
fn add_addresses(lab: &Lab) -> Result<()> {
    let mut routes = String::new();
    for (i, h) in lab.subscribers().iter().enumerate() {
        let script: String = EXTRA
            .iter()
            .map(|&x| format!("addr add {}/32 dev lo\n", subscriber_addr(i, x)))
            .collect();
        ip_batch(h.netns(), &script)?;
        writeln!(
            routes,
            "route add {}/30 via {} dev sub{i}",
            subscriber_addr(i, EXTRA[0]),
            subscriber_addr(i, 2)
        )?;
    }
    ip_batch(lab.gateway().netns(), &routes)
}

/// `ip -n NETNS -batch -` with `script` on its input.
fn ip_batch(netns: &str, script: &str) -> Result<()> {
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

/// One zombie measured: `passes` attempts back to back (what the kernel's
/// meter lets through), then the one that crosses (time stamped just before
/// it is sent), then polling until the walled garden resets its web
/// connections.
fn zombie_latency(h: &Host, i: usize, passes: u32) -> Result<Duration> {
    let src = subscriber_addr(i, 2);
    let measured = h.run(|| -> std::io::Result<Result<Duration, String>> {
        if garden_resets(src)? {
            return Ok(Err("it was in the walled garden before it sent".into()));
        }
        let dst = mail_server(0);
        let mut held = Vec::new();
        for _ in 0..passes {
            held.push(syn(src, dst)?);
        }
        let t0 = Instant::now();
        held.push(syn(src, dst)?);
        Ok(enforced_since(src, t0))
    })??;
    measured.map_err(|why| {
        anyhow::anyhow!("zombie {src} was not seen quarantined within {ENFORCED_WITHIN:?}: {why}")
    })
}

/// The reference: an operator's `cordon quarantine`, started from the
/// host's namespace so that the same probe times it.
fn cli_latency(lab: &Lab, bin: &Path, h: &Host, i: usize) -> Result<Duration> {
    let src = subscriber_addr(i, 2);
    let gw = lab.gateway();
    let cordon = bin.join("cordon");
    let measured = h.run(|| -> std::io::Result<Result<Duration, String>> {
        let t0 = Instant::now();
        let mut child = Command::new(&cordon)
            .arg("--socket")
            .arg(gw.control_socket())
            .arg("--config")
            .arg(gw.config_path())
            .args(["quarantine", &src.to_string(), "--reason", "bench"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let took = enforced_since(src, t0);
        child.wait()?;
        Ok(took)
    })??;
    measured.map_err(|why| {
        anyhow::anyhow!("`cordon quarantine {src}` was not seen enforced in time: {why}")
    })
}

/// Runs the detection benchmark and returns its Markdown section.
pub fn run(bin: &Path, runs: usize) -> Result<String> {
    let runs = runs.max(1);
    // Quarantine timings of cordon.example.yaml rather than the lab's
    // seconds: with a 4 s quiet period cordond would read the kernel for
    // every held zombie each second, which no gateway does.
    let lab = Lab::builder(&unique_name("bdet"))
        .subscribers(SUBSCRIBERS)
        .min_hold(Duration::from_secs(30 * 60))
        .quiet_period(Duration::from_secs(2 * 3600))
        .configure(|c| c.quarantine.max_hold = Duration::from_secs(7 * 86_400))
        .lab_exe(bin.join("cordon-lab"))
        .cordond(bin.join("cordond"))
        .up()?;
    let measured = measure(&lab, bin, runs);
    // CORDON_BENCH_KEEP_LOGS=1 keeps cordond's log of a good run too.
    if measured.is_err() || std::env::var_os("CORDON_BENCH_KEEP_LOGS").is_some() {
        keep_logs(&lab);
    }
    drop(lab);
    report(runs, &measured?)
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
        for (i, h) in subs
            .iter()
            .enumerate()
            .skip(LATENCY_FROM)
            .take(LATENCY_HOSTS)
        {
            det.push(zombie_latency(h, i, passes)?);
        }
        let after = Scrape::fetch(&gw)?.buckets(hist);
        let own = bucket_delta(&before, &after);
        let mut cli = Vec::new();
        for (i, h) in subs.iter().enumerate().skip(CLI_FROM).take(LATENCY_HOSTS) {
            cli.push(cli_latency(lab, bin, h, i)?);
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

/// Copies the lab's logs to /tmp so that a failed run can be looked into
/// after the lab is gone.
fn keep_logs(lab: &Lab) {
    for log in lab.logs() {
        if let Some(name) = log.file_name() {
            let to =
                std::env::temp_dir().join(format!("{}-{}", lab.name(), name.to_string_lossy()));
            if std::fs::copy(&log, &to).is_ok() {
                eprintln!("cordon-bench: kept {}", to.display());
            }
        }
    }
}

/// The burst of the kernel's attempts meter for IPv4 (`update @smtp_rate_v4
/// { ip saddr limit rate over R burst B packets }`): on this kernel B
/// attempts back to back pass and the next one crosses.
fn kernel_burst(lab: &Lab) -> Result<u32> {
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

fn cpu_spread(v: &[Phase], pick: impl Fn(&Phase) -> Duration) -> String {
    let s = Samples::new(v.iter().map(&pick).collect());
    format!("{} ({}–{})", secs(s.median()), secs(s.min()), secs(s.max()))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn median_u(v: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn report(runs: usize, m: &Measured) -> Result<String> {
    let Measured {
        threshold,
        passes,
        idle,
        normal,
        zombies,
        det,
        own,
        cli,
    } = m;
    let (threshold, passes) = (*threshold, *passes);
    let senders = SUBSCRIBERS * EXTRA.len();
    let wall = median_u(
        idle.iter()
            .chain(normal)
            .chain(zombies)
            .map(|p| p.wall.as_secs_f64()),
    );
    let mut s = String::new();
    writeln!(
        s,
        "## Detection: crossing to enforced, and cordond's CPU under mail load\n"
    )?;
    writeln!(
        s,
        "A lab of {SUBSCRIBERS} subscriber namespaces with four extra addresses each: {senders} sources each open a TCP/25 connection every {} s \
         (5 per 10 s window against a threshold of {threshold}; the policy resets them), while {FLOODERS} zombies flood 200 attempts a second each \
         over 64 mail servers. cordond's CPU time is utime+stime from `/proc/PID/stat` over {:.1} s of each load (median (min–max) of {runs}); \
         the `nft` processes it starts and waits for are in a column of their own (cutime+cstime). NFLOG events are cordond's `cordon_detections_total`. \
         Reference: the same cordond idle for the same time, same run.\n",
        NORMAL_EVERY.as_secs(),
        wall
    )?;
    writeln!(
        s,
        "| load | SMTP attempts sent | NFLOG events to cordond | cordond CPU | its `nft` processes |"
    )?;
    writeln!(s, "|---|---|---|---|---|")?;
    for (what, v) in [
        ("idle (reference)", idle.as_slice()),
        (&*format!("{senders} normal senders"), normal.as_slice()),
        (
            &*format!("{senders} normal + {FLOODERS} zombies"),
            zombies.as_slice(),
        ),
    ] {
        writeln!(
            s,
            "| {what} | {:.0} | {:.0} | {} | {} |",
            median_u(v.iter().map(|p| (p.normal_sent + p.flood_sent) as f64)),
            median_u(v.iter().map(|p| p.detections)),
            cpu_spread(v, |p| p.cpu.own),
            cpu_spread(v, |p| p.cpu.children),
        )?;
    }
    let crossing = passes + 1;
    let own50 = quantile(own, 0.5).unwrap_or_default();
    let own99 = quantile(own, 0.99).unwrap_or_default();
    writeln!(
        s,
        "\nLatency: {LATENCY_HOSTS} zombies one after another, with the {senders} normal senders running. Each sends {passes} attempts back to back to one mail server \
         (the kernel meter's burst for a threshold of {threshold} in 10 s, read from the live ruleset; attempt {crossing} crosses), then the crossing one, time stamped just before it is sent; enforced is when its next connection to the web server (192.0.2.80:443) is reset \
         by the walled garden (polled every 0.5 ms). Reference: an operator's `cordon quarantine` of another host, started from that host's namespace \
         and timed by the same probe, same run (the kernel alone, crossing to NFLOG delivery, is not measured).\n"
    )?;
    writeln!(
        s,
        "| measure | detection | reference (`cordon quarantine`) | ratio |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(
        s,
        "| crossing to enforced, p50 ({LATENCY_HOSTS}) | {} | {} | {} |",
        ms(det.median()),
        ms(cli.median()),
        ratio(det.median(), cli.median())
    )?;
    writeln!(
        s,
        "| crossing to enforced, p99 | {} | {} | {} |",
        ms(det.percentile(99)),
        ms(cli.percentile(99)),
        ratio(det.percentile(99), cli.percentile(99))
    )?;
    writeln!(
        s,
        "| cordond's own `cordon_detection_latency_seconds` (NFLOG arrival to kernel change), p50 / p99, bucket-interpolated | {} / {} | – | – |",
        ms(own50),
        ms(own99)
    )?;
    let extra = |v: &[Phase]| {
        let m = Samples::new(v.iter().map(|p| p.cpu.own + p.cpu.children).collect()).median();
        m.as_secs_f64()
    };
    let (i, n, z) = (extra(idle), extra(normal), extra(zombies));
    let events = median_u(zombies.iter().map(|p| p.detections)).max(1.0);
    writeln!(
        s,
        "\nThe {senders} normal senders cost cordond {:.2} s of CPU over the idle reference ({} NFLOG events): their attempts are counted in the kernel's sets and never reach userspace, \
         which is the target. The zombies cost what their crossings cost, about {:.0} ms of CPU each (cordond and its `nft` processes) for one event per zombie, \
         however fast they flood. Detection is behind an operator's quarantine by the ratio above: before it enforces, the detection path reads the host's \
         attempt count from the kernel (an `nft get element` process) and dumps the neighbour table for its MAC (waiting up to 100 ms), and only then \
         takes the same store-and-kernel path as the CLI. Enforcing first and adding the count and MAC to the record afterwards would close the gap. \
         cordond's own histogram is coarse (buckets double from 1 ms) and ends later, after the conntrack flush that follows the kernel change, so it reads above the probe.\n",
        (n - i).max(0.0),
        median_u(normal.iter().map(|p| p.detections)),
        (z - n).max(0.0) * 1000.0 / events,
    )?;
    Ok(s)
}
