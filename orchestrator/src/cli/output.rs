//! Output for people: aligned tables and relative times. Every cell is
//! passed through `printable` where it is laid out, so a reason or a
//! feed's words with control characters cannot move the cursor, retitle
//! the terminal or start a line of its own.

use cordon_proto::control::{AuditEntry, DaemonStatus, HostRecord, ReportOutcome, Rung};
use cordon_proto::portal::{HostState, Reason};
use cordon_proto::text::printable;

/// "12 min ago", "in 3 h", "just now".
pub fn relative(t: i64, now: i64) -> String {
    let d = now - t;
    let (abs, past) = (d.unsigned_abs(), d >= 0);
    if past && abs < 10 {
        return "just now".into();
    }
    if abs == 0 {
        return "now".into();
    }
    let amount = match abs {
        0..60 => format!("{abs} s"),
        60..3600 => format!("{} min", abs / 60),
        3600..172_800 => format!("{} h", abs / 3600),
        _ => format!("{} days", abs / 86_400),
    };
    if past {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

fn opt_rel(t: Option<i64>, now: i64) -> String {
    t.map_or_else(|| "-".into(), |t| relative(t, now))
}

fn reason(r: Option<Reason>) -> &'static str {
    r.map_or("-", Reason::as_str)
}

/// Columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count());
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// Whom a host record is about, for a one-line answer: its address, or
/// `subscriber ID` when asked by id while it holds no address here (a
/// fleet's subscriber behind another gateway), never an empty name.
pub fn whom(h: &HostRecord) -> String {
    match (h.address.as_str(), &h.subscriber) {
        ("", Some(id)) => format!("subscriber {id}"),
        (a, _) => a.to_owned(),
    }
}

/// `cordon list`.
pub fn list(hosts: &[HostRecord], now: i64) -> String {
    if hosts.is_empty() {
        return "No host is noticed, quarantined, on probation or suspect.\n".into();
    }
    // A fleet's list names the gateway that decided each; one gateway's
    // list has no such column.
    let fleet = hosts.iter().any(|h| h.gateway.is_some());
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            let st = match (&h.suspect, h.state) {
                (Some(_), HostState::Clean) => "suspect".to_owned(),
                _ => h.state.as_str().into(),
            };
            let mut row = vec![
                whom(h),
                st,
                reason(h.reason).into(),
                opt_rel(h.since, now),
                opt_rel(h.until.or(h.hold_until), now),
                h.smtp_attempts.to_string(),
                h.actor.clone().unwrap_or_else(|| "-".into()),
                h.next_rung
                    .as_ref()
                    .map_or_else(|| "-".into(), |r| next_rung(r, now)),
            ];
            if fleet {
                row.push(h.gateway.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut head = vec![
        "ADDRESS", "STATE", "REASON", "SINCE", "UNTIL", "SMTP", "BY", "NEXT",
    ];
    if fleet {
        head.push("GATEWAY");
    }
    table(&head, &rows)
}

/// The ladder's next rung in words: "quarantined at 3 more crossings or
/// if still sending in 23h" (or "reviewed again" without the ladder's
/// `still_sending`).
fn next_rung(r: &Rung, now: i64) -> String {
    let review = match r.if_still_sending {
        HostState::Quarantined => format!(
            "quarantined if still sending {}",
            relative(r.review_at, now)
        ),
        _ => format!("reviewed {} (quiet ends it)", relative(r.review_at, now)),
    };
    match r.crossings_left {
        Some(n) => format!("{review}, or after {n} more crossing(s)"),
        None => review,
    }
}

/// `cordon show`.
pub fn show(h: &HostRecord, now: i64) -> String {
    let mut rows = vec![vec!["address".into(), h.address.clone()]];
    if let Some(s) = &h.subscriber {
        rows.push(vec!["subscriber".into(), s.clone()]);
        rows.push(vec!["holds now".into(), or_none(&h.addresses)]);
    }
    rows.push(vec!["state".into(), h.state.as_str().into()]);
    if h.state != HostState::Clean {
        rows.push(vec!["reason".into(), reason(h.reason).into()]);
        if let Some(a) = &h.actor {
            rows.push(vec!["by".into(), a.clone()]);
        }
        if let Some(n) = &h.note {
            rows.push(vec!["note".into(), n.clone()]);
        }
        if let Some(g) = &h.gateway {
            rows.push(vec!["decided on".into(), g.clone()]);
        }
        rows.push(vec!["since".into(), opt_rel(h.since, now)]);
        let until = match (h.state, h.until, h.hold_until) {
            (_, Some(u), _) => relative(u, now),
            (HostState::Quarantined, None, Some(hold)) => {
                format!("when quiet, not before {}", relative(hold, now))
            }
            _ => "-".into(),
        };
        rows.push(vec!["until".into(), until]);
        rows.push(vec!["relapses".into(), h.relapses.to_string()]);
    }
    if let Some(a) = h.acknowledged_until {
        rows.push(vec![
            "notice".into(),
            format!("acknowledged; shown again {}", relative(a, now)),
        ]);
    }
    if let Some(r) = &h.next_rung {
        rows.push(vec!["next rung".into(), next_rung(r, now)]);
    }
    if !h.evidence.is_empty() {
        let e: Vec<String> = h.evidence.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(vec!["evidence".into(), e.join(", ")]);
    }
    if let Some(s) = &h.suspect {
        rows.push(vec![
            "suspect".into(),
            format!(
                "yes: {} ({} mode), {} time(s), last {}",
                s.signal,
                s.action,
                s.count,
                relative(s.last, now)
            ),
        ]);
    }
    if h.report_score > 0 {
        rows.push(vec!["report score".into(), h.report_score.to_string()]);
    }
    rows.push(vec!["smtp attempts".into(), h.smtp_attempts.to_string()]);
    rows.push(vec![
        "last smtp attempt".into(),
        opt_rel(h.last_smtp_attempt, now),
    ]);
    rows.push(vec![
        "self-releases left".into(),
        h.self_releases_left.to_string(),
    ]);
    if let Some(m) = &h.mac {
        rows.push(vec!["mac".into(), m.clone()]);
    }
    for r in &h.reports {
        rows.push(vec![
            "report".into(),
            format!(
                "{}, {} ({}): {}{}",
                relative(r.at, now),
                r.source,
                r.kind,
                r.evidence,
                if r.counted { "" } else { " (not counted)" }
            ),
        ]);
    }
    for s in &h.sessions {
        rows.push(vec![
            "session".into(),
            format!(
                "{} {} to {} ({})",
                s.address,
                relative(s.started, now),
                s.ended.map_or("now".into(), |e| relative(e, now)),
                s.source
            ),
        ]);
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!("{:<19} {}\n", r[0], printable(&r[1])));
    }
    out
}

/// A list for people: comma-separated, or `none`.
pub fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// One line per report's unit: its score and state after the reports.
pub fn reported(outcomes: &[ReportOutcome]) -> String {
    // Each unit's last outcome, in the order of those last outcomes
    // (linear: an import answers with 100 000 of them).
    let mut seen = std::collections::HashSet::new();
    let mut lines: Vec<String> = outcomes
        .iter()
        .rev()
        .filter(|o| o.error.is_none() && seen.insert(o.address.as_str()))
        .map(|o| {
            format!(
                "{}: score {} of {}, {}{}\n",
                printable(&o.address),
                o.score,
                o.threshold,
                o.state.as_str(),
                if o.counted {
                    ""
                } else {
                    " (last report not counted: a duplicate or too old)"
                }
            )
        })
        .collect();
    lines.reverse();
    lines.concat()
}

/// `cordon history`.
pub fn history(entries: &[AuditEntry], now: i64) -> String {
    if entries.is_empty() {
        return "No entries.\n".into();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                relative(e.at, now),
                match &e.subscriber {
                    Some(s) if e.address.is_empty() => s.clone(),
                    Some(s) => format!("{} ({s})", e.address),
                    None => e.address.clone(),
                },
                format!("{} -> {}", e.from.as_str(), e.to.as_str()),
                // In a fleet, which gateway made the decision.
                match &e.gateway {
                    Some(g) => format!("{} on {g}", e.actor),
                    None => e.actor.clone(),
                },
                e.note.clone(),
            ]
        })
        .collect();
    table(&["WHEN", "ADDRESS", "CHANGE", "BY", "WHY"], &rows)
}

/// `cordon status`.
pub fn status(s: &DaemonStatus, now: i64) -> String {
    format!(
        "cordond {}, up since {}\ntable inet {}: {}\nstore {}{}\nquarantined {}, noticed {}, on probation {}\nlast reconcile {}\n",
        s.version,
        relative(s.started, now),
        s.table,
        table_state(s),
        printable(&s.store),
        store_state(s, now),
        s.quarantined,
        s.noticed,
        s.probation,
        opt_rel(s.last_reconcile, now),
    )
}

/// The rest of the store's line of `cordon status`: whether it answers,
/// and what waits in the outbox (nothing for a store without one).
fn store_state(s: &DaemonStatus, now: i64) -> String {
    let state = match (s.store_unreachable_since, s.store_outbox) {
        (Some(since), queued) => format!(
            ": UNREACHABLE since {}; {} batches of decisions queued in the outbox, replayed when it answers",
            relative(since, now),
            queued.unwrap_or(0)
        ),
        (None, Some(queued)) if queued > 0 => {
            format!(
                ": reachable; {queued} batches of decisions still queued in the outbox (being replayed)"
            )
        }
        (None, Some(_)) => ": reachable, outbox empty".into(),
        (None, None) => String::new(),
    };
    match s.store_outbox_refused {
        Some(refused) if refused > 0 => format!(
            "{state}; {refused} batches REFUSED by the store kept aside in the outbox file's `refused` table (see cordond's log)"
        ),
        _ => state,
    }
}

/// The table's line of `cordon status`: whether it is there and whether it
/// is still the table cordond installed.
fn table_state(s: &DaemonStatus) -> String {
    let what = s.table_differences.join("; ");
    if !s.table_present {
        "MISSING (cordond restores it at its next reconcile)".into()
    } else if s.table_differences.is_empty() {
        "installed".into()
    } else if s.table_repair_failed {
        format!(
            "DIFFERS from what cordond installed and could not be repaired: {what} (see cordond's log; it retries at every reconcile)"
        )
    } else {
        format!("DIFFERS from what cordond installed: {what} (cordond is repairing it)")
    }
}

#[cfg(test)]
mod tests;
