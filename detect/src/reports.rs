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
use mail_parser::{DateTime, MessageParser, MimeHeaders, PartType};

use crate::error::DetectError;

pub use cordon_policy::Report;

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
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let Some(first) = text.lines().find(|l| !l.trim().is_empty()) else {
        return FeedFormat::Csv;
    };
    if first.starts_with("From ") {
        return FeedFormat::Arf;
    }
    match first.split_once(':') {
        Some((name, rest))
            if !name.is_empty()
                && name.bytes().any(|b| b.is_ascii_alphabetic())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (rest.is_empty() || rest.starts_with([' ', '\t'])) =>
        {
            FeedFormat::Arf
        }
        _ => FeedFormat::Csv,
    }
}

/// Parses a feed's bytes. `admit` may refuse an address with a reason.
/// Pure: no I/O, no clock.
pub fn parse_feed(data: &[u8], admit: impl Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    match detect_format(data) {
        FeedFormat::Csv => parse_csv(data, &admit),
        FeedFormat::Arf => parse_mbox(data, &admit),
    }
}

/// Weight of a report from a feed: one point, as the lab plan's
/// `report_score` counts them.
const FEED_WEIGHT: u32 = 1;

fn parse_csv(data: &[u8], admit: &dyn Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    let mut out = ImportResult::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(data);
    let mut record = csv::StringRecord::new();
    let mut first = true;
    let mut lines = Lines::new(data);
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.at(record.position().map_or(start, csv::Position::byte));
                let is_header = first
                    && record
                        .get(0)
                        .is_some_and(|f| f.eq_ignore_ascii_case("address"));
                first = false;
                if is_header || record.iter().all(str::is_empty) {
                    continue;
                }
                match csv_report(&record, admit) {
                    Ok(r) => out.reports.push(r),
                    Err(reason) => out.rejected.push(LineError { line, reason }),
                }
            }
            Err(e) => {
                first = false;
                let line = lines.at(e.position().map_or(start, csv::Position::byte));
                out.rejected.push(LineError {
                    line,
                    reason: format!("not a CSV line: {e}"),
                });
                // A UTF-8 error leaves the reader on the next record; any
                // other error cannot be skipped past.
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    out
}

/// Line numbers counted from byte offsets, by the line feeds before them.
/// The csv crate's own line count skips comment lines and miscounts `\r\n`
/// line ends, so a bad line of a CRLF file was reported one too low.
/// Offsets only grow, so each byte is counted once, and the next line feed
/// is looked for once per line feed: records ended by `\r` alone (which the
/// reader accepts) would otherwise each search the rest of the file for one
/// (seen: 8 s for 160 kB of them).
struct Lines<'a> {
    data: &'a [u8],
    counted_to: usize,
    line: u64,
    /// The first line feed at or after `searched_from`, if there is one.
    next_feed: Option<usize>,
    searched_from: usize,
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lines {
            data,
            counted_to: 0,
            line: 1,
            next_feed: None,
            searched_from: usize::MAX,
        }
    }

    /// The first line feed at or after `byte` (offsets only grow).
    fn feed_from(&mut self, byte: usize) -> Option<usize> {
        let known = byte >= self.searched_from && self.next_feed.is_none_or(|n| n >= byte);
        if !known {
            self.searched_from = byte;
            self.next_feed = self.data[byte..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|n| byte + n);
        }
        self.next_feed
    }

    /// The 1-based line of the record starting at `byte`: past the line
    /// feeds before it, and past comment and blank lines the reader
    /// skipped on its way to the record.
    fn at(&mut self, byte: u64) -> u64 {
        let mut byte = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        byte = byte.max(self.counted_to);
        // Only a record found at a line's start (or at the `\n` of a `\r\n`,
        // where the reader leaves it) can have blank or comment lines before
        // it to step over; one found mid-line (after a lone `\r`) cannot, and
        // stepping there would scan the rest of its line again.
        let line_start = |b: usize| {
            b == 0
                || self.data[b - 1] == b'\n'
                || (self.data[b - 1] == b'\r' && self.data.get(b) == Some(&b'\n'))
        };
        while line_start(byte) {
            let end = self.feed_from(byte);
            let text = &self.data[byte..end.unwrap_or(self.data.len())];
            let blank = text.iter().all(u8::is_ascii_whitespace);
            let comment = text.trim_ascii_start().starts_with(b"#");
            match end {
                Some(n) if blank || comment => byte = n + 1,
                _ => break,
            }
        }
        let newlines = self.data[self.counted_to..byte]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += u64::try_from(newlines).unwrap_or(0);
        self.counted_to = byte;
        self.line
    }
}

fn csv_report(
    record: &csv::StringRecord,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Report, String> {
    if record.len() != 4 {
        return Err(format!(
            "expected 4 fields (address,time,source,evidence), found {}",
            record.len()
        ));
    }
    let field = |i: usize| record.get(i).unwrap_or_default();
    let address = parse_address(field(0))?;
    admit(address)?;
    let at = parse_time(field(1))?;
    let source = field(2);
    if source.is_empty() {
        return Err("the source field is empty; name who reported it".into());
    }
    Ok(Report {
        address,
        at,
        source: source.to_owned(),
        evidence: field(3).to_owned(),
        message_id: None,
        weight: FEED_WEIGHT,
    })
}

fn parse_address(text: &str) -> Result<IpAddr, String> {
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

fn from_unix(secs: i64) -> Option<SystemTime> {
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Splits an mbox into messages at `From ` lines that follow a blank line
/// (or start the file); a file without them is one message.
fn parse_mbox(data: &[u8], admit: &dyn Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    let mut out = ImportResult::default();
    let mut starts: Vec<(usize, u64)> = Vec::new(); // (byte offset, line)
    let mut offset = 0;
    let mut prev_blank = true;
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        if starts.is_empty() && line.iter().all(u8::is_ascii_whitespace) {
            // leading blank lines
        } else if starts.is_empty() || (prev_blank && line.starts_with(b"From ")) {
            starts.push((offset, line_no));
        }
        prev_blank = line.iter().all(u8::is_ascii_whitespace);
        offset += line.len();
    }
    for (k, &(start, line)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |&(s, _)| s);
        let mut msg = &data[start..end];
        if msg.starts_with(b"From ") {
            let cut = msg
                .iter()
                .position(|&b| b == b'\n')
                .map_or(msg.len(), |p| p + 1);
            msg = &msg[cut..];
        }
        match arf_report(msg, admit) {
            Ok(r) => out.reports.push(r),
            Err(reason) => out.rejected.push(LineError { line, reason }),
        }
    }
    out
}

/// Reads one RFC 5965 message.
fn arf_report(raw: &[u8], admit: &dyn Fn(IpAddr) -> Result<(), String>) -> Result<Report, String> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or("not a mail message (no header found)")?;
    let is_report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    if !is_report {
        return Err("not an ARF report: the message is not multipart/report (RFC 5965)".into());
    }
    let mut fields = None;
    let mut original_id = None;
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let (ctype, sub) = (ct.ctype(), ct.subtype().unwrap_or_default());
        if ctype.eq_ignore_ascii_case("message") && sub.eq_ignore_ascii_case("feedback-report") {
            fields = Some(part.contents());
        } else if let PartType::Message(original) = &part.body {
            original_id = original.message_id().map(str::to_owned);
        } else if ctype.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("rfc822-headers") {
            original_id = MessageParser::default()
                .parse_headers(part.contents())
                .and_then(|h| h.message_id().map(str::to_owned));
        }
    }
    let fields = fields
        .ok_or("ARF report without a message/feedback-report part (truncated or not RFC 5965)")?;
    let fields = FeedbackFields::parse(fields);

    let address = fields
        .get("Source-IP")
        .ok_or("ARF report without Source-IP: nothing to attribute it to")
        .map_err(str::to_owned)
        .and_then(parse_address)?;
    admit(address)?;
    let at = match fields.get("Arrival-Date").or(fields.get("Received-Date")) {
        Some(d) => parse_mail_date(d)?,
        None => message
            .date()
            .and_then(|d| from_unix(d.to_timestamp()))
            .ok_or("ARF report without Arrival-Date, Received-Date or Date")?,
    };
    let source = fields
        .get("Reporting-MTA")
        .map(|m| {
            m.split_once(';')
                .map_or(m, |(_, name)| name)
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .or_else(|| {
            message
                .from()
                .and_then(|f| f.first())
                .and_then(|a| a.address())
                .map(|a| a.rsplit('@').next().unwrap_or(a).to_owned())
        })
        .unwrap_or_else(|| "arf".to_owned());
    let mut evidence = Vec::new();
    for key in ["Feedback-Type", "Reported-Domain", "User-Agent"] {
        if let Some(v) = fields.get(key) {
            evidence.push(format!("{key}: {v}"));
        }
    }
    Ok(Report {
        address,
        at,
        source,
        evidence: evidence.join("; "),
        message_id: original_id,
        weight: FEED_WEIGHT,
    })
}

fn parse_mail_date(text: &str) -> Result<SystemTime, String> {
    DateTime::parse_rfc822(text)
        .or_else(|| DateTime::parse_rfc3339(text))
        .filter(DateTime::is_valid)
        .and_then(|d| from_unix(d.to_timestamp()))
        .ok_or_else(|| format!("ARF date `{text}` is not an RFC 5322 date"))
}

/// The `Name: value` fields of a `message/feedback-report` part (RFC 5965
/// section 3.1), with folded lines joined. The first occurrence wins.
#[derive(Debug, Default)]
struct FeedbackFields(Vec<(String, String)>);

impl FeedbackFields {
    fn parse(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = fields.last_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                fields.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        FeedbackFields(fields)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests;
