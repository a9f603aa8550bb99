//! `cordon import FILE...|-`: the CLI reads and parses the feeds itself
//! (cordond may not be able to read the operator's files, and parsing here
//! lets bad lines be shown with their numbers before anything is sent),
//! then hands the valid reports to cordond in chunks on one connection, so
//! a feed of any length fits the frame limit and the answers too.
//!
//! `-` reads one message or feed from standard input (for an MTA's pipe
//! alias: `abuse: "|cordon import -"`), at most [`MAX_STDIN`] bytes; more is
//! refused whole, with nothing sent, so the MTA keeps the message.
//!
//! A feed's evidence longer than `MAX_EVIDENCE` is clipped (with a marker
//! saying how much was left out) rather than refused: the report still
//! counts, and the audit trail keeps what a person can read.
//!
//! Each chunk is applied by cordond as a whole before it answers, in file
//! order. If the connection breaks mid-import, the chunks answered before
//! were applied, the chunk in flight may or may not have been, and nothing
//! after it was sent: the output says how many reports of each file were
//! confirmed, so the rest can be imported again (a report with a message
//! id counts once; CSV lines have none, so do not send confirmed ones
//! again). Exit 1 then.
//!
//! Exit codes: 0 when cordond took any report (bad lines and reports it
//! refused are listed on stderr; the valid ones around them are applied);
//! 2 when no file held a valid report or cordond refused every one; 1 when
//! cordond could not be reached or the connection broke.

use std::io::Read;
use std::path::{Path, PathBuf};

use cordon_config::Config;
use cordon_detect::{ImportResult, LineError};
use cordon_proto::control::{ReportOutcome, ReportSubmission, Request, Response};
use serde::Serialize;

use super::conn::{AskError, Conn};
use super::out::{Exit, Out, warn};
use super::output;

/// Most reports in one request: its answer (an outcome each, about 150
/// bytes) stays far under the frame limit.
const CHUNK_REPORTS: usize = 5000;

/// Most bytes of reports in one request (each report is bounded, so a chunk
/// stays far under the frame limit whatever the feed holds).
const CHUNK_BYTES: usize = 1024 * 1024;

/// What one file gave.
#[derive(Debug, Default, Serialize)]
struct FileSummary {
    file: String,
    /// Valid reports read from it.
    accepted: usize,
    /// Of those, how many cordond refused (its config differs from the one
    /// read here, or none was readable).
    refused: usize,
    /// Of those, how many cordond confirmed (all, unless the connection
    /// broke).
    confirmed: usize,
    /// Of the confirmed, kept without adding to the score: the same report
    /// came before.
    duplicates: usize,
    /// Kept without adding: what they report is older than the window.
    too_old: usize,
    /// Kept without adding: their kind weighs nothing in the config.
    weighs_nothing: usize,
    /// Addresses outside the subscriber prefixes (or never to be
    /// quarantined): among the rejected lines.
    outside: usize,
    rejected: Vec<Rejected>,
    /// The file could not be read at all.
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Rejected {
    line: u64,
    reason: String,
}

impl From<&LineError> for Rejected {
    fn from(e: &LineError) -> Self {
        Rejected {
            line: e.line,
            reason: e.reason.clone(),
        }
    }
}

/// Most bytes read from standard input: a zipped feed is a few megabytes;
/// more is a mistake (or an attack), and reading it whole would not do.
pub const MAX_STDIN: u64 = 64 * 1024 * 1024;

/// The name `-` is shown as.
const STDIN: &str = "standard input";

fn read(path: &Path, config: Option<&Config>) -> Result<ImportResult, String> {
    if path == Path::new("-") {
        let data = read_stdin(std::io::stdin().lock())?;
        return Ok(match config {
            Some(c) => cordon_detect::parse_for(&data, cordon_detect::FeedMeta::default(), c),
            None => cordon_detect::reports::parse_feed(&data, |_| Ok(())),
        });
    }
    let result = match config {
        Some(c) => cordon_detect::import_for(path, c),
        None => cordon_detect::import(path),
    };
    result.map_err(|e| e.to_string())
}

/// Reads all of `input`, refusing more than [`MAX_STDIN`] bytes.
fn read_stdin(input: impl std::io::Read) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    input
        .take(MAX_STDIN + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{STDIN}: cannot read it: {e}"))?;
    if data.len() as u64 > MAX_STDIN {
        return Err(format!(
            "{STDIN}: more than {MAX_STDIN} bytes; nothing was sent. Split the feed into files and give them as arguments"
        ));
    }
    Ok(data)
}

/// Splits the reports into requests of at most [`CHUNK_REPORTS`] and
/// [`CHUNK_BYTES`].
fn chunks(reports: Vec<ReportSubmission>) -> Vec<Vec<ReportSubmission>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for r in reports {
        let size = r.address.len() + r.source.len() + r.evidence.len() + 128;
        if !chunk.is_empty() && (chunk.len() == CHUNK_REPORTS || bytes + size > CHUNK_BYTES) {
            out.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += size;
        chunk.push(r);
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// Runs `cordon import`.
pub async fn run(out: &Out, files: &[PathBuf], config: Option<&Config>, socket: &Path) -> Exit {
    if files
        .iter()
        .filter(|f| f.as_path() == Path::new("-"))
        .count()
        > 1
    {
        return out.fail(
            Exit::BadInput,
            "`-` (standard input) is given more than once; it can be read only once",
        );
    }
    let mut summaries = Vec::new();
    let mut reports = Vec::new();
    for path in files {
        let name = if path.as_path() == Path::new("-") {
            STDIN.to_owned()
        } else {
            path.display().to_string()
        };
        match read(path, config) {
            Ok(result) => {
                for e in &result.rejected {
                    warn(&format!("{name}: line {}: {} (skipped)", e.line, e.reason));
                }
                reports.extend(result.reports.iter().map(crate::daemon::submission));
                summaries.push(FileSummary {
                    file: name,
                    accepted: result.reports.len(),
                    outside: result.outside,
                    rejected: result.rejected.iter().map(Rejected::from).collect(),
                    ..FileSummary::default()
                });
            }
            Err(e) => {
                warn(&format!("{e} (skipped)"));
                summaries.push(FileSummary {
                    file: name,
                    error: Some(e),
                    ..FileSummary::default()
                });
            }
        }
    }
    let bad = summaries
        .iter()
        .any(|s| s.error.is_some() || !s.rejected.is_empty());
    if reports.is_empty() {
        let message = if bad {
            "no valid report in the given files; nothing was sent (see the lines above)"
        } else {
            "the files hold no reports; nothing was sent"
        };
        if bad {
            return out.fail(Exit::BadInput, message);
        }
        return out.doc(
            &serde_json::json!({ "files": summaries, "outcomes": [] }),
            || format!("{message}\n"),
        );
    }
    let total = reports.len();
    let mut outcomes: Vec<ReportOutcome> = Vec::with_capacity(total);
    let mut conn = match Conn::open(socket).await {
        Ok(c) => c,
        Err(e) => return out.fail(Exit::Failed, e.message()),
    };
    let mut broken = None;
    for chunk in chunks(reports) {
        let sent = chunk.len();
        match conn.call(&Request::Report { reports: chunk }).await {
            Ok(Response::Reported { outcomes: o }) if o.len() == sent => outcomes.extend(o),
            Ok(Response::Error { message, .. }) => {
                broken = Some((message, false));
                break;
            }
            Ok(_) => {
                broken = Some((
                    "cordond answered with something this cordon does not know; are cordon and cordond the same version?".into(),
                    false,
                ));
                break;
            }
            Err(e) => {
                let in_flight = matches!(e, AskError::Lost(_));
                broken = Some((e.message().to_owned(), in_flight));
                break;
            }
        }
    }
    tally(&mut summaries, &outcomes);
    if let Some((why, in_flight)) = broken {
        return out.fail(
            Exit::Failed,
            &interrupted(&summaries, &why, total, in_flight),
        );
    }
    let taken = outcomes.iter().filter(|o| o.error.is_none()).count();
    if taken == 0 {
        return out.fail(
            Exit::BadInput,
            "cordond refused every report (see the reasons above); nothing was taken",
        );
    }
    out.doc(
        &serde_json::json!({ "files": summaries, "outcomes": outcomes }),
        || text(&summaries, &outcomes),
    )
}

/// Counts each file's confirmed and refused reports (outcomes come in the
/// order sent, file after file), and lists the refusals like bad lines.
fn tally(summaries: &mut [FileSummary], outcomes: &[ReportOutcome]) {
    let mut rest = outcomes;
    for s in summaries.iter_mut() {
        let (mine, after) = rest.split_at(s.accepted.min(rest.len()));
        rest = after;
        s.confirmed = mine.len();
        for o in mine {
            match o.not_counted.as_deref() {
                Some("duplicate") => s.duplicates += 1,
                Some("too_old") => s.too_old += 1,
                Some("weighs_nothing") => s.weighs_nothing += 1,
                _ => {}
            }
            if let Some(e) = &o.error {
                s.refused += 1;
                warn(&format!(
                    "{}: report about {}: {e} (refused by cordond)",
                    s.file, o.address
                ));
            }
        }
    }
}

/// What an import that broke off did and did not apply.
fn interrupted(summaries: &[FileSummary], why: &str, total: usize, in_flight: bool) -> String {
    let confirmed: usize = summaries.iter().map(|s| s.confirmed).sum();
    let mut m = format!(
        "{why}.\nThe import stopped after cordond confirmed {confirmed} of {total} reports; those were applied"
    );
    if in_flight {
        m.push_str(", the chunk sent last may or may not have been applied (see `cordon history`)");
    }
    m.push_str(", and nothing after it was sent:");
    for s in summaries.iter().filter(|s| s.accepted > 0) {
        m.push_str(&format!(
            "\n  {}: the first {} of {} valid reports confirmed",
            s.file, s.confirmed, s.accepted
        ));
    }
    m.push_str(
        "\nImport the unconfirmed reports again (reports with a message id count once; CSV lines have none, so leave out the confirmed ones)",
    );
    m
}

fn text(summaries: &[FileSummary], outcomes: &[ReportOutcome]) -> String {
    let mut t = String::new();
    for s in summaries {
        if s.error.is_some() {
            t.push_str(&format!("{}: not read\n", s.file));
            continue;
        }
        let counted = s.accepted - s.refused - s.duplicates - s.too_old - s.weighs_nothing;
        t.push_str(&format!(
            "{}: {} reports accepted ({counted} counted",
            s.file,
            s.accepted - s.refused
        ));
        for (n, what) in [
            (s.duplicates, "duplicates"),
            (s.too_old, "too old for the window"),
            (s.weighs_nothing, "of a kind that weighs nothing"),
        ] {
            if n > 0 {
                t.push_str(&format!(", {n} {what}"));
            }
        }
        t.push(')');
        if s.refused > 0 {
            t.push_str(&format!(", {} refused by cordond", s.refused));
        }
        if s.outside > 0 {
            t.push_str(&format!(", {} outside the subscriber prefixes", s.outside));
        }
        let unreadable = s.rejected.len().saturating_sub(s.outside);
        if unreadable > 0 {
            t.push_str(&format!(", {unreadable} lines unreadable"));
        }
        t.push('\n');
    }
    t.push_str(&output::reported(outcomes));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_proto::text::MAX_EVIDENCE;

    fn report(evidence: usize) -> ReportSubmission {
        ReportSubmission {
            address: "100.64.1.7".into(),
            at: 0,
            source: "feed".into(),
            evidence: "e".repeat(evidence),
            message_id: None,
            kind: None,
            weight: Some(1),
        }
    }

    #[test]
    fn standard_input_is_read_whole_up_to_the_bound_and_refused_beyond() {
        assert_eq!(read_stdin(&b"100.64.1.7,0,x,y\n"[..]).unwrap().len(), 17);
        let big = std::io::repeat(b'x').take(MAX_STDIN + 1);
        let e = read_stdin(big).unwrap_err();
        assert!(
            e.contains("more than 67108864 bytes; nothing was sent"),
            "{e}"
        );
        let exact = std::io::repeat(b'x').take(MAX_STDIN);
        assert_eq!(read_stdin(exact).unwrap().len() as u64, MAX_STDIN);
    }

    #[test]
    fn chunks_are_bounded_in_count_and_bytes_and_keep_the_order() {
        let c = chunks((0..12_001).map(|_| report(10)).collect());
        assert_eq!(
            c.iter().map(Vec::len).collect::<Vec<_>>(),
            [5000, 5000, 2001]
        );
        let c = chunks((0..1000).map(|_| report(MAX_EVIDENCE)).collect());
        assert!(c.len() > 2);
        for chunk in &c {
            let bytes = serde_json::to_vec(&Request::Report {
                reports: chunk.clone(),
            })
            .map_or(usize::MAX, |v| v.len());
            assert!(bytes <= CHUNK_BYTES + 64 * 1024, "{bytes}");
        }
        assert_eq!(c.iter().map(Vec::len).sum::<usize>(), 1000);
    }
}
