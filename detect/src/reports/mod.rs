//! External reports: the [`Report`] type, and reading feeds of them.
//!
//! A feed file is one of two formats, told apart by its content (the abuse
//! desk drops files in; nobody should have to name the format):
//!
//! - **ARF** (RFC 5965, the format of ISP feedback loops): one message, or
//!   an mbox of several. Recognised when the first line is an mbox `From `
//!   line or a header field (`Name: value`). Each message is one report:
//!   `Source-IP`, `Arrival-Date` (or `Received-Date`, or the report's own
//!   `Date`), `Feedback-Type`, `Reported-Domain` and `User-Agent` as
//!   evidence, and the reported message's `Message-ID` so a complaint sent
//!   twice counts once.
//! - **CSV** otherwise: `address,time,source,evidence`, time as RFC 3339
//!   or Unix seconds, an optional header line, quoting as RFC 4180.
//!
//! A bad line (or a bad ARF message) is listed with its line number and
//! skipped; the valid ones around it are all kept. With [`import_for`],
//! addresses outside the subscriber prefixes or on the never-quarantine
//! list are rejected the same way, line by line.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cordon_config::Config;
use mail_parser::DateTime;

use crate::error::DetectError;

pub use cordon_policy::{Report, ReportKind};

mod arf;
mod csv;
mod mbox;
mod spamcop;
mod wild_date;
mod xarf;

/// A line (or message) of a feed that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the file (for ARF: where the message starts).
    pub line: u64,
    /// What is wrong with it, for the operator.
    pub reason: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What a feed held: the valid reports, and every line that was not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportResult {
    /// Valid reports, in file order.
    pub reports: Vec<Report>,
    /// Skipped lines, in file order.
    pub rejected: Vec<LineError>,
}

/// The format a feed was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FeedFormat {
    /// `address,time,source,evidence` lines.
    Csv,
    /// RFC 5965 abuse reports (one message or an mbox).
    Arf,
    /// SpamCop's reports (`[SpamCop (IP) id:…]`), one mail or an mbox.
    SpamCop,
    /// X-ARF 0.1/0.2 mail (`X-XARF:` header, YAML `report.txt`).
    Xarf,
    /// X-ARF 3/4 JSON.
    XarfJson,
}

/// Reads a feed file. Addresses are only checked to be IP addresses; use
/// [`import_for`] to also check them against the subscriber prefixes.
pub fn import(path: &Path) -> Result<ImportResult, DetectError> {
    let data = read(path)?;
    Ok(parse_feed(&data, |_| Ok(())))
}

/// Reads a feed file and rejects, line by line, addresses that `config`
/// would not quarantine (outside the subscriber prefixes, never-quarantine).
pub fn import_for(path: &Path, config: &Config) -> Result<ImportResult, DetectError> {
    let data = read(path)?;
    Ok(parse_feed(&data, |ip| {
        config
            .subscriber_of(ip)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }))
}

fn read(path: &Path) -> Result<Vec<u8>, DetectError> {
    std::fs::read(path).map_err(|source| DetectError::ReadFeed {
        path: path.to_owned(),
        source,
    })
}

/// Tells the format from the first non-blank line. A header field has a
/// name of letters, digits and dashes followed by `:` and a space (or the
/// end of the line); a CSV line starting with an IPv6 address never has
/// `: ` after its first colon.
pub fn detect_format(data: &[u8]) -> FeedFormat {
    if xarf::is_json(data) {
        return FeedFormat::XarfJson;
    }
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else {
        return FeedFormat::Csv;
    };
    if first.starts_with("From ") {
        return mbox::mail_format(data);
    }
    match first.split_once(':') {
        Some((name, rest))
            if !name.is_empty()
                && name.bytes().any(|b| b.is_ascii_alphabetic())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (rest.is_empty() || rest.starts_with([' ', '\t'])) =>
        {
            mbox::mail_format(data)
        }
        _ => FeedFormat::Csv,
    }
}

/// Parses a feed's bytes. `admit` may refuse an address with a reason.
/// Pure: no I/O, no clock.
pub fn parse_feed(data: &[u8], admit: impl Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    match detect_format(data) {
        FeedFormat::Csv => csv::parse(data, &admit),
        FeedFormat::Arf | FeedFormat::SpamCop | FeedFormat::Xarf => arf::parse_mbox(data, &admit),
        FeedFormat::XarfJson => xarf::parse_json(data, &admit),
    }
}

/// Weight of a report from a feed: one point, as the lab plan's
/// `report_score` counts them.
pub(crate) const FEED_WEIGHT: u32 = 1;

pub(crate) fn parse_address(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 or IPv6 address"))
}

/// RFC 3339 (`2024-05-01T10:00:00Z`, offsets allowed) or Unix seconds.
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .ok()
            .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            .ok_or_else(|| format!("`{text}` is out of range for Unix seconds"));
    }
    DateTime::parse_rfc3339(text)
        .filter(DateTime::is_valid)
        .and_then(|d| from_unix(d.to_timestamp()))
        .ok_or_else(|| {
            format!("`{text}` is not a time; write RFC 3339 (2024-05-01T10:00:00Z) or Unix seconds")
        })
}

pub(crate) fn from_unix(secs: i64) -> Option<SystemTime> {
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests;
