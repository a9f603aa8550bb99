//! `cordon import FILE...|-`: the CLI reads and parses the feeds itself
//! (cordond may not be able to read the operator's files, and parsing here
//! lets bad lines be shown with their numbers before anything is sent),
//! then hands the valid reports to cordond in chunks on one connection, so
//! a feed of any length fits the frame limit and the answers too.
//!
//! Line-oriented feeds (Cordon's CSV, Shadowserver's, SNDS's) stream: a
//! thread reads and parses them in pieces ([`cordon_detect::stream_for`])
//! while this task sends the pieces it has, so memory stays bounded
//! whatever the feed's length and the first reports count before the last
//! line is read. Whole-document formats (mail, X-ARF JSON, IODEF, ZIP) are
//! read whole: at most [`cordon_detect::reports::MAX_FEED`] bytes of a
//! file, [`feed::MAX_STDIN`] of standard input; more is refused whole, with
//! nothing sent.
//!
//! `-` reads one message or feed from standard input (for an MTA's pipe
//! alias: `abuse: "|cordon import -"`), the same way.
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cordon_config::Config;
use cordon_detect::{ImportResult, LineError};
use cordon_proto::control::{ReportOutcome, ReportSubmission, Request, Response};
use serde::Serialize;

use super::conn::{AskError, Conn};
use super::out::{Exit, Out, warn};
use super::output;

mod feed;

use feed::STDIN;

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
    /// The rejected lines (listed in JSON only: each is on stderr as it is
    /// read, and text output needs only their number).
    rejected: Vec<Rejected>,
    #[serde(skip)]
    rejected_lines: usize,
    /// The file could not be read (at all, or past some point).
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

/// cordond's answers, kept as the output needs them: every one for JSON
/// (which lists them), else only each address's last (the text shows one
/// line per address), so a long feed's import does not hold an answer per
/// line.
struct Outcomes {
    json: bool,
    all: Vec<ReportOutcome>,
    /// Text: each address's last taken outcome, with its place.
    last: HashMap<String, (usize, ReportOutcome)>,
    seen: usize,
    taken: usize,
}

impl Outcomes {
    fn new(json: bool) -> Self {
        Outcomes {
            json,
            all: Vec::new(),
            last: HashMap::new(),
            seen: 0,
            taken: 0,
        }
    }

    fn add(&mut self, o: ReportOutcome) {
        self.seen += 1;
        if o.error.is_none() {
            self.taken += 1;
            if !self.json {
                self.last.insert(o.address.clone(), (self.seen, o.clone()));
            }
        }
        if self.json {
            self.all.push(o);
        }
    }

    /// The outcomes the output shows, in order.
    fn listed(self) -> Vec<ReportOutcome> {
        if self.json {
            return self.all;
        }
        let mut last: Vec<(usize, ReportOutcome)> = self.last.into_values().collect();
        last.sort_by_key(|(at, _)| *at);
        last.into_iter().map(|(_, o)| o).collect()
    }
}

/// The connection to cordond, opened when the first reports are ready (a
/// feed with none sends nothing), and whether it broke.
struct Sender<'a> {
    socket: &'a Path,
    conn: Option<Conn>,
    /// Why sending stopped, and whether the chunk in flight may have been
    /// applied.
    broken: Option<(String, bool)>,
    /// cordond could not be reached at all.
    unreachable: Option<String>,
}

impl Sender<'_> {
    /// Sends `reports` in chunks, counting their outcomes into `summary`;
    /// false once sending has stopped.
    async fn send(
        &mut self,
        reports: Vec<ReportSubmission>,
        summary: &mut FileSummary,
        outcomes: &mut Outcomes,
    ) -> bool {
        for chunk in chunks(reports) {
            if self.conn.is_none() {
                match Conn::open(self.socket).await {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.unreachable = Some(e.message().to_owned());
                        return false;
                    }
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                return false;
            };
            let sent = chunk.len();
            match conn.call(&Request::Report { reports: chunk }).await {
                Ok(Response::Reported { outcomes: o }) if o.len() == sent => {
                    tally(summary, &o);
                    o.into_iter().for_each(|o| outcomes.add(o));
                }
                Ok(Response::Error { message, .. }) => {
                    self.broken = Some((message, false));
                }
                Ok(_) => {
                    self.broken = Some((
                        "cordond answered with something this cordon does not know; are cordon and cordond the same version?".into(),
                        false,
                    ));
                }
                Err(e) => {
                    let in_flight = matches!(e, AskError::Lost(_));
                    self.broken = Some((e.message().to_owned(), in_flight));
                }
            }
            if self.broken.is_some() {
                return false;
            }
        }
        true
    }
}

/// Reads one file's pieces as they come and sends their reports; the
/// pieces waiting when a send ends go out together in the next.
async fn import_file(
    path: &Path,
    name: String,
    config: Option<&Config>,
    sender: &mut Sender<'_>,
    outcomes: &mut Outcomes,
) -> FileSummary {
    let mut summary = FileSummary {
        file: name,
        ..FileSummary::default()
    };
    let (mut pieces, reader) = feed::start(path, config);
    let mut going = true;
    // Reports read and not yet sent: whole chunks go out as soon as they
    // are there, the rest when no piece is waiting (the input paused or
    // ended), so a fast feed goes out in whole chunks and a slow one
    // without delay.
    //
    // A regular file never pauses: a piece not ready yet is only the
    // reader not scheduled, so there whole chunks wait for it (a pipe or
    // standard input may pause for good, and then what was read goes out).
    let steady = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let mut pending: Vec<ReportSubmission> = Vec::new();
    while going {
        let piece = if pending.is_empty() {
            match pieces.recv().await {
                Some(p) => Some(p),
                None => break,
            }
        } else if steady {
            pieces.recv().await
        } else {
            pieces.try_recv().ok()
        };
        if let Some(p) = &piece {
            take(&mut summary, p, outcomes.json);
            pending.extend(p.reports.iter().map(crate::daemon::submission));
        }
        let send = if pending.len() >= CHUNK_REPORTS {
            pending.drain(..CHUNK_REPORTS).collect()
        } else if piece.is_none() {
            std::mem::take(&mut pending)
        } else {
            continue;
        };
        going = sender.send(send, &mut summary, outcomes).await;
    }
    // Stops the reader if sending stopped first.
    drop(pieces);
    match reader.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if going => {
            warn(&format!("{e} (skipped)"));
            summary.error = Some(e);
        }
        Ok(Err(_)) => {}
        Err(e) => summary.error = Some(format!("reading it failed: {e}")),
    }
    summary
}

/// Counts a piece's rejected lines into `summary`, listing them on stderr.
fn take(summary: &mut FileSummary, piece: &ImportResult, json: bool) {
    for e in &piece.rejected {
        warn(&format!(
            "{}: line {}: {} (skipped)",
            summary.file, e.line, e.reason
        ));
    }
    summary.accepted += piece.reports.len();
    summary.outside += piece.outside;
    summary.rejected_lines += piece.rejected.len();
    if json {
        summary
            .rejected
            .extend(piece.rejected.iter().map(Rejected::from));
    }
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
    let mut outcomes = Outcomes::new(out.json);
    let mut sender = Sender {
        socket,
        conn: None,
        broken: None,
        unreachable: None,
    };
    for path in files {
        let name = if path.as_path() == Path::new("-") {
            STDIN.to_owned()
        } else {
            path.display().to_string()
        };
        summaries.push(import_file(path, name, config, &mut sender, &mut outcomes).await);
        if sender.broken.is_some() || sender.unreachable.is_some() {
            break;
        }
    }
    if let Some(message) = sender.unreachable {
        return out.fail(Exit::Failed, &message);
    }
    if let Some((why, in_flight)) = sender.broken {
        return out.fail(Exit::Failed, &interrupted(&summaries, &why, in_flight));
    }
    let accepted: usize = summaries.iter().map(|s| s.accepted).sum();
    if accepted == 0 {
        let bad = summaries
            .iter()
            .any(|s| s.error.is_some() || s.rejected_lines > 0);
        if bad {
            return out.fail(
                Exit::BadInput,
                "no valid report in the given files; nothing was sent (see the lines above)",
            );
        }
        return out.doc(
            &serde_json::json!({ "files": summaries, "outcomes": [] }),
            || "the files hold no reports; nothing was sent\n".to_owned(),
        );
    }
    if outcomes.taken == 0 {
        return out.fail(
            Exit::BadInput,
            "cordond refused every report (see the reasons above); nothing was taken",
        );
    }
    let outcomes = outcomes.listed();
    out.doc(
        &serde_json::json!({ "files": summaries, "outcomes": outcomes }),
        || text(&summaries, &outcomes),
    )
}

/// Counts a chunk's confirmed and refused reports into its file's summary,
/// and lists the refusals like bad lines.
fn tally(s: &mut FileSummary, outcomes: &[ReportOutcome]) {
    s.confirmed += outcomes.len();
    for o in outcomes {
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

/// What an import that broke off did and did not apply.
fn interrupted(summaries: &[FileSummary], why: &str, in_flight: bool) -> String {
    let confirmed: usize = summaries.iter().map(|s| s.confirmed).sum();
    let read: usize = summaries.iter().map(|s| s.accepted).sum();
    let mut m = format!(
        "{why}.\nThe import stopped after cordond confirmed {confirmed} of the {read} reports read so far; those were applied"
    );
    if in_flight {
        m.push_str(", the chunk sent last may or may not have been applied (see `cordon history`)");
    }
    m.push_str(", and nothing after it was sent:");
    for s in summaries.iter().filter(|s| s.accepted > 0) {
        m.push_str(&format!(
            "\n  {}: the first {} valid reports confirmed ({} read before it stopped)",
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
        if s.error.is_some() && s.accepted == 0 {
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
        let unreadable = s.rejected_lines.saturating_sub(s.outside);
        if unreadable > 0 {
            t.push_str(&format!(", {unreadable} lines unreadable"));
        }
        if s.error.is_some() {
            t.push_str(", then reading it failed (see above)");
        }
        t.push('\n');
    }
    t.push_str(&output::reported(outcomes));
    t
}

#[cfg(test)]
mod tests;
