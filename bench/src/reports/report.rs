//! The reports benchmark's Markdown section.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::{LINES, MESSAGES, Measured, ROUNDS, Row, SCORE, feeds};
use crate::stats::{Samples, ratio, spread};

fn what(row: Row) -> String {
    match row {
        Row::CliCsv => format!("`cordon import` of a {LINES}-line Shadowserver CSV"),
        Row::CliArf => format!("`cordon import` of an mbox of {MESSAGES} ARF messages"),
        Row::MaildirCsv => "Maildir: the same CSV zipped, one file in `new/`".into(),
        Row::MaildirArf => format!("Maildir: the {MESSAGES} ARF messages, one file each"),
    }
}

fn reference(row: Row) -> &'static str {
    match row {
        Row::CliCsv | Row::CliArf => "`cordon_detect::import_for` of the file",
        Row::MaildirCsv => "`parse_feed` of the ZIP",
        Row::MaildirArf => "`parse_feed` of each message",
    }
}

fn per_second(n: usize, d: Duration) -> String {
    if d.is_zero() {
        return "–".into();
    }
    format!("{:.0}/s", n as f64 / d.as_secs_f64())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The section.
pub fn section(m: &Measured) -> Result<String> {
    let mut s = String::new();
    writeln!(s, "## Abuse reports: `cordon import` and the Maildir\n")?;
    writeln!(
        s,
        "Reports per second from a feed to cordond's store, through `cordon import` (the CLI parses, then sends chunks over the control socket; \
         timed from start to exit) and through the abuse Maildir `detection.reports.maildir` (messages written into `tmp/` and renamed into `new/` \
         as an MTA delivers; timed from the first write until the last message is in `cur/`, polled every 20 ms). \
         The CSV is Shadowserver's botnet-drone report shaped like `detect/tests/samples/2016-07-24-botnet_drone-nl-geo.csv` \
         ({} MB; zipped {} kB for the Maildir, which takes at most 10 MiB a message); the ARF messages are RFC 5965 feedback-loop reports \
         with `Source-IP` and distinct Message-IDs ({} MB as one mbox). Reports are spread over {} subscriber addresses; the report score is set to {SCORE} \
         so nothing is quarantined: this is the intake (check, attribute, store, score), not the kernel. Every run sends new events. \
         Reference: the parse alone of the same bytes in the benchmark's process (`cordon_detect`), what the path could do at best if cordond \
         cost nothing. Median (min–max) of {ROUNDS} rounds, sides alternating, same run.\n",
        m.csv_bytes / 1_000_000,
        m.zip_bytes / 1000,
        m.mbox_bytes / 1_000_000,
        feeds::ADDRESSES,
    )?;
    writeln!(
        s,
        "| path | reports | time | reports/s | reference (parse alone) | reference/s | ratio | store commits per run |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|---|---|")?;
    for (row, t) in &m.times {
        let ours = Samples::new(t.ours.clone());
        let reference_t = Samples::new(t.reference.clone());
        let commits: Vec<f64> = m
            .commits
            .iter()
            .filter(|(r, _)| r == row)
            .map(|&(_, c)| c)
            .collect();
        writeln!(
            s,
            "| {} | {} | {} | {} | {}: {} | {} | {} | {:.0} |",
            what(*row),
            row.reports(),
            spread(&ours),
            per_second(row.reports(), ours.median()),
            reference(*row),
            spread(&reference_t),
            per_second(row.reports(), reference_t.median()),
            ratio(ours.median(), reference_t.median()),
            median(&commits),
        )?;
    }
    writeln!(
        s,
        "\nChecked: after every run cordond's `cordon_reports_total{{counted=\"true\"}}` rose by exactly the reports sent and `counted=\"false\"` \
         not at all ({:.0} reports counted in all), every message reached `cur/` (none `failed/`), and at the end `cordon show` gives two addresses \
         exactly the score the runs added.\n",
        m.counted
    )?;
    Ok(s)
}
