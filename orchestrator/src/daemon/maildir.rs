//! The abuse mailbox as a source (`detection.reports.maildir`): the MTA
//! delivers abuse@ into a Maildir, and cordond imports each message in
//! `new/` through the same path as `cordon report` ([`super::reports`]).
//!
//! **Polling, not inotify.** The directory is listed once a second (at most
//! [`PER_ROUND`] messages a round, and at once again while a round was
//! full). A second's delay is nothing next to reports that are hours or
//! days old; polling needs no crate, survives the directory being replaced
//! or created late, and cannot lose an event (inotify queues overflow, and
//! a watch misses what was delivered while cordond was down, so a scan
//! would be needed anyway).
//!
//! **Crash safety.** A message leaves `new/` only after the core answered
//! that its reports are stored: renamed to `cur/NAME:2,S` (imported) or to
//! `failed/NAME` (nothing in it could be taken; the reason in the log).
//! Every report from a message carries a message id (its own, else one
//! made from the Maildir file name's unique part and the report's place in
//! the message), and the ledger, rebuilt from the store at start, counts a
//! report with the id of one it holds once. So a crash between storing and
//! renaming imports the message again at the next start, and its reports
//! come in as duplicates: nothing lost, nothing counted twice.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cordon_config::Config;
use cordon_detect::Report;
use cordon_policy::Actor;
use cordon_proto::text::{MAX_SOURCE, clip, printable};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::reports::{Answer, Stopping, submission, submit};
use super::shared::Shared;
use crate::metrics::Metrics;

/// How often `new/` is listed.
const POLL: Duration = Duration::from_secs(1);

/// Most messages taken in one round: a flood of mail delays nothing else.
const PER_ROUND: usize = 64;

/// Largest message read. Abuse reports are a few kilobytes; a zipped
/// Shadowserver report a few megabytes. Larger goes to `failed/`.
pub const MAX_MESSAGE: u64 = 10 * 1024 * 1024;

/// Most reports handed to the core at once (a zipped feed can hold many).
const CHUNK: usize = 5000;

/// How much of a failure's reason the log keeps.
const REASON: usize = 512;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Its reports are stored; moved to `cur/`.
    Imported(Tally),
    /// Nothing in it could be taken; moved to `failed/`. What its reports
    /// came to (all refused, when it had any).
    Failed(String, Tally),
    /// Gone before it was read (another reader took it).
    Gone,
    /// The core could not take it now; left in `new/` for the next round.
    Later(String),
}

/// What became of one message's reports, for the log and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Tally {
    counted: usize,
    duplicate: usize,
    too_old: usize,
    weighs_nothing: usize,
    refused: usize,
}

impl Tally {
    /// Stored, counted or not.
    fn taken(&self) -> usize {
        self.counted + self.duplicate + self.too_old + self.weighs_nothing
    }

    fn count(&self, metrics: &Metrics) {
        for (outcome, n) in [
            ("counted", self.counted),
            ("duplicate", self.duplicate),
            ("too_old", self.too_old),
            ("weighs_nothing", self.weighs_nothing),
            ("refused", self.refused),
        ] {
            metrics.maildir_reports(outcome, n);
        }
    }
}

/// Messages read and submitted at once (each at most 10 MiB): their
/// reports share a store commit, and a crash can leave at most this many
/// stored but not yet moved (read again, they are duplicates).
pub const AT_ONCE: usize = 16;

/// Watches the configured Maildir until `cancel` fires. The path is read
/// from the config in force each round, so a reload can turn it on, off or
/// elsewhere.
pub async fn run(shared: Shared, metrics: Arc<Metrics>, cancel: CancellationToken) {
    let mut last_error: Option<String> = None;
    loop {
        let config = shared.config.borrow().clone();
        let mut full = false;
        if let Some(dir) = config.detection.reports.maildir.clone() {
            match round(&shared, &metrics, &config, &dir, &cancel).await {
                Ok(n) => {
                    full = n == PER_ROUND;
                    last_error = None;
                }
                Err(e) => {
                    // Said once, not every second, until it changes.
                    if last_error.as_deref() != Some(e.as_str()) {
                        warn!(maildir = %printable(&dir.to_string_lossy()), error = %printable(&e), "cannot read the abuse Maildir; retrying every second");
                        last_error = Some(e);
                    }
                }
            }
        }
        let pause = if full { Duration::ZERO } else { POLL };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// One round: up to [`PER_ROUND`] messages of `new/`, oldest name first.
/// Answers how many were listed.
async fn round(
    shared: &Shared,
    metrics: &Metrics,
    config: &Config,
    dir: &Path,
    cancel: &CancellationToken,
) -> Result<usize, String> {
    let new = dir.join("new");
    let names = blocking(move || list(&new, PER_ROUND))
        .await?
        .map_err(|e| format!("listing new/: {e}"))?;
    let listed = names.len();
    // Several messages at once, so their reports reach the core together
    // and share its store commit (one message at a time cost a commit
    // each: 900 messages a second). Bounded: at most [`AT_ONCE`] messages
    // are read into memory together. Each is moved only after its own
    // reports are stored.
    for chunk in names.chunks(AT_ONCE) {
        if cancel.is_cancelled() {
            break;
        }
        let reading: Vec<_> = chunk.iter().map(|n| one(shared, config, dir, n)).collect();
        let outcomes = futures::future::join_all(reading).await;
        // Moved before the next chunk is read: a crash leaves at most one
        // chunk stored but still in `new/` (read again as duplicates).
        for (name, outcome) in chunk.iter().zip(outcomes) {
            let shown = printable(&name.to_string_lossy()).into_owned();
            match outcome {
                Outcome::Imported(tally) => {
                    let to = cur_name(name);
                    move_to(dir, name, "cur", &to).await?;
                    metrics.maildir_message(true);
                    tally.count(metrics);
                    info!(message = %shown, reports = tally.taken(), refused = tally.refused, "abuse message imported; moved to cur/");
                }
                Outcome::Failed(reason, tally) => {
                    move_to(dir, name, "failed", name).await?;
                    metrics.maildir_message(false);
                    tally.count(metrics);
                    warn!(message = %shown, reason = %printable(&clip(&reason, REASON)), "abuse message not imported; moved to failed/");
                }
                Outcome::Gone => {
                    debug!(message = %shown, "abuse message gone before it was read");
                }
                Outcome::Later(why) => {
                    warn!(message = %shown, reason = %printable(&why), "abuse message left in new/ for the next round");
                }
            }
        }
    }
    Ok(listed)
}

/// Reads, parses and submits one message.
async fn one(shared: &Shared, config: &Config, dir: &Path, name: &OsString) -> Outcome {
    let path = dir.join("new").join(name);
    let data = match blocking(move || read_bounded(&path)).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => return Outcome::Gone,
        Ok(Err(why)) => return Outcome::Failed(why, Tally::default()),
        Err(why) => return Outcome::Later(why),
    };
    let admitting = config.clone();
    let parsed = blocking(move || {
        cordon_detect::parse_for(&data, cordon_detect::FeedMeta::default(), &admitting)
    })
    .await;
    let mut parsed = match parsed {
        Ok(p) => p,
        Err(why) => return Outcome::Later(why),
    };
    if parsed.reports.is_empty() {
        let why = match parsed.rejected.first() {
            Some(e) => format!(
                "no valid report in it ({} rejected; the first: {e})",
                parsed.rejected.len()
            ),
            None => "no report in it (not a format cordon reads)".to_owned(),
        };
        return Outcome::Failed(why, Tally::default());
    }
    name_reports(&mut parsed.reports, name);
    let submissions: Vec<_> = parsed.reports.iter().map(submission).collect();
    let (mut tally, mut first_refusal) = (Tally::default(), None);
    for chunk in submissions.chunks(CHUNK) {
        let answers = match submit(shared, config, &Actor::Report, chunk).await {
            Ok(a) => a,
            Err(Stopping) => return Outcome::Later("cordond is stopping".into()),
        };
        for answer in answers {
            match answer {
                Answer::Taken(o) => match (o.error, o.not_counted.as_deref()) {
                    // Stored chunks count once when the message comes again.
                    (Some(e), _) => return Outcome::Later(e),
                    (None, None) => tally.counted += 1,
                    (None, Some("too_old")) => tally.too_old += 1,
                    (None, Some("weighs_nothing")) => tally.weighs_nothing += 1,
                    (None, Some(_)) => tally.duplicate += 1,
                },
                Answer::Refused(e) => {
                    tally.refused += 1;
                    first_refusal.get_or_insert(e);
                }
            }
        }
    }
    if tally.taken() == 0 {
        return Outcome::Failed(
            format!(
                "cordond refused all {} reports in it; the first: {}",
                tally.refused,
                first_refusal.unwrap_or_default()
            ),
            tally,
        );
    }
    Outcome::Imported(tally)
}

/// Gives every report without a message id one made from the Maildir
/// name's unique part (the name without its `:2,` flags) and its place in
/// the message, so that importing the message again counts nothing twice.
fn name_reports(reports: &mut [Report], name: &OsString) {
    let unique = unique_part(name);
    for (i, r) in reports.iter_mut().enumerate() {
        if r.message_id.is_none() {
            let id = format!("maildir:{}#{}", unique, i + 1);
            r.message_id = Some(clip(&id, MAX_SOURCE).into_owned());
        }
    }
}

/// The unique part of a Maildir name: what comes before `:`.
fn unique_part(name: &OsString) -> String {
    let bytes = name.as_bytes();
    let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// The name in `cur/`: the unique part with the "seen" flag (`:2,S`).
fn cur_name(name: &OsString) -> OsString {
    let bytes = name.as_bytes();
    let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
    let mut out = std::ffi::OsStr::from_bytes(&bytes[..end]).to_owned();
    out.push(":2,S");
    out
}

/// Up to `max` message names in `dir` (dot files are the MTA's), sorted:
/// Maildir names begin with the delivery time.
fn list(dir: &Path, max: usize) -> std::io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        names.push(name);
        if names.len() == max {
            break;
        }
    }
    names.sort();
    Ok(names)
}

/// The message's bytes; `None` when it is gone. Refused when it is not a
/// regular file (a symbolic link is not followed: cordond runs as root and
/// must not read what a link points at) or larger than [`MAX_MESSAGE`].
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "cannot open it: {e} (a symbolic link is not followed)"
            ));
        }
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read its metadata: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_MESSAGE {
        return Err(too_large(meta.len()));
    }
    let mut data = Vec::new();
    file.take(MAX_MESSAGE + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if data.len() as u64 > MAX_MESSAGE {
        return Err(too_large(data.len() as u64));
    }
    Ok(Some(data))
}

fn too_large(len: u64) -> String {
    format!("{len} bytes is more than the {MAX_MESSAGE} bytes a message may have")
}

/// Renames `new/NAME` to `FOLDER/TO`, creating `FOLDER` (mode 0700) when it
/// is missing. An error stops the round: the message stays in `new/`.
async fn move_to(dir: &Path, name: &OsString, folder: &str, to: &OsString) -> Result<(), String> {
    let from = dir.join("new").join(name);
    let folder_path: PathBuf = dir.join(folder);
    let to = folder_path.join(to);
    let folder = folder.to_owned();
    blocking(move || {
        match std::fs::DirBuilder::new().mode(0o700).create(&folder_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {folder}/: {e}")),
        }
        std::fs::rename(&from, &to).map_err(|e| format!("cannot move a message to {folder}/: {e}"))
    })
    .await?
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the reading task failed: {e}"))
}

#[cfg(test)]
mod tests;
