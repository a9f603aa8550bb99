//! Scale: cordond's resident memory with 100 000 subscribers seen (in the
//! kernel's recent-SMTP set) and 10 000 quarantined, beside the same cordond
//! idle with an empty store.
//!
//! The 100 000 are put in `smtp_recent_v4` directly, with `nft add element`
//! in batches: that is what the packet path would have done for 100 000
//! senders (a first version of cordond listed it on every quiet check and
//! DNSBL scan; now only the first quiet round after a burst does). The 10 000
//! quarantines go through the control socket, as an operator's tools would
//! send them. The sets themselves live in kernel memory, not cordond's.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_config::{DnsblZone, Prefix};
use cordon_lab::Lab;

use crate::metrics::Scrape;
use crate::process::{Cpu, meminfo_kib, mib, status_kib};
use crate::stats::{Samples, ratio, spread};

/// Subscribers the kernel has seen sending.
const SEEN: usize = 100_000;
/// Of them, quarantined.
const QUARANTINED: usize = 10_000;
/// Elements per `nft` transaction when filling the recent set.
const BATCH: usize = 10_000;
/// Parallel control connections for the quarantines.
const CONNECTIONS: usize = 64;
/// The quiet period: long enough that no seeded element expires during a
/// run; cordond checks quietness every 1/30 of it.
const QUIET: Duration = Duration::from_secs(60);
/// Each measurement window once everything is seeded (quiet checks every
/// 2 s).
const WATCH: Duration = Duration::from_secs(8);
/// The IPv4 subscriber prefix, widened from the lab's /16 to hold 100 000.
const PREFIX: &str = "100.64.0.0/14";

/// The `i`-th seen subscriber (from 100.64.16.0; the lab's own are lower).
fn seen(i: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(100, 64, 16, 0));
    Ipv4Addr::from(base + u32::try_from(i).unwrap_or(0))
}

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Run {
    idle_rss: u64,
    idle_hwm: u64,
    idle_cpu: Duration,
    idle_cli: Duration,
    rss: u64,
    hwm: u64,
    cpu: Duration,
    cli: Duration,
}

fn nft_in(netns: &str, script: &str) -> Result<()> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", netns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft")?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("nft -f: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// One `cordon quarantine` from start to exit (store and kernel done).
fn cli_quarantine(bin: &Path, lab: &Lab, addr: Ipv4Addr) -> Result<Duration> {
    let gw = lab.gateway();
    let t = Instant::now();
    let out = Command::new(bin.join("cordon"))
        .arg("--socket")
        .arg(gw.control_socket())
        .arg("--config")
        .arg(gw.config_path())
        .args(["quarantine", &addr.to_string(), "--reason", "bench"])
        .output()?;
    let took = t.elapsed();
    if !out.status.success() {
        bail!(
            "cordon quarantine {addr}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(took)
}

/// CPU share of one core used by `pid` over `d`.
fn cpu_share(pid: i32, d: Duration) -> Result<Duration> {
    let c0 = Cpu::of(pid)?;
    let t = Instant::now();
    std::thread::sleep(d);
    Ok(Cpu::of(pid)?
        .since(&c0)
        .own
        .div_f64(t.elapsed().as_secs_f64()))
}

/// A lab holding 100 000 seen and 10 000 quarantined, measured `runs`
/// times over [`WATCH`] each.
fn measure(bin: &Path, runs: usize) -> Result<(Vec<Run>, Duration, i64, f64)> {
    let zone = DnsblZone {
        zone: "xbl.bench.invalid"
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
        weight: 1,
    };
    let wide: Prefix = PREFIX.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let lab = crate::lab::with_cordond("bscale", bin)
        .subscribers(1)
        .quiet_period(QUIET)
        .configure(move |c| {
            c.subscribers.prefixes.retain(|p| !p.is_ipv4());
            c.subscribers.prefixes.insert(0, wide);
            // A block list makes cordond read the recent set on a timer.
            c.detection.dnsbl.zones = vec![zone.clone()];
        })
        .up()?;
    let gw = lab.gateway();
    let pid = crate::process::find(gw.netns(), "cordond")?;

    // The reference: the same cordond, started, idle, empty store.
    let idle_cpu = cpu_share(pid, Duration::from_secs(3))?;
    let idle_rss = status_kib(pid, "VmRSS")?;
    let idle_hwm = status_kib(pid, "VmHWM")?;
    let idle_cli = cli_quarantine(bin, &lab, seen(SEEN))?;

    // 100 000 seen, then 10 000 of them quarantined. The elements carry a
    // timeout longer than the run, so none expires (and no quarantined host
    // turns quiet) however long seeding takes.
    let slab0 = meminfo_kib("Slab")?;
    let all: Vec<String> = (0..SEEN).map(|i| seen(i).to_string()).collect();
    let table = &lab.config().table;
    for chunk in all.chunks(BATCH) {
        let elements: Vec<String> = chunk.iter().map(|a| format!("{a} timeout 30m")).collect();
        nft_in(
            gw.netns(),
            &format!(
                "add element inet {table} smtp_recent_v4 {{ {} }}\n",
                elements.join(", ")
            ),
        )?;
    }
    let slab = i64::try_from(meminfo_kib("Slab")?).unwrap_or(0) - i64::try_from(slab0).unwrap_or(0);
    let seeded =
        crate::control::bulk_quarantine(gw.control_socket(), &all[..QUARANTINED], CONNECTIONS)?;
    eprintln!("cordon-bench: scale: {QUARANTINED} quarantines in {seeded:?}");

    // Watch it hold them: every quarantine is past its hold and due for a
    // quiet check every 2 s, and the DNSBL timer scans the set as often.
    let mut v = Vec::new();
    for r in 0..runs {
        let cpu = cpu_share(pid, WATCH)?;
        let cli = cli_quarantine(bin, &lab, seen(SEEN + 1 + r))?;
        v.push(Run {
            idle_rss,
            idle_hwm,
            idle_cpu,
            idle_cli,
            rss: status_kib(pid, "VmRSS")?,
            hwm: status_kib(pid, "VmHWM")?,
            cpu,
            cli,
        });
    }
    let held = Scrape::fetch(&gw)?.sum("cordon_hosts{state=\"quarantined\"}");
    drop(lab);
    Ok((v, seeded, slab, held))
}

fn kib_spread(v: &[Run], pick: impl Fn(&Run) -> u64) -> (u64, String) {
    let mut x: Vec<u64> = v.iter().map(pick).collect();
    x.sort_unstable();
    let med = x[x.len() / 2];
    (
        med,
        format!("{} ({}–{})", mib(med), mib(x[0]), mib(x[x.len() - 1])),
    )
}

fn share(d: Duration) -> String {
    format!("{:.0} %", d.as_secs_f64() * 100.0)
}

/// Runs the scale benchmark and returns its Markdown section.
pub fn run(bin: &Path, runs: usize) -> Result<String> {
    let (v, seeded, slab, held) = measure(bin, runs.max(1))?;
    let (rss, rss_s) = kib_spread(&v, |r| r.rss);
    let (idle, idle_s) = kib_spread(&v, |r| r.idle_rss);
    let (hwm, hwm_s) = kib_spread(&v, |r| r.hwm);
    let (idle_hwm, idle_hwm_s) = kib_spread(&v, |r| r.idle_hwm);
    let cpu = Samples::new(v.iter().map(|r| r.cpu).collect());
    let idle_cpu = Samples::new(v.iter().map(|r| r.idle_cpu).collect());
    let cli = Samples::new(v.iter().map(|r| r.cli).collect());
    let idle_cli = Samples::new(v.iter().map(|r| r.idle_cli).collect());
    let x = |a: u64, b: u64| {
        if b == 0 {
            "–".to_owned()
        } else {
            format!("{:.2}×", a as f64 / b as f64)
        }
    };
    let runs = v.len();
    let kib = |k: i64| mib(u64::try_from(k).unwrap_or(0));
    let buckets = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_buckets")
        .map(|b| b.trim().to_owned())
        .unwrap_or_else(|_| "all".into());

    let mut s = String::new();
    writeln!(
        s,
        "## Scale: cordond with 100 000 subscribers seen and 10 000 quarantined\n"
    )?;
    writeln!(
        s,
        "cordond in a lab gateway: {SEEN} subscriber addresses put in the kernel's recent-SMTP set with `nft add element` in batches of {BATCH} \
         (what the packet path does for hosts that try port 25), then {QUARANTINED} of them quarantined through the control socket ({CONNECTIONS} connections). \
         A DNS block list is configured (it used to make cordond list that set on a timer; the kernel now logs new senders instead). The quiet period is {} s, so every quarantine past its 2 s hold is due \
         for a quiet check every 2 s (a production quiet period of 2 h checks every 30 s). Measured over {runs} windows of {} s once everything is in, \
         median (min–max). Reference: the same cordond before any of it, idle with an empty store, same run.\n",
        QUIET.as_secs(),
        WATCH.as_secs()
    )?;
    writeln!(
        s,
        "| measure | {SEEN} seen, {QUARANTINED} quarantined | idle, empty store (reference) | ratio |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(
        s,
        "| cordond resident memory (VmRSS) | {rss_s} | {idle_s} | {} |",
        x(rss, idle)
    )?;
    writeln!(
        s,
        "| cordond peak resident memory (VmHWM) | {hwm_s} | {idle_hwm_s} | {} |",
        x(hwm, idle_hwm)
    )?;
    writeln!(
        s,
        "| cordond CPU, share of one core | {} ({}–{}) | {} ({}–{}) | – |",
        share(cpu.median()),
        share(cpu.min()),
        share(cpu.max()),
        share(idle_cpu.median()),
        share(idle_cpu.min()),
        share(idle_cpu.max())
    )?;
    writeln!(
        s,
        "| one more `cordon quarantine`, start to exit | {} | {} | {} |",
        spread(&cli),
        spread(&idle_cli),
        ratio(cli.median(), idle_cli.median())
    )?;
    writeln!(
        s,
        "| {QUARANTINED} quarantines through the control socket, {SEEN} seen | {:.1} s ({:.1} ms each) | – | – |",
        seeded.as_secs_f64(),
        seeded.as_secs_f64() * 1000.0 / QUARANTINED as f64
    )?;
    writeln!(
        s,
        "| kernel: the machine's slab memory before and after adding the {SEEN} elements (approximate) | {} | – | – |",
        kib(slab)
    )?;
    writeln!(
        s,
        "\nThe sets live in kernel memory (the slab row), not in cordond; cordond keeps the held hosts ({held:.0} quarantined at the end: the {QUARANTINED} and the CLI rows' own). \
         Nothing lists the recent-SMTP set on a timer any more: quiet checks list only the quarantined hosts' own attempts (`smtp_held`) and look each \
         quarantine's earlier attempts up once, and the DNS block lists are asked about senders as the kernel logs them (one NFLOG event per sender per \
         DNSBL interval; here the {SEEN} were added by hand, so no events). What cordond does per round follows the number quarantined. \
         Conntrack entries are deleted with one dump per batch ({buckets} buckets here).\n"
    )?;
    Ok(s)
}
