//! The section's Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::{CONNECTIONS_PER, HOSTS_PER, Measured, NAMESPACES, PAGE, REDIRECT, ROUNDS, Side};
use crate::metrics::quantile;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile_ms(v: &[u32], p: usize) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    let i = (v.len().saturating_sub(1)) * p / 100;
    f64::from(v.get(i).copied().unwrap_or(0)) / 1000.0
}

/// CPU time per 1 000 requests, median over the rounds, as milliseconds:
/// `(first, rest)` of each run.
/// `d` per 1 000 of the side's requests, as milliseconds.
fn per_k(s: &Side, d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / s.requests.max(1) as f64
}

fn cpu_per_k(s: &Side) -> (f64, f64) {
    let per = |d| per_k(s, d);
    let first: Vec<f64> = s.cpu.iter().map(|c| per(c.0)).collect();
    let rest: Vec<f64> = s.cpu.iter().map(|c| per(c.1)).collect();
    (median(&first), median(&rest))
}

/// The whole machine's user and kernel time per 1 000 requests, as
/// milliseconds, and its idle share, medians over the rounds.
fn machine_per_k(s: &Side) -> (f64, f64, f64) {
    let per = |d| per_k(s, d);
    let user: Vec<f64> = s.machine.iter().map(|m| per(m.user)).collect();
    let kernel: Vec<f64> = s.machine.iter().map(|m| per(m.kernel)).collect();
    let idle: Vec<f64> = s
        .machine
        .iter()
        .map(|m| {
            let all = (m.user + m.kernel + m.idle).as_secs_f64();
            100.0 * m.idle.as_secs_f64() / all.max(1e-9)
        })
        .collect();
    (median(&user), median(&kernel), median(&idle))
}

/// The client's CPU time per 1 000 requests, as milliseconds, median over
/// the rounds.
fn client_per_k(s: &Side) -> f64 {
    let per: Vec<f64> = s.client.iter().map(|&d| per_k(s, d)).collect();
    median(&per)
}

fn range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    format!("{:.0}/s ({lo:.0}–{hi:.0})", median(v))
}

pub(super) fn report(m: &Measured) -> Result<String> {
    let hosts = NAMESPACES * HOSTS_PER;
    let mut s = String::new();
    writeln!(
        s,
        "## Portal under an outbreak: many quarantined hosts at once\n"
    )?;
    writeln!(
        s,
        "{hosts} quarantined hosts ({NAMESPACES} subscriber namespaces, {HOSTS_PER} addresses each, routed to them by the gateway) \
         reach the gateway at once, {} hosts visiting at a time ({CONNECTIONS_PER} per namespace). In each run every host visits \
         once: four requests from its own address, one after another on one connection (keep-alive), or all four at once on a connection each (`Connection: close`), as a browser opening several connections and the OS probing beside it send them. \
         The kernel sends a quarantined host's own connections to the portal to the portal's captive listener, where the probe \
         paths and the RFC 8908 API are answered without a question; for the page the portal asks cordond about a caller it has \
         not seen within the last second. A portal run starts only once that memory of the previous run's hosts has lapsed, \
         so every visit is a first sight, as each new zombie's is. nginx (`worker_processes auto`, {} workers) serves the same bytes in the same gateway: the page \
         (taken from the portal) from a file, the same 302 to the portal, the same RFC 8908 document; it is held to the portal's \
         connection caps ({} in all, as `worker_connections` per worker, and {} per address, as `limit_conn`). The client is the \
         same for both (a tokio task per connection, in the namespaces). {ROUNDS} rounds alternate which side goes first; \
         requests per second are the median (min–max) of the rounds, latencies pooled over them, CPU is the processes' \
         utime+stime per 1 000 requests (the portal's column adds cordond's, which answers its questions).\n",
        NAMESPACES * CONNECTIONS_PER,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        m.caps.max_connections,
        m.caps.max_connections_per_client,
    )?;
    writeln!(
        s,
        "| what (4 requests a visit) | connections | cordon-portal | nginx | ratio | latency p50 / p99, portal | nginx | CPU per 1 000, portal + cordond | nginx |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|")?;
    for (what, label, ours, theirs) in &m.rows {
        let (a, b) = (median(&ours.rates), median(&theirs.rates));
        let (p, d) = cpu_per_k(ours);
        let (n, _) = cpu_per_k(theirs);
        writeln!(
            s,
            "| {what} | {label} | {} | {} | {:.2}× | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {p:.0} + {d:.0} ms | {n:.0} ms |",
            range(&ours.rates),
            range(&theirs.rates),
            a / b.max(1e-9),
            percentile_ms(&ours.latencies_us, 50),
            percentile_ms(&ours.latencies_us, 99),
            percentile_ms(&theirs.latencies_us, 50),
            percentile_ms(&theirs.latencies_us, 99),
        )?;
    }
    writeln!(
        s,
        "\nThe whole machine in the same runs (`/proc/stat`, every CPU; the client and the kernel's network work included, which \
         the processes' own CPU above leaves out): user and kernel (system, irq, softirq) time per 1 000 requests, and the share \
         of time idle, medians over the rounds; and of that, the client's own (utime+stime of the benchmark's process, \
         whose threads send the requests). With the machine saturated, the rate follows the whole time per request.\n"
    )?;
    writeln!(
        s,
        "| what | connections | machine per 1 000, user + kernel, portal | nginx | idle, portal | nginx | client per 1 000, portal | nginx |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|")?;
    for (what, label, ours, theirs) in &m.rows {
        let (pu, pk, pi) = machine_per_k(ours);
        let (nu, nk, ni) = machine_per_k(theirs);
        let (pc, nc) = (client_per_k(ours), client_per_k(theirs));
        writeln!(
            s,
            "| {what} | {label} | {pu:.0} + {pk:.0} ms | {nu:.0} + {nk:.0} ms | {pi:.1} % | {ni:.1} % | {pc:.0} ms | {nc:.0} ms |"
        )?;
    }
    writeln!(
        s,
        "\nWhat the portal's own metrics say of its waits for cordond in the same runs (`cordon_portal_cordond_wait_seconds`, from asking to the answer, a free slot included; bucket-interpolated; `cordon_portal_cordond_failures_total`):\n"
    )?;
    writeln!(
        s,
        "| what | connections | questions answered | wait p50 / p99 | no answer |"
    )?;
    writeln!(s, "|---|---|---|---|---|")?;
    for (what, label, ours, _) in &m.rows {
        let answered = ours.waits.last().map_or(0.0, |b| b.1);
        if answered <= 0.0 && ours.failures <= 0.0 {
            continue;
        }
        let q = |p: f64| {
            quantile(&ours.waits, p).map_or("–".to_owned(), |d| {
                format!("{:.2}", d.as_secs_f64() * 1000.0)
            })
        };
        writeln!(
            s,
            "| {what} | {label} | {answered:.0} | {} / {} ms | {:.0} |",
            q(0.5),
            q(0.99),
            ours.failures
        )?;
    }
    writeln!(
        s,
        "\nThe {hosts} quarantines went in through the control socket in {} ms. Page size: {} bytes.\n",
        m.quarantine_took.as_millis(),
        m.page_bytes
    )?;
    target(&mut s, m)?;
    breakdown(&mut s, m)?;
    floor(&mut s, m)?;
    Ok(s)
}

/// Issue 17's target: at least nginx's rate in every row.
fn target(s: &mut String, m: &Measured) -> Result<()> {
    let ratio = |ours: &Side, theirs: &Side| median(&ours.rates) / median(&theirs.rates).max(1e-9);
    let lowest = m
        .rows
        .iter()
        .map(|(what, label, ours, theirs)| (ratio(ours, theirs), *what, *label))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((low, what, label)) = lowest {
        writeln!(
            s,
            "Target (issue 17): at least as fast as nginx in every row: {} (lowest: {what}, {label}, {low:.2}×).\n",
            if low >= 1.0 { "met" } else { "not met" }
        )?;
    }
    Ok(())
}

/// Where the portal's side spends more than nginx: HTTP itself (the
/// redirect, where nothing is asked or rendered), the page's own work (the
/// page less the redirect, on each side) and cordond's answers.
fn breakdown(s: &mut String, m: &Measured) -> Result<()> {
    let row = |what: &str, label: &str| {
        m.rows
            .iter()
            .find(|r| r.0 == what && r.1 == label)
            .map(|r| (cpu_per_k(&r.2), cpu_per_k(&r.3).0))
    };
    let labels = ["keep-alive", "new per request"];
    let mut lines = Vec::new();
    for label in labels {
        let (Some(((pr, dr), nr)), Some(((pp, dp), np))) = (row(REDIRECT, label), row(PAGE, label))
        else {
            return Ok(());
        };
        lines.push((label, pr + dr, nr, pp - pr, np - nr, dp, pp + dp, np));
    }
    writeln!(
        s,
        "Where the difference is, in the processes' CPU per 1 000 requests (portal and cordond against nginx): HTTP itself, as the redirect \
         measures it (nothing asked, nothing rendered); the page's own work in the server, its page less its redirect on each side (the portal: \
         filling the shell for a first sight, its side of the question, the caches; nginx: opening and sending a file); and cordond answering \
         the page case's questions. With the machine saturated and the client's share the same on both sides, the sum is what the rate follows.\n"
    )?;
    writeln!(
        s,
        "| connections | HTTP itself, portal | nginx | the page's own work, portal | nginx | cordond | page in all, portal + cordond | nginx |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|")?;
    for (label, http, nhttp, own, nown, cordond, all, nall) in lines {
        writeln!(
            s,
            "| {label} | {http:.0} ms | {nhttp:.0} ms | {own:.0} ms | {nown:.0} ms | {cordond:.0} ms | {all:.0} ms | {nall:.0} ms |"
        )?;
    }
    writeln!(s)?;
    Ok(())
}

/// The floor of the stack: hyper alone answering the redirect with the
/// portal's bytes, against nginx and against the portal, in the same rounds.
fn floor(s: &mut String, m: &Measured) -> Result<()> {
    let redirect = |label: &str| {
        m.rows
            .iter()
            .find(|r| r.0 == REDIRECT && r.1 == label)
            .map(|r| (&r.2, &r.3))
    };
    let mut lines = Vec::new();
    for (label, alone) in &m.floor {
        let Some((portal, nginx)) = redirect(label) else {
            continue;
        };
        let rate = |side: &Side| median(&side.rates);
        let (p, d) = cpu_per_k(portal);
        lines.push(format!(
            "| {label} | {} | {} | {:.2}× | {:.0} ms | {:.0} ms | {:.2}× | {:.0} ms |",
            range(&alone.rates),
            range(&nginx.rates),
            rate(alone) / rate(nginx).max(1e-9),
            cpu_per_k(alone).0,
            cpu_per_k(nginx).0,
            rate(portal) / rate(alone).max(1e-9),
            p + d,
        ));
    }
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(
        s,
        "The floor of the portal's stack, in the same rounds (the three take turns going first): hyper alone (`cordon-bench-floor`: the same \
         hyper, tokio and allocator, one single-threaded runtime per core on one shared listening socket, as the portal runs) answering every \
         request with the portal's redirect, made by the portal's own code, and doing nothing else (no connection caps, timeouts, metrics, \
         logging spans or graceful shutdown). What hyper alone spends beyond nginx is the stack's; what the portal spends beyond hyper alone \
         is Cordon's.\n"
    )?;
    writeln!(
        s,
        "| redirect, connections | hyper alone | nginx | ratio | CPU per 1 000, hyper alone | nginx | portal against hyper alone | CPU per 1 000, portal |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|")?;
    for line in lines {
        writeln!(s, "{line}")?;
    }
    writeln!(s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A side that served 1 000 requests at `rate` a second, its processes
    /// spending `first` and `rest` milliseconds.
    fn side(rate: f64, first: u64, rest: u64) -> Side {
        Side {
            rates: vec![rate],
            cpu: vec![(Duration::from_millis(first), Duration::from_millis(rest))],
            requests: 1000,
            ..Side::default()
        }
    }

    fn measured(rows: Vec<(&'static str, &'static str, Side, Side)>) -> Measured {
        Measured {
            rows,
            floor: Vec::new(),
            page_bytes: 0,
            caps: cordon_portal::ConnLimits::default(),
            quarantine_took: Duration::ZERO,
        }
    }

    #[test]
    fn the_target_names_the_slowest_row_or_is_met() {
        let slow = measured(vec![
            (REDIRECT, "keep-alive", side(95.0, 1, 0), side(100.0, 1, 0)),
            (PAGE, "keep-alive", side(80.0, 1, 0), side(100.0, 1, 0)),
        ]);
        let mut s = String::new();
        target(&mut s, &slow).unwrap();
        assert!(
            s.contains("not met (lowest: cleanup page, keep-alive, 0.80×)"),
            "{s}"
        );
        let fast = measured(vec![(
            PAGE,
            "keep-alive",
            side(100.0, 1, 0),
            side(100.0, 1, 0),
        )]);
        let mut s = String::new();
        target(&mut s, &fast).unwrap();
        assert!(s.contains("every row: met"), "{s}");
    }

    /// The page's own work is each side's page less its own redirect;
    /// cordond is counted once, in the page's total.
    #[test]
    fn the_breakdown_takes_the_redirect_from_the_page_on_each_side() {
        let mut rows = Vec::new();
        for label in ["keep-alive", "new per request"] {
            rows.push((REDIRECT, label, side(1.0, 21, 0), side(1.0, 19, 0)));
            rows.push((PAGE, label, side(1.0, 41, 4), side(1.0, 35, 0)));
        }
        let mut s = String::new();
        breakdown(&mut s, &measured(rows)).unwrap();
        assert!(
            s.contains("| keep-alive | 21 ms | 19 ms | 20 ms | 16 ms | 4 ms | 45 ms | 35 ms |"),
            "{s}"
        );
        // Without both cases (a `--case` run) there is nothing to break down.
        let mut s = String::new();
        breakdown(
            &mut s,
            &measured(vec![(PAGE, "keep-alive", side(1.0, 1, 0), side(1.0, 1, 0))]),
        )
        .unwrap();
        assert!(s.is_empty());
    }

    /// The floor is set against the redirect's rows of the same
    /// connections: nginx's rate, and the portal's.
    #[test]
    fn the_floor_is_held_against_nginx_and_the_portal() {
        let mut m = measured(vec![
            (
                REDIRECT,
                "keep-alive",
                side(90.0, 25, 0),
                side(100.0, 20, 0),
            ),
            (
                REDIRECT,
                "new per request",
                side(40.0, 30, 0),
                side(50.0, 28, 0),
            ),
        ]);
        m.floor = vec![
            ("keep-alive", side(95.0, 21, 0)),
            ("new per request", side(50.0, 27, 0)),
        ];
        let mut s = String::new();
        floor(&mut s, &m).unwrap();
        assert!(
            s.contains("| keep-alive | 95/s (95–95) | 100/s (100–100) | 0.95× | 21 ms | 20 ms | 0.95× | 25 ms |"),
            "{s}"
        );
        assert!(
            s.contains("| new per request | 50/s (50–50) | 50/s (50–50) | 1.00× | 27 ms | 28 ms | 0.80× | 30 ms |"),
            "{s}"
        );
        // A run without the redirect case has no floor to show.
        m.floor.clear();
        let mut s = String::new();
        floor(&mut s, &m).unwrap();
        assert!(s.is_empty());
    }
}
