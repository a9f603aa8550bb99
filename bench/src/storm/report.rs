//! The login storm's Markdown section.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::load::Outcome;
use super::{CLIENT, EVERY, Measured, RADCLIENT, SINGLE, STARTS, WINDOW, quarantined};
use crate::stats::{Samples, ms, ratio};

/// "median/s (min–max)" of rates.
fn rates(v: &[f64]) -> (f64, String) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let med = v.get(v.len() / 2).copied().unwrap_or(0.0);
    let text = format!(
        "{med:.0}/s ({:.0}–{:.0})",
        v.first().unwrap_or(&0.0),
        v.last().unwrap_or(&0.0)
    );
    (med, text)
}

/// The latencies of the requests `pick` chooses, over several runs.
fn latencies<'a>(runs: impl Iterator<Item = &'a Outcome>, pick: impl Fn(usize) -> bool) -> Samples {
    Samples::new(
        runs.flat_map(|o| {
            o.latency
                .iter()
                .enumerate()
                .filter(|(i, _)| pick(*i))
                .filter_map(|(_, l)| *l)
                .collect::<Vec<_>>()
        })
        .collect(),
    )
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// The section.
pub fn section(m: &Measured) -> Result<String> {
    let rc: Vec<_> = m.rounds.iter().filter_map(|r| r.radclient).collect();
    let rc_ref: Vec<_> = m.rounds.iter().filter_map(|r| r.radclient_ref).collect();
    let ours: Vec<&Outcome> = m.rounds.iter().filter_map(|r| r.ours.as_ref()).collect();
    let ours_ref: Vec<&Outcome> = m
        .rounds
        .iter()
        .filter_map(|r| r.ours_ref.as_ref())
        .collect();

    let (_, rc_rate) = rates(&rc.iter().map(|r| r.rate()).collect::<Vec<_>>());
    let (_, rc_ref_rate) = rates(&rc_ref.iter().map(|r| r.rate()).collect::<Vec<_>>());
    let rc_t = median(&mut rc.iter().map(|r| r.elapsed).collect::<Vec<_>>());
    let rc_ref_t = median(&mut rc_ref.iter().map(|r| r.elapsed).collect::<Vec<_>>());
    let (_, o_rate) = rates(&ours.iter().map(|o| o.rate()).collect::<Vec<_>>());
    let (_, o_ref_rate) = rates(&ours_ref.iter().map(|o| o.rate()).collect::<Vec<_>>());
    let o_t = median(&mut ours.iter().map(|o| o.elapsed).collect::<Vec<_>>());
    let o_ref_t = median(&mut ours_ref.iter().map(|o| o.elapsed).collect::<Vec<_>>());

    let lost =
        rc.iter().map(|r| r.lost).sum::<usize>() + ours.iter().map(|o| o.lost()).sum::<usize>();
    let lost_ref = rc_ref.iter().map(|r| r.lost).sum::<usize>()
        + ours_ref.iter().map(|o| o.lost()).sum::<usize>();
    let span = |v: Vec<u64>| {
        let mut v = v;
        v.sort_unstable();
        format!(
            "{} ({}–{})",
            v.get(v.len() / 2).unwrap_or(&0),
            v.first().unwrap_or(&0),
            v.last().unwrap_or(&0)
        )
    };
    let dropped = span(m.costs.iter().map(|c| c.dropped.server).collect());
    let dropped_ref = span(m.ref_dropped.iter().map(|d| d.server).collect());
    let client_drops = span(m.costs.iter().map(|c| c.dropped.clients).collect());
    let client_drops_ref = span(m.ref_dropped.iter().map(|d| d.clients).collect());
    let resent: usize = ours.iter().map(|o| o.retransmissions).sum();
    let resent_ref: usize = ours_ref.iter().map(|o| o.retransmissions).sum();

    let q = latencies(ours.iter().copied(), quarantined);
    let q_ref = latencies(ours_ref.iter().copied(), quarantined);
    let all = latencies(ours.iter().copied(), |_| true);
    let all_ref = latencies(ours_ref.iter().copied(), |_| true);
    let one = latencies(std::iter::once(&m.single), |_| true);
    let one_ref = latencies(std::iter::once(&m.single_ref), |_| true);
    let nq = (0..STARTS).filter(|&i| quarantined(i)).count();

    let mut on = m.costs.iter().filter_map(|c| c.acct_on).collect::<Vec<_>>();
    let on = median(&mut on);
    let storms = m.costs.len().max(1) as f64;
    let commits = m.costs.iter().map(|c| c.commits).sum::<f64>() / storms;
    let batches = m.costs.iter().map(|c| c.kernel_batches).sum::<f64>() / storms;
    let per_commit = if commits > 0.0 {
        STARTS as f64 / commits
    } else {
        0.0
    };
    let runs = m.rounds.len();
    let timeout = CLIENT.timeout.as_secs();
    let retries = CLIENT.retries;
    let rcw = RADCLIENT.window;

    let mut s = String::new();
    writeln!(
        s,
        "## Login storm: 10 000 RADIUS Accounting-Starts at once\n"
    )?;
    writeln!(
        s,
        "A BNG restarts and brings back {STARTS} subscribers at once: an Accounting-On, then {STARTS} Accounting-Starts to cordond's accounting \
         listener in a lab gateway (loopback, from the gateway's namespace), each with its own User-Name, Acct-Session-Id and Framed-IP-Address \
         (new addresses every storm, inside the subscriber prefix). Every {EVERY}th subscriber ({nq}) was quarantined beforehand (`cordon session start` \
         with an old address, then `cordon quarantine --subscriber`), so its Start must put the new address in the walled garden before cordond answers. \
         Clients keep a bounded window of requests outstanding and retransmit after {timeout} s, up to {retries} times, like a NAS: `radclient -f FILE -p {rcw}` \
         (freeradius-utils; timed from process start to exit; its sockets keep the kernel's default receive buffer, about 170 answers, so a larger window \
         overflows them against a fast server) and the benchmark's own client on `cordon-radius` with a window of {WINDOW} (four UDP sockets, 256 identifiers each, \
         4 MiB receive buffers), which times every request. \
         Reference: the same clients against `cordon-radius-responder`, which answers every valid request at once (no store, no kernel), in the same gateway, same run. \
         {runs} rounds, each running the four storms in alternating order; median (min–max) over the rounds, latencies pooled over them.\n"
    )?;
    writeln!(
        s,
        "| measure | cordond | trivial responder (reference) | ratio |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(
        s,
        "| Starts answered per second, `radclient -p {rcw}` | {rc_rate} | {rc_ref_rate} | {} |",
        ratio(rc_t, rc_ref_t)
    )?;
    writeln!(
        s,
        "| Starts answered per second, own client, window {WINDOW} | {o_rate} | {o_ref_rate} | {} |",
        ratio(o_t, o_ref_t)
    )?;
    writeln!(
        s,
        "| Starts never answered after {retries} retransmissions, all {} storms | {lost} | {lost_ref} | – |",
        2 * runs
    )?;
    writeln!(
        s,
        "| datagrams the kernel dropped at the server's socket (receive buffer full), per storm, both clients | {dropped} | {dropped_ref} | – |"
    )?;
    writeln!(
        s,
        "| datagrams dropped at the clients' sockets, per storm | {client_drops} | {client_drops_ref} | – |"
    )?;
    writeln!(
        s,
        "| retransmissions (own client), all {runs} storms | {resent} | {resent_ref} | – |"
    )?;
    writeln!(
        s,
        "| quarantined subscriber's Start to its answer (in force), p50 ({} in storms) | {} | {} | {} |",
        q.len(),
        ms(q.median()),
        ms(q_ref.median()),
        ratio(q.median(), q_ref.median())
    )?;
    writeln!(
        s,
        "| quarantined subscriber's Start to its answer (in force), p99 | {} | {} | {} |",
        ms(q.percentile(99)),
        ms(q_ref.percentile(99)),
        ratio(q.percentile(99), q_ref.percentile(99))
    )?;
    writeln!(
        s,
        "| every Start to its answer, p50 / p99 ({}) | {} / {} | {} / {} | {} |",
        all.len(),
        ms(all.median()),
        ms(all.percentile(99)),
        ms(all_ref.median()),
        ms(all_ref.percentile(99)),
        ratio(all.median(), all_ref.median())
    )?;
    writeln!(
        s,
        "| one quarantined subscriber's Start, no storm, p50 / p99 ({SINGLE}) | {} / {} | {} / {} | {} |",
        ms(one.median()),
        ms(one.percentile(99)),
        ms(one_ref.median()),
        ms(one_ref.percentile(99)),
        ratio(one.median(), one_ref.median())
    )?;
    writeln!(
        s,
        "| Accounting-On ending the previous storm's {STARTS} sessions, median | {} | – | – |",
        ms(on)
    )?;
    writeln!(
        s,
        "| store commits per storm, mean (Starts per commit) | {commits:.0} ({per_commit:.0}) | – | – |"
    )?;
    writeln!(
        s,
        "| kernel transactions per storm, mean | {batches:.0} | – | – |"
    )?;
    writeln!(
        s,
        "\nChecked, not assumed: after each of the {} storms against cordond, all {nq} quarantined subscribers' new addresses were in the kernel's \
         `quarantined_v4` set and none of the other {} subscribers' were (`nft -j list set`), and the {SINGLE} single Starts' addresses too; at the end \
         `cordon sessions` listed all {STARTS} Starts of every storm ({} records in all), the last storm's open and the earlier ones ended by the \
         Accounting-On that followed them. A failed check stops the benchmark (a lost Start would fail the last one).\n\n\
         Drops are counted by the kernel: the server socket's `drops` in `/proc/net/udp`, and the rest of `Udp: RcvbufErrors` in `/proc/net/snmp` for the \
         clients' sockets. cordond applies many requests at once and the core batches them (store commits and kernel transactions per storm are from its \
         metrics, `cordon_store_write_seconds_count` and `cordon_rule_change_seconds_count`); a Start is answered only after its batch's fsync'd commit and \
         its netlink transaction (the batches one commit carries share one per set), so under a storm a request waits for the commit ahead of it and its own \
         (the p50), and a single Start costs one commit and one transaction. cordond's listener keeps the default receive buffer (about 208 KiB, some 170 \
         requests): a window's burst beyond that would be dropped by the kernel and wait for the client's retransmission {timeout} s later (the drop \
         rows above say whether any was). The reference asks for 4 MiB.\n",
        m.storms,
        STARTS - nq,
        m.sessions_listed
    )?;
    Ok(s)
}
