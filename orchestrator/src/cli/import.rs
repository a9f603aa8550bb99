//! `cordon import FILE...`: the CLI reads and parses the feeds itself
//! (cordond may not be able to read the operator's files, and parsing here
//! lets bad lines be shown with their numbers before anything is sent),
//! then hands every valid report to cordond in one request.
//!
//! Exit codes: 0 when any report was valid and cordond took them (bad
//! lines are warnings on stderr; the valid ones around them are all
//! applied); 2 when no file held a valid report; 1 when cordond could not
//! be reached.

use std::path::{Path, PathBuf};

use cordon_config::Config;
use cordon_detect::{ImportResult, LineError};
use cordon_proto::control::{ReportOutcome, ReportSubmission, Request, Response};
use serde::Serialize;

use super::output;
use super::run::{Exit, Out, ask};
use crate::detection::unix;

/// What one file gave.
#[derive(Debug, Serialize)]
struct FileSummary {
    file: String,
    accepted: usize,
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

fn read(path: &Path, config: Option<&Config>) -> Result<ImportResult, String> {
    let result = match config {
        Some(c) => cordon_detect::import_for(path, c),
        None => cordon_detect::import(path),
    };
    result.map_err(|e| e.to_string())
}

fn submission(r: &cordon_detect::Report) -> ReportSubmission {
    ReportSubmission {
        address: r.address.to_string(),
        at: unix(r.at),
        source: r.source.clone(),
        evidence: r.evidence.clone(),
        message_id: r.message_id.clone(),
        weight: r.weight,
    }
}

/// Runs `cordon import`.
pub async fn run(out: &Out, files: &[PathBuf], config: Option<&Config>, socket: &PathBuf) -> Exit {
    let mut summaries = Vec::new();
    let mut reports = Vec::new();
    for path in files {
        let name = path.display().to_string();
        match read(path, config) {
            Ok(result) => {
                for e in &result.rejected {
                    eprintln!("cordon: {name}: line {}: {} (skipped)", e.line, e.reason);
                }
                reports.extend(result.reports.iter().map(submission));
                summaries.push(FileSummary {
                    file: name,
                    accepted: result.reports.len(),
                    rejected: result.rejected.iter().map(Rejected::from).collect(),
                    error: None,
                });
            }
            Err(e) => {
                eprintln!("cordon: {e} (skipped)");
                summaries.push(FileSummary {
                    file: name,
                    accepted: 0,
                    rejected: Vec::new(),
                    error: Some(e),
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
    let outcomes = match ask(socket, &Request::Report { reports }).await {
        Ok(Response::Reported { outcomes }) => outcomes,
        Ok(Response::Error { message, .. }) => return out.fail(Exit::Failed, &message),
        Ok(_) => {
            return out.fail(
                Exit::Failed,
                "cordond answered with something this cordon does not know; are cordon and cordond the same version?",
            );
        }
        Err(message) => return out.fail(Exit::Failed, &message),
    };
    refused_by_cordond(&summaries, &outcomes);
    out.doc(
        &serde_json::json!({ "files": summaries, "outcomes": outcomes }),
        || text(&summaries, &outcomes),
    )
}

/// Reports cordond refused (its config differs from the one read here, or
/// none was readable): shown like bad lines.
fn refused_by_cordond(summaries: &[FileSummary], outcomes: &[ReportOutcome]) {
    let mut i = 0;
    for s in summaries {
        for o in outcomes.iter().skip(i).take(s.accepted) {
            if let Some(e) = &o.error {
                eprintln!(
                    "cordon: {}: report about {}: {e} (refused by cordond)",
                    s.file, o.address
                );
            }
        }
        i += s.accepted;
    }
}

fn text(summaries: &[FileSummary], outcomes: &[ReportOutcome]) -> String {
    let mut t = String::new();
    for s in summaries {
        match &s.error {
            Some(_) => t.push_str(&format!("{}: not read\n", s.file)),
            None if s.rejected.is_empty() => {
                t.push_str(&format!("{}: {} reports accepted\n", s.file, s.accepted));
            }
            None => t.push_str(&format!(
                "{}: {} reports accepted, {} lines rejected\n",
                s.file,
                s.accepted,
                s.rejected.len()
            )),
        }
    }
    t.push_str(&output::reported(outcomes));
    t
}
