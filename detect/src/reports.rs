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

/// One piece of outside evidence against an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Report {
    /// The reported address (a subscriber's, once admitted by the config).
    pub address: IpAddr,
    /// When the reported behaviour happened (arrival date, feed time).
    pub at: SystemTime,
    /// Who says so: a feed or reporter name, or a DNSBL zone.
    pub source: String,
    /// What they say, for the audit trail and the operator.
    pub evidence: String,
    /// The reported message's id; with `source` it identifies duplicates.
    pub message_id: Option<String>,
    /// Points this report adds to the address's score.
    pub weight: u32,
}

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
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
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
                let line = e.position().map_or(line, |p| p.line());
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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all(_: IpAddr) -> Result<(), String> {
        Ok(())
    }

    /// RFC 5965's example report, with CRLF line ends.
    pub(crate) const ARF: &str = include_str!("../tests/samples/feedback-report.eml");

    #[test]
    fn arf_message_is_one_report() {
        assert_eq!(detect_format(ARF.as_bytes()), FeedFormat::Arf);
        let r = parse_feed(ARF.as_bytes(), all);
        assert_eq!(r.rejected, vec![]);
        let rep = &r.reports[0];
        assert_eq!(rep.address, "100.64.1.7".parse::<IpAddr>().unwrap());
        assert_eq!(rep.source, "mail.fbl.example.net");
        assert_eq!(rep.at, from_unix(1_709_906_400).unwrap());
        assert_eq!(
            rep.message_id.as_deref(),
            Some("8787KJKJ3K4J3K4J3K4J3.mail@example.net")
        );
        assert!(
            rep.evidence.contains("Feedback-Type: abuse"),
            "{}",
            rep.evidence
        );
        assert!(rep.evidence.contains("Reported-Domain: example.net"));
        assert!(rep.evidence.contains("User-Agent: SomeGenerator/1.0"));
        assert_eq!(rep.weight, 1);
    }

    #[test]
    fn mbox_of_two_messages_and_a_truncated_one() {
        let truncated: String = ARF.lines().take(20).collect::<Vec<_>>().join("\n");
        let mbox = format!(
            "From fbl@example.net Thu Mar  8 14:00:00 2024\n{ARF}\nFrom fbl@example.net Thu Mar  8 14:00:00 2024\n{}\nFrom x Thu Mar  8 14:00:00 2024\n{truncated}\n",
            ARF.replace("100.64.1.7", "100.64.1.8")
        );
        let r = parse_feed(mbox.as_bytes(), all);
        assert_eq!(r.reports.len(), 2, "{:?}", r.rejected);
        assert_eq!(
            r.reports[1].address,
            "100.64.1.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(r.rejected.len(), 1);
        // The third message starts after two full ones (with their From lines).
        let third = 2 * (ARF.lines().count() as u64 + 2) + 1; // From line, message, blank line
        assert_eq!(r.rejected[0].line, third, "{:?}", r.rejected);
        assert!(
            r.rejected[0].reason.contains("Source-IP"),
            "{:?}",
            r.rejected
        );
    }

    #[test]
    fn truncated_arf_is_rejected_not_lost() {
        let cut = &ARF[..ARF.find("Source-IP").unwrap()];
        let r = parse_feed(cut.as_bytes(), all);
        assert!(r.reports.is_empty());
        assert_eq!(r.rejected.len(), 1);
        assert_eq!(r.rejected[0].line, 1);
    }

    #[test]
    fn plain_mail_is_not_a_report() {
        let r = parse_feed(b"From: a@b\nSubject: hi\n\nhello\n", all);
        assert!(r.reports.is_empty());
        assert!(r.rejected[0].reason.contains("multipart/report"));
    }

    #[test]
    fn csv_with_header_quotes_and_bad_lines() {
        let csv = "address,time,source,evidence\n\
                   100.64.1.7,2024-03-08T14:00:00Z,spamcop,\"spam, lots of it\"\n\
                   garbage\n\
                   100.64.1.8,1709906400,abuse-desk,call from customer\n\
                   not-an-ip,1709906400,x,y\n\
                   2001:db8:1:2::5,2024-03-08T15:00:00+01:00,fbl,\"quoted \"\"word\"\"\"\n\
                   100.64.1.9,yesterday,x,y\n\
                   100.64.1.9,1,,y\n";
        assert_eq!(detect_format(csv.as_bytes()), FeedFormat::Csv);
        let r = parse_feed(csv.as_bytes(), all);
        assert_eq!(r.reports.len(), 3, "{:?}", r.rejected);
        assert_eq!(r.reports[0].evidence, "spam, lots of it");
        assert_eq!(r.reports[0].at, from_unix(1_709_906_400).unwrap());
        assert_eq!(r.reports[1].source, "abuse-desk");
        assert_eq!(r.reports[2].at, from_unix(1_709_906_400).unwrap());
        assert_eq!(r.reports[2].evidence, "quoted \"word\"");
        let lines: Vec<u64> = r.rejected.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 5, 7, 8], "{:?}", r.rejected);
    }

    #[test]
    fn ipv6_csv_line_is_not_mistaken_for_a_header() {
        assert_eq!(detect_format(b"abcd::1,1709906400,x,y\n"), FeedFormat::Csv);
        assert_eq!(detect_format(b"\n\nReturn-Path: <a@b>\n"), FeedFormat::Arf);
    }

    #[test]
    fn admit_rejects_by_line() {
        let csv = "100.64.1.7,1709906400,x,y\n192.0.2.1,1709906400,x,y\n";
        let r = parse_feed(csv.as_bytes(), |ip| {
            if ip.to_string().starts_with("100.64.") {
                Ok(())
            } else {
                Err(format!("{ip} is not a subscriber"))
            }
        });
        assert_eq!(r.reports.len(), 1);
        assert_eq!(r.rejected[0].line, 2);
        assert!(r.rejected[0].reason.contains("not a subscriber"));
    }

    /// Found by `tests/fuzz_props.rs`: a part that opens a nested message
    /// right after its boundary line, and a boundary that never closes it,
    /// reached a `debug_assert!` in mail-parser (0.11.9) and panicked in
    /// debug builds, where the lab and the tests run; release builds went
    /// on. The workspace builds mail-parser without debug assertions.
    #[test]
    fn a_nested_message_cut_short_is_rejected_not_a_panic() {
        let mail = "Content-Type: multipart/report; boundary=b\n\n\
                    --b Content-Type: message/rfc822\n\n\
                    Content-Type: message/rfc822\n\n\n\
                    --b--";
        assert_eq!(detect_format(mail.as_bytes()), FeedFormat::Arf);
        let r = parse_feed(mail.as_bytes(), all);
        assert!(r.reports.is_empty());
        assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
    }

    #[test]
    fn invalid_utf8_line_is_skipped() {
        let mut data = b"100.64.1.7,1709906400,x,y\n".to_vec();
        data.extend_from_slice(b"100.64.1.8,1709906400,\xff\xfe,y\n");
        data.extend_from_slice(b"100.64.1.9,1709906400,x,y\n");
        let r = parse_feed(&data, all);
        assert_eq!(r.reports.len(), 2, "{:?}", r.rejected);
        assert_eq!(r.rejected[0].line, 2);
    }
}
