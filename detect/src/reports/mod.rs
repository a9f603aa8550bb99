//! External reports: the [`Report`] type, and reading feeds of them.
//!
//! A feed file is in one of these formats, told apart by its content (the abuse
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
//! - **Shadowserver** CSV reports (a header naming `timestamp` and `ip` or
//!   `src_ip`), **AbuseHUB**'s CSV export (`src_ip`, `event_date`,
//!   `event_time`), **Microsoft SNDS** IP status (`first_ip,last_ip,…` or its
//!   shape), **IODEF** XML (its namespace), and **ZIP** archives of feeds:
//!   see their modules.
//! - Anything else (JSON, other XML, binary data, a letter) is refused
//!   once: [`ImportResult::unsupported`] names what it was taken for.
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
pub use stream::{Flow, HEAD, MAX_LINE, stream_feed, stream_for};

mod abusehub;
mod arf;
mod csv;
mod iodef;
mod mbox;
mod recognise;
mod shadowserver;
mod snds;
mod spamcop;
mod stream;
mod wild_date;
mod xarf;
mod zipped;

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
    /// Set when the data is in none of the formats Cordon reads: what it
    /// was recognised as ("JSON that is not X-ARF"). The whole file is
    /// refused once then, rather than line by line.
    pub unsupported: Option<String>,
    /// How many addresses the config refused (outside the subscriber
    /// prefixes, or never to be quarantined); each is also a rejected line.
    pub outside: usize,
}

impl ImportResult {
    /// A file in none of the formats, refused whole.
    pub(crate) fn unsupported(what: impl Into<String>) -> Self {
        ImportResult {
            unsupported: Some(what.into()),
            ..ImportResult::default()
        }
    }
}

/// What is known about a feed besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeedMeta<'a> {
    /// The file's name (Shadowserver names the report type in it).
    pub name: Option<&'a str>,
    /// When the file was received (its modification time): the time of
    /// reports whose format carries none (SNDS IP status).
    pub received: Option<SystemTime>,
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
    /// Shadowserver's CSV reports: a header naming `timestamp` and `ip` or
    /// `src_ip`.
    Shadowserver,
    /// Microsoft SNDS IP status: `first_ip,last_ip,blocked,reason`.
    Snds,
    /// AbuseHUB's CSV export: a header naming `src_ip`, `event_date` and
    /// `event_time` (and `report_type`, the feed it relays).
    AbuseHub,
    /// IODEF (RFC 7970, and RFC 5070's version 1) XML incident reports.
    Iodef,
    /// A ZIP archive of feeds (Shadowserver mails carry zipped CSV).
    Zip,
    /// None of the formats: what the data was recognised as.
    Unsupported(&'static str),
}

/// Reads a feed file. Addresses are only checked to be IP addresses; use
/// [`import_for`] to also check them against the subscriber prefixes.
/// Line-oriented feeds are read as they stream ([`stream_feed`]); a
/// whole-document one is refused past [`MAX_FEED`] bytes.
pub fn import(path: &Path) -> Result<ImportResult, DetectError> {
    import_with(path, |input, meta, piece| {
        stream_feed(input, meta, MAX_FEED, &|_| Ok(()), piece)
    })
}

/// Reads a feed file and rejects, line by line, addresses that `config`
/// would not quarantine (outside the subscriber prefixes, never-quarantine).
pub fn import_for(path: &Path, config: &Config) -> Result<ImportResult, DetectError> {
    import_with(path, |input, meta, piece| {
        stream_for(input, meta, MAX_FEED, config, piece)
    })
}

/// A streamed file's pieces gathered into one result.
fn import_with(
    path: &Path,
    stream: impl FnOnce(
        &mut dyn std::io::Read,
        FeedMeta<'_>,
        &mut dyn FnMut(ImportResult) -> stream::Flow,
    ) -> Result<FeedFormat, DetectError>,
) -> Result<ImportResult, DetectError> {
    let (mut file, received) = open(path)?;
    let mut all = ImportResult::default();
    let done = stream(&mut file, meta(path, received), &mut |piece| {
        all.reports.extend(piece.reports);
        all.rejected.extend(piece.rejected);
        all.outside += piece.outside;
        std::ops::ControlFlow::Continue(())
    });
    match done {
        Ok(_) => Ok(all),
        Err(e) => Err(for_file(path, e)),
    }
}

/// A streamed feed's error, naming the file.
pub fn for_file(path: &Path, e: DetectError) -> DetectError {
    match e {
        DetectError::ReadInput { source } => DetectError::ReadFeed {
            path: path.to_owned(),
            source,
        },
        DetectError::Unsupported { what } => DetectError::UnsupportedFormat {
            path: path.to_owned(),
            what,
        },
        DetectError::FeedTooLarge { what, cap } => DetectError::ReadFeed {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "it is {what}, which is read whole, and larger than {cap} bytes: split it"
            )),
        },
        other => other,
    }
}

/// Parses a feed's bytes, keeping the addresses `config` would quarantine
/// and counting those it refuses ([`ImportResult::outside`]).
pub fn parse_for(data: &[u8], meta: FeedMeta<'_>, config: &Config) -> ImportResult {
    let outside = std::cell::Cell::new(0usize);
    let mut result = parse_feed_with(data, meta, |ip| {
        config.subscriber_of(ip).map(|_| ()).map_err(|e| {
            outside.set(outside.get() + 1);
            e.to_string()
        })
    });
    result.outside = outside.get();
    result
}

/// The largest feed file read whole (mail, JSON, XML, ZIP; line-oriented
/// feeds stream and have no limit): Shadowserver's zipped reports and an
/// mbox of feedback reports are tens of megabytes; anything past this is
/// refused rather than read into memory whole.
pub const MAX_FEED: u64 = 512 * 1024 * 1024;

/// Opens a feed file, with its modification time (when it was received).
pub fn open(path: &Path) -> Result<(std::fs::File, Option<SystemTime>), DetectError> {
    let file = std::fs::File::open(path).map_err(|source| DetectError::ReadFeed {
        path: path.to_owned(),
        source,
    })?;
    let received = file.metadata().and_then(|m| m.modified()).ok();
    Ok((file, received))
}

/// What is known of a feed file besides its bytes.
pub fn meta(path: &Path, received: Option<SystemTime>) -> FeedMeta<'_> {
    FeedMeta {
        name: path.file_name().and_then(|n| n.to_str()),
        received,
    }
}

/// Tells the format from the first non-blank line. A header field has a
/// name of letters, digits and dashes followed by `:` and a space (or the
/// end of the line); a CSV line starting with an IPv6 address never has
/// `: ` after its first colon.
pub fn detect_format(data: &[u8]) -> FeedFormat {
    if data.starts_with(zipped::MAGIC) {
        return FeedFormat::Zip;
    }
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
        _ => recognise::format(data, first),
    }
}

/// Parses a feed's bytes. `admit` may refuse an address with a reason.
/// Pure: no I/O, no clock.
pub fn parse_feed(data: &[u8], admit: impl Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    parse_feed_with(data, FeedMeta::default(), admit)
}

/// [`parse_feed`], knowing the file's name and when it was received.
pub fn parse_feed_with(
    data: &[u8],
    meta: FeedMeta<'_>,
    admit: impl Fn(IpAddr) -> Result<(), String>,
) -> ImportResult {
    parse_detected(data, meta, &admit)
}

fn parse_detected(
    data: &[u8],
    meta: FeedMeta<'_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> ImportResult {
    let format = detect_format(data);
    if let Some(mut feed) = stream::LineFeed::new(format, meta) {
        return feed.piece(data, 1, admit);
    }
    match format {
        FeedFormat::Arf | FeedFormat::SpamCop | FeedFormat::Xarf => arf::parse_mbox(data, admit),
        FeedFormat::XarfJson => xarf::parse_json(data, admit),
        FeedFormat::Iodef => iodef::parse(data, admit),
        FeedFormat::Zip => zipped::parse(data, meta, admit),
        FeedFormat::Unsupported(what) => ImportResult::unsupported(what),
        // Read by their `LineFeed` above.
        FeedFormat::Csv | FeedFormat::Shadowserver | FeedFormat::Snds | FeedFormat::AbuseHub => {
            ImportResult::default()
        }
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
