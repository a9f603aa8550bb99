//! The outbreak's Markdown section: the enforcement latencies, what was
//! logged against what was quarantined, and what it cost cordond.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::{
    Measured, NAMESPACES, NORMAL_EVERY, NORMAL_FROM, NORMAL_PER, SETTLE, SPREAD, ZOMBIES_PER,
};
use crate::metrics::quantile;
use crate::process::mib;
use crate::stats::{Samples, ms};

/// The targets the outbreak is held to.
const P99_TARGET: Duration = Duration::from_secs(1);

pub(super) fn report(m: &Measured) -> Result<String> {
    let zombies = NAMESPACES * ZOMBIES_PER;
    let normals = NAMESPACES * NORMAL_PER;
    let is_zombie = |a: &std::net::Ipv4Addr| a.octets()[3] >= super::ZOMBIE_FROM;
    let is_normal =
        |a: &std::net::Ipv4Addr| (NORMAL_FROM..NORMAL_FROM + 4).contains(&a.octets()[3]);
    let latencies = Samples::new(
        m.crossed
            .iter()
            .filter_map(|(a, t)| m.enforced.get(a).map(|e| e.saturating_duration_since(*t)))
            .collect(),
    );
    let enforced = m.enforced.keys().filter(|a| is_zombie(a)).count();
    let logged = m.logged.iter().filter(|a| is_zombie(a)).count();
    let lost = m
        .logged
        .iter()
        .filter(|a| is_zombie(a) && !m.enforced.contains_key(a))
        .count();
    let never_logged = m.crossed.keys().filter(|a| !m.logged.contains(a)).count();
    let normal_logged = m.logged.iter().filter(|a| is_normal(a)).count();
    let normal_held = m.enforced.keys().filter(|a| is_normal(a)).count();
    let own50 = quantile(&m.own, 0.5).unwrap_or_default();
    let own99 = quantile(&m.own, 0.99).unwrap_or_default();
    let cpu = m.cpu.own + m.cpu.children;
    let wall = m.wall.as_secs_f64();
    let mut s = String::new();
    writeln!(
        s,
        "## Outbreak: {zombies} zombies within {} s\n",
        SPREAD.as_secs()
    )?;
    writeln!(
        s,
        "A lab of {NAMESPACES} subscriber namespaces, each with {ZOMBIES_PER} zombie and {NORMAL_PER} normal addresses routed to it by the gateway. \
         The {zombies} zombies start one after another, evenly over {} s ({:.1} s from the first crossing to the last, as sent): each sends the {} attempts \
         the kernel's meter lets pass back to back to one mail server, then the crossing one, time stamped just before it is sent. \
         Meanwhile {normals} normal senders open one TCP/25 connection every {} s each (below the threshold), {} attempts in all. \
         Enforced is when the zombie's element enters `quarantined_v4`, as `nft monitor elements` in the gateway prints it. \
         Logged crossings are the sources found in the kernel's `alerted_v4` set (every crossing the kernel sends to NFLOG adds its source there for 10 s), read every 2 s. \
         cordond's CPU is utime+stime (and its children's) from `/proc/PID/stat` over the {wall:.1} s from the first crossing until every zombie was enforced \
         (or {} s after the last); its peak memory is `VmHWM` from `/proc/PID/status`.\n",
        SPREAD.as_secs(),
        m.sent_over.as_secs_f64(),
        m.passes,
        NORMAL_EVERY.as_secs(),
        m.normal_sent,
        SETTLE.as_secs(),
    )?;
    writeln!(s, "| measure | outbreak | target |")?;
    writeln!(s, "|---|---|---|")?;
    writeln!(
        s,
        "| crossing to enforced, p50 / p99 / max ({} zombies) | {} / {} / {} | p99 under {} |",
        latencies.len(),
        ms(latencies.median()),
        ms(latencies.percentile(99)),
        ms(latencies.max()),
        ms(P99_TARGET)
    )?;
    writeln!(
        s,
        "| cordond's own `cordon_detection_latency_seconds` (NFLOG read to the wall in the kernel), p50 / p99, bucket-interpolated | {} / {} | – |",
        ms(own50),
        ms(own99)
    )?;
    writeln!(
        s,
        "| zombies whose every attempt was sent / attempts that failed to send | {} of {zombies} / {} | all / 0 |",
        m.crossed.len(),
        m.failed
    )?;
    writeln!(
        s,
        "| zombies whose crossing the kernel logged | {logged} of {zombies} | all |"
    )?;
    writeln!(s, "| zombies quarantined | {enforced} of {zombies} | all |")?;
    writeln!(
        s,
        "| NFLOG events lost (logged, never quarantined) | {lost} | 0 |"
    )?;
    writeln!(
        s,
        "| normal senders logged / quarantined | {normal_logged} / {normal_held} of {normals} | 0 / 0 |"
    )?;
    writeln!(
        s,
        "| cordond CPU (own + children) | {:.2} s ({:.0} % of one core; {:.2} ms per zombie) | – |",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 100.0 / wall.max(0.001),
        cpu.as_secs_f64() * 1000.0 / zombies as f64
    )?;
    writeln!(
        s,
        "| cordond memory: resident before, peak (`VmHWM`) | {} / {} | – |",
        mib(m.rss_before_kib),
        mib(m.hwm_kib)
    )?;
    writeln!(
        s,
        "| kernel transactions / store commits / conntrack flushes / NFLOG events handled | {:.0} / {:.0} / {:.0} / {:.0} | – |",
        m.transactions, m.commits, m.flushes, m.detections
    )?;
    writeln!(
        s,
        "| cordond's time in kernel changes / store commits / conntrack flushes (sums) | {:.2} s / {:.2} s / {:.2} s | – |",
        m.spent[0], m.spent[1], m.spent[2]
    )?;
    let met = |ok: bool| if ok { "met" } else { "not met" };
    writeln!(
        s,
        "\nTargets: p99 under {}: {}; no event lost: {}; no normal sender quarantined: {}.{}\n",
        ms(P99_TARGET),
        met(latencies.len() == zombies && latencies.percentile(99) < P99_TARGET),
        met(lost == 0 && logged == zombies),
        met(normal_held == 0),
        if never_logged > 0 {
            format!(
                " {never_logged} zombies' crossings were not found in `alerted_v4` (sent, but not seen there)."
            )
        } else {
            String::new()
        }
    )?;
    Ok(s)
}
