//! The fleet section's Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::commit::{self, Commits};
use super::follow::{self, Follows, Many};
use super::restart::{self, Restarts};
use crate::stats::{Samples, ms, ratio, spread};

/// The target for one gateway, either backend.
const TARGET: f64 = 5_000.0;

/// "median/s (min–max)" of rates, and the median.
fn rates(v: &[f64]) -> (f64, String) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let med = v.get(v.len() / 2).copied().unwrap_or(0.0);
    let (lo, hi) = (
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
    );
    (med, format!("{med:.0}/s ({lo:.0}–{hi:.0})"))
}

/// Cordon's rate over the reference's, as a time ratio per quarantine.
fn rate_ratio(ours: f64, reference: f64) -> String {
    if ours <= 0.0 || reference <= 0.0 {
        return "–".into();
    }
    ratio(
        Duration::from_secs_f64(1.0 / ours),
        Duration::from_secs_f64(1.0 / reference),
    )
}

fn p(v: &[Duration], pct: usize) -> Duration {
    Samples::new(v.to_vec()).percentile(pct)
}

/// Renders the section.
pub fn render(c: &Commits, f: &Follows, r: &Restarts) -> Result<String> {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut s = String::new();
    writeln!(s, "## Fleet: gateways sharing PostgreSQL\n")?;
    writeln!(
        s,
        "One PostgreSQL server (Debian's, started by the benchmark in a temporary directory on a Unix socket, default durability: `fsync` and \
         `synchronous_commit` on), one database per part. Built as {build}. Rounds alternate the two sides; median (min–max) of the rounds, \
         latencies pooled.\n"
    )?;

    // 1. Acknowledged per second.
    let (sq, sq_s) = rates(&c.sqlite);
    let (sqr, sqr_s) = rates(&c.sqlite_raw);
    let (pq, pq_s) = rates(&c.postgres);
    let (pqr, pqr_s) = rates(&c.postgres_raw);
    let (pb, pb_s) = rates(&c.postgres_bare);
    writeln!(
        s,
        "### Quarantines acknowledged per second\n\n\
         {} concurrent tasks each commit quarantines one at a time through `Store::write` (a host record and its audit entry in one call, \
         as cordond writes them; {} per round), into SQLite (WAL, `synchronous = FULL`) and into PostgreSQL behind the gateway's outbox \
         (`Store::open_configured`, as cordond opens it: each call also carries its batch mark). Reference: the same rows through the raw \
         driver, one transaction per quarantine, into the same file or database — rusqlite on one connection ({} per round; SQLite takes \
         one writer at a time), tokio-postgres on {} connections ({} per round), without the store's advisory lock, marks and NOTIFY. \
         Time per quarantine compared.\n",
        commit::TASKS,
        commit::QUARANTINES,
        commit::REF_SQLITE,
        commit::PG_CONNECTIONS,
        commit::REF_PG
    )?;
    writeln!(
        s,
        "| backend | Cordon, `Store::write` (group commit) | raw driver, one transaction each (reference) | ratio |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(s, "| SQLite | {sq_s} | {sqr_s} | {} |", rate_ratio(sq, sqr))?;
    writeln!(
        s,
        "| PostgreSQL | {pq_s} | {pqr_s} | {} |",
        rate_ratio(pq, pqr)
    )?;
    writeln!(
        s,
        "| PostgreSQL backend alone (no outbox in front, so no batch marks; not how cordond opens it) | {pb_s} | {pqr_s} | {} |",
        rate_ratio(pb, pqr)
    )?;
    let met = |x: f64| if x >= TARGET { "met" } else { "not met" };
    writeln!(
        s,
        "\nThe issue's target, at least {TARGET:.0} quarantines acknowledged per second on one gateway on either backend: SQLite {} ({sq:.0}/s), \
         PostgreSQL {} ({pq:.0}/s), in this {build} build.\n",
        met(sq),
        met(pq)
    )?;

    // 2. A decides, B enforces.
    writeln!(
        s,
        "### Decision on gateway A to enforced on gateway B\n\n\
         Two cordonds, each in a namespace of its own (A serves 100.64.0.0/16, B 100.65.0.0/16), sharing one database (`store.backend: postgres`, \
         each with its outbox). A subscriber has a session on B (`SessionStart` on B's control socket); a quarantine of that subscriber is \
         sent to A's control socket (one connection kept open) and B's kernel is asked over netlink (`Kernel::is_quarantined`, every {} µs) \
         until it holds the subscriber's address. Reference: the same quarantine sent to B's own control socket. Between rounds the \
         subscriber is released by the gateway that quarantined it, and both gateways are seen to agree. {} rounds, each side once a round.\n",
        200,
        f.fleet.len()
    )?;
    writeln!(
        s,
        "| measure | A decides, B enforces | B decides and enforces (reference) | ratio |"
    )?;
    writeln!(s, "|---|---|---|---|")?;
    for (what, pct) in [("p50", 50), ("p99", 99)] {
        writeln!(
            s,
            "| one subscriber, answer to enforced, {what} | {} | {} | {} |",
            ms(p(&f.fleet, pct)),
            ms(p(&f.local, pct)),
            ratio(p(&f.fleet, pct), p(&f.local, pct))
        )?;
    }
    for (what, pct) in [("p50", 50), ("p99", 99)] {
        writeln!(
            s,
            "| one subscriber, request sent to enforced, {what} | {} | {} | {} |",
            ms(p(&f.fleet_sent, pct)),
            ms(p(&f.local_sent, pct)),
            ratio(p(&f.fleet_sent, pct), p(&f.local_sent, pct))
        )?;
    }
    writeln!(
        s,
        "| one subscriber, request sent to the decider's answer, p50 | {} | {} | {} |",
        ms(p(&f.fleet_answer, 50)),
        ms(p(&f.local_answer, 50)),
        ratio(p(&f.fleet_answer, 50), p(&f.local_answer, 50))
    )?;
    many_rows(&mut s, &f.many_fleet, &f.many_local)?;
    let longest =
        |v: &[Many], pick: fn(&Many) -> Duration| v.iter().map(pick).max().unwrap_or_default();
    writeln!(
        s,
        "\nThe answer comes after the decider's own store commit (and, on B, its kernel change), so on B the address is in the kernel \
         before the answer arrives and \"answer to enforced\" is the first lookup; from A, B can be as quick, because it reads the change \
         as soon as A's commit is visible (PostgreSQL's NOTIFY, or a 1 s poll) and applies it without a commit of its own. \
         For the {n}: {n} subscribers with sessions on B (new ones for each side and round), then {n} quarantines sent at once \
         through {conn} control connections to the deciding gateway, while a thread asks B's kernel about every {every}th subscriber \
         until all of those are in, then about all the others; a sampled subscriber's time runs from the decider's answer to its \
         request until the sweep that first sees its address (the longest sweep: {} with A deciding, {} with B), and \"all\" until \
         the last address is seen (sweeps over the rest up to {} and {}). {rounds} rounds, sides alternating (B first in the first).\n",
        ms(longest(&f.many_fleet, |m| m.sweep)),
        ms(longest(&f.many_local, |m| m.sweep)),
        ms(longest(&f.many_fleet, |m| m.sweep_all)),
        ms(longest(&f.many_local, |m| m.sweep_all)),
        n = follow::MANY,
        conn = follow::CONNECTIONS,
        every = follow::SAMPLE_EVERY,
        rounds = follow::MANY_ROUNDS,
    )?;

    // 3. Restart.
    let (pg, sq) = (
        Samples::new(r.postgres.clone()),
        Samples::new(r.sqlite.clone()),
    );
    writeln!(
        s,
        "### Restart to reconciled with {n} records\n\n\
         {n} quarantined address records in the store (written through `Store::write` in batches of 2000: PostgreSQL {:.1} s, SQLite {:.1} s), \
         then cordond started in a namespace with no table (as after a reboot) and timed from spawning to its `cordond ready` line, which it \
         prints once every record is read, the table with all {n} quarantines installed in one transaction and its control socket \
         listening; after each start every {every}th record's address and the last were looked up in the kernel (netlink) and the control socket asked for its status. \
         Reference: the same cordond on a SQLite store holding the same records. {} starts each, alternating.\n",
        r.seed_postgres.as_secs_f64(),
        r.seed_sqlite.as_secs_f64(),
        r.postgres.len(),
        n = restart::RECORDS,
        every = restart::CHECK_EVERY,
    )?;
    writeln!(s, "| measure | PostgreSQL | SQLite (reference) | ratio |")?;
    writeln!(s, "|---|---|---|---|")?;
    writeln!(
        s,
        "| start to ready and reconciled, {} records | {} | {} | {} |\n",
        restart::RECORDS,
        spread(&pg),
        spread(&sq),
        ratio(pg.median(), sq.median())
    )?;
    Ok(s)
}

fn many_rows(s: &mut String, fleet: &[Many], local: &[Many]) -> Result<()> {
    let n = follow::MANY;
    let rounds =
        |v: &[Many], pick: fn(&Many) -> Duration| Samples::new(v.iter().map(pick).collect());
    for (what, pick) in [
        (
            "first request sent to all enforced on B",
            (|m: &Many| m.all) as fn(&Many) -> Duration,
        ),
        ("first request sent to the last answer", |m: &Many| {
            m.answered
        }),
    ] {
        let (a, b) = (rounds(fleet, pick), rounds(local, pick));
        writeln!(
            s,
            "| {n} subscribers at once: {what} | {} | {} | {} |",
            spread(&a),
            spread(&b),
            ratio(a.median(), b.median())
        )?;
    }
    let pooled = |v: &[Many]| {
        v.iter()
            .flat_map(|m| m.each.iter().copied())
            .collect::<Vec<_>>()
    };
    let (a, b) = (pooled(fleet), pooled(local));
    for (what, pct) in [("p50", 50), ("p99", 99)] {
        writeln!(
            s,
            "| {n} subscribers at once: a sampled one's answer to enforced on B, {what} ({} sampled) | {} | {} | {} |",
            a.len(),
            ms(p(&a, pct)),
            ms(p(&b, pct)),
            ratio(p(&a, pct), p(&b, pct))
        )?;
    }
    Ok(())
}
