//! ZIP archives of feeds: Shadowserver's mails carry their CSV zipped, and
//! clearinghouses (AbuseHUB) relay them so. Each entry is read as a feed of
//! its own (its name tells Shadowserver's report type), streamed out of the
//! archive as it inflates (a CSV entry in pieces, never inflated whole);
//! what it rejects is listed with the entry's name.
//!
//! Bounded: at most [`MAX_ENTRIES`] entries, and all entries together
//! inflate to at most [`MAX_RATIO`] times the archive's size (or
//! [`MIN_BUDGET`], for small reports of repetitive rows) and never past
//! [`MAX_INFLATED`] (a zip bomb inflates a thousandfold; CSV about
//! tenfold). The sizes the archive declares are not trusted: inflation
//! stops one byte past the limit. A ZIP inside a ZIP is not opened.

use std::cell::Cell;
use std::io::{Cursor, Read};
use std::net::IpAddr;

use super::stream::{self, Flow};
use super::{FeedFormat, FeedMeta, ImportResult, LineError};
use crate::error::DetectError;

/// A local file header's signature: what every ZIP starts with.
pub(super) const MAGIC: &[u8] = b"PK\x03\x04";

/// Most entries an archive may hold.
pub(super) const MAX_ENTRIES: usize = 64;

/// Most bytes all entries may inflate to.
pub(super) const MAX_INFLATED: u64 = 256 << 20;

/// Most bytes all entries may inflate to per byte of the archive.
pub(super) const MAX_RATIO: u64 = 100;

/// What any archive may inflate to, whatever its ratio.
pub(super) const MIN_BUDGET: u64 = 1 << 20;

/// How many bytes the entries of an archive of `size` bytes may inflate to.
fn budget_for(size: usize) -> u64 {
    (size as u64)
        .saturating_mul(MAX_RATIO)
        .clamp(MIN_BUDGET, MAX_INFLATED)
}

pub(super) fn parse(
    data: &[u8],
    meta: FeedMeta<'_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> ImportResult {
    let mut out = ImportResult::default();
    let refused = stream(data, meta, admit, &mut |p| {
        out.reports.extend(p.reports);
        out.rejected.extend(p.rejected);
        Flow::Continue(())
    });
    match refused {
        Some(what) => ImportResult::unsupported(what),
        None => out,
    }
}

/// An entry's inflated bytes, counted against the archive's budget: past
/// it, reading fails (rather than ends), so the unfinished record the
/// reader holds is never parsed as if the entry ended there.
struct Inflating<'a, R> {
    inner: R,
    read: &'a Cell<u64>,
    budget: u64,
}

impl<R: Read> Read for Inflating<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        if self.read.get() > self.budget {
            return Err(std::io::Error::other(
                "the archive's inflation budget is spent",
            ));
        }
        Ok(n)
    }
}

/// Hands `piece` each entry's reports and rejected lines as they are
/// inflated. Answers what the archive was taken for when it is refused
/// whole (unreadable, too many entries, no feed inside).
pub(super) fn stream(
    data: &[u8],
    meta: FeedMeta<'_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
    piece: &mut dyn FnMut(ImportResult) -> Flow,
) -> Option<String> {
    let mut archive = match ::zip::ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(e) => return Some(format!("a ZIP that cannot be read ({e})")),
    };
    if archive.len() > MAX_ENTRIES {
        return Some(format!(
            "a ZIP of {} entries, more than the {MAX_ENTRIES} a report archive holds",
            archive.len()
        ));
    }
    let mut budget = budget_for(data.len());
    let mut feeds = 0;
    let mut rejected = false;
    let reject = |piece: &mut dyn FnMut(ImportResult) -> Flow, reason: String| {
        piece(ImportResult {
            rejected: vec![LineError { line: 1, reason }],
            ..ImportResult::default()
        })
    };
    for i in 0..archive.len() {
        let entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                rejected = true;
                if reject(piece, format!("ZIP entry {}: cannot be read ({e})", i + 1)).is_break() {
                    return None;
                }
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        // Named for the operator: no control characters, a bounded length.
        let name: String = entry
            .name()
            .map_or_else(|_| format!("entry {}", i + 1), |n| n.into_owned())
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .take(200)
            .collect();
        let inflated = Cell::new(0);
        let mut input = Inflating {
            inner: entry,
            read: &inflated,
            budget,
        };
        let entry_meta = FeedMeta {
            name: Some(&name),
            ..meta
        };
        let mut stopped = false;
        let mut relabel = |mut p: ImportResult| {
            for e in &mut p.rejected {
                e.reason = format!("in {name}: {}", e.reason);
            }
            rejected |= !p.rejected.is_empty();
            let flow = piece(p);
            stopped |= flow.is_break();
            flow
        };
        let streamed = stream::stream(&mut input, entry_meta, budget, admit, &mut relabel, false);
        if stopped {
            return None;
        }
        // Past the budget (or a whole-document entry larger than what is
        // left of it): what was read stays, nothing more is.
        let spent =
            inflated.get() > budget || matches!(streamed, Err(DetectError::FeedTooLarge { .. }));
        if spent {
            let _ = reject(
                piece,
                format!(
                    "ZIP entry {name}: the archive inflates past {} bytes ({MAX_RATIO} times its size, at most {MAX_INFLATED}); a zip bomb? Nothing more was read from it",
                    budget_for(data.len())
                ),
            );
            return None;
        }
        let why = match streamed {
            Ok(FeedFormat::Zip) => Some(format!(
                "ZIP entry {name}: a ZIP inside a ZIP is not opened"
            )),
            Ok(_) => {
                feeds += 1;
                None
            }
            Err(DetectError::Unsupported { .. }) => None,
            Err(e) => Some(format!("ZIP entry {name}: cannot be inflated ({e})")),
        };
        if let Some(why) = why {
            rejected = true;
            if reject(piece, why).is_break() {
                return None;
            }
        }
        budget -= inflated.get();
    }
    (feeds == 0 && !rejected).then(|| "a ZIP without a CSV or another feed inside".to_owned())
}
