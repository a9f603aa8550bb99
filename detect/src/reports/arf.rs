//! ARF (RFC 5965) abuse reports: one message, or an mbox of several.

use std::net::IpAddr;
use std::time::SystemTime;

use mail_parser::{DateTime, MessageParser, MimeHeaders, PartType};

use super::{FEED_WEIGHT, ImportResult, LineError, Report, ReportKind, from_unix, parse_address};

/// Splits an mbox into messages at `From ` lines that follow a blank line
/// (or start the file); a file without them is one message.
pub(super) fn parse_mbox(
    data: &[u8],
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> ImportResult {
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
        kind: feedback_kind(fields.get("Feedback-Type")),
        evidence: evidence.join("; "),
        message_id: original_id,
        weight: FEED_WEIGHT,
    })
}

/// The kind an ARF `Feedback-Type` names (RFC 5965 section 7.3): a
/// complaint is spam unless it says fraud (phishing) or virus.
fn feedback_kind(feedback_type: Option<&str>) -> ReportKind {
    match feedback_type.map(str::to_ascii_lowercase).as_deref() {
        Some("fraud") => ReportKind::Phishing,
        Some("virus") => ReportKind::Malware,
        Some("not-spam") | Some("other") => ReportKind::Other,
        _ => ReportKind::Spam,
    }
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
