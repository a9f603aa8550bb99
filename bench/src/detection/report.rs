//! The benchmark's Markdown section: the CPU table per load, the latency
//! table against the CLI reference, and the reading of both. Apart because
//! it only formats what [`Measured`] holds.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::load::Phase;
use super::{EXTRA, FLOODERS, LATENCY_HOSTS, Measured, NORMAL_EVERY, SUBSCRIBERS};
use crate::metrics::quantile;
use crate::stats::{Samples, ms, ratio};

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

/// The single-host target: a crossing enforced within this, p99.
const DETECTION_P99: Duration = Duration::from_millis(5);

pub(super) fn report(runs: usize, m: &Measured) -> Result<String> {
    let (threshold, passes) = (m.threshold, m.passes);
    let (idle, normal, zombies) = (&m.idle, &m.normal, &m.zombies);
    let (det, own, cli) = (&m.det, &m.own, &m.cli);
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
        "\nLatency: {LATENCY_HOSTS} zombies one after another (four addresses in each of 25 namespaces), with the {senders} normal senders running. Each sends {passes} attempts back to back to one mail server \
         (the kernel meter's burst for a threshold of {threshold} in 10 s, read from the live ruleset; attempt {crossing} crosses), then the crossing one, time stamped just before it is sent; enforced is when its next connection to the web server (192.0.2.80:443) is reset \
         by the walled garden (polled every 0.5 ms). Reference: an operator's `cordon quarantine` of as many other hosts, each started from that host's namespace \
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
    let met = det.percentile(99) < DETECTION_P99;
    writeln!(
        s,
        "\nTarget: detection crossing to enforced p99 under {}: {}.",
        ms(DETECTION_P99),
        if met { "met" } else { "not met" }
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
         however fast they flood. Detection enforces first: the crossing goes to the core at once, in one request with every crossing read with it, \
         and the core puts its quarantine into the kernel (marked unrecorded) before the store commits, where the CLI's waits for the commit (an fsync); \
         the host's attempt count and MAC are looked up only afterwards and filled into the record. \
         cordond's own histogram is coarse (buckets double from 1 ms): it starts when cordond reads the event and ends when the quarantine went into the kernel, and is read once every crossing has been answered (answers wait for the conntrack flush, which waits for a pause in the quarantines). \
         Why the tail is where it is (a conntrack dump holds up every nftables transaction made during it, so detection's own flushes wait for a pause): \
         ARCHITECTURE.md, \"A crossing is enforced first\".\n",
        (n - i).max(0.0),
        median_u(normal.iter().map(|p| p.detections)),
        (z - n).max(0.0) * 1000.0 / events,
    )?;
    Ok(s)
}
