//! ZIP archives of feeds: Shadowserver's mails carry their CSV zipped, and
//! clearinghouses (AbuseHUB) relay them so. Each entry is read as a feed of
//! its own (its name tells Shadowserver's report type); what it rejects is
//! listed with the entry's name.
//!
//! Bounded: at most [`MAX_ENTRIES`] entries, and all entries together
//! inflate to at most [`MAX_RATIO`] times the archive's size (or
//! [`MIN_BUDGET`], for small reports of repetitive rows) and never past
//! [`MAX_INFLATED`] (a zip bomb inflates a thousandfold; CSV about
//! tenfold). The sizes the archive declares are not trusted: inflation
//! stops one byte past the limit. A ZIP inside a ZIP is not opened.

use std::io::{Cursor, Read};
use std::net::IpAddr;

use super::{FeedFormat, FeedMeta, ImportResult, LineError, detect_format, parse_feed_with};

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
    let mut archive = match ::zip::ZipArchive::new(Cursor::new(data)) {
        Ok(a) => a,
        Err(e) => return ImportResult::unsupported(format!("a ZIP that cannot be read ({e})")),
    };
    if archive.len() > MAX_ENTRIES {
        return ImportResult::unsupported(format!(
            "a ZIP of {} entries, more than the {MAX_ENTRIES} a report archive holds",
            archive.len()
        ));
    }
    let mut budget = budget_for(data.len());
    let mut out = ImportResult::default();
    let mut feeds = 0;
    for i in 0..archive.len() {
        let mut entry = match archive.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                out.rejected.push(LineError {
                    line: 1,
                    reason: format!("ZIP entry {}: cannot be read ({e})", i + 1),
                });
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
        let mut inflated = Vec::new();
        let read = (&mut entry).take(budget + 1).read_to_end(&mut inflated);
        if let Err(e) = read {
            out.rejected.push(LineError {
                line: 1,
                reason: format!("ZIP entry {name}: cannot be inflated ({e})"),
            });
            continue;
        }
        let size = inflated.len() as u64;
        if size > budget {
            out.rejected.push(LineError {
                line: 1,
                reason: format!(
                    "ZIP entry {name}: the archive inflates past {} bytes ({MAX_RATIO} times its size, at most {MAX_INFLATED}); a zip bomb? Nothing more was read from it",
                    budget_for(data.len())
                ),
            });
            break;
        }
        budget -= size;
        match detect_format(&inflated) {
            FeedFormat::Zip => {
                out.rejected.push(LineError {
                    line: 1,
                    reason: format!("ZIP entry {name}: a ZIP inside a ZIP is not opened"),
                });
                continue;
            }
            FeedFormat::Unsupported(_) => continue,
            _ => {}
        }
        feeds += 1;
        let entry_meta = FeedMeta {
            name: Some(&name),
            ..meta
        };
        let found = parse_feed_with(&inflated, entry_meta, admit);
        out.reports.extend(found.reports);
        out.rejected
            .extend(found.rejected.into_iter().map(|e| LineError {
                line: e.line,
                reason: format!("in {name}: {}", e.reason),
            }));
    }
    if feeds == 0 && out.rejected.is_empty() {
        return ImportResult::unsupported("a ZIP without a CSV or another feed inside");
    }
    out
}
