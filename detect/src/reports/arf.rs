//! ARF (RFC 5965) abuse reports: one message, or an mbox of several (each
//! message read in its own format: ARF, SpamCop or X-ARF).

use std::net::IpAddr;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::mbox::{mail_format, message_starts, strip_from_line};
use super::wild_date::parse_wild_date;
use super::{
    FEED_WEIGHT, FeedFormat, ImportResult, LineError, Report, ReportKind, from_unix, parse_address,
    spamcop, xarf,
};

/// Splits an mbox into messages (see [`message_starts`]) and reads each
/// in the format its header names: ARF, SpamCop or X-ARF.
pub(super) fn parse_mbox(
    data: &[u8],
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> ImportResult {
    let mut out = ImportResult::default();
    let starts = message_starts(data);
    for (k, &(start, line)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |&(s, _)| s);
        let msg = strip_from_line(&data[start..end]);
        let read = match mail_format(msg) {
            FeedFormat::SpamCop => spamcop::report(msg, admit).map(|r| vec![r]),
            FeedFormat::Xarf => xarf::mail_report(msg, admit),
            _ => arf_report(msg, admit).map(|r| vec![r]),
        };
        match read {
            Ok(r) => out.reports.extend(r),
            Err(reason) => out.rejected.push(LineError { line, reason }),
        }
    }
    out
}

/// Reads one RFC 5965 message, or a Hotmail JMRP complaint (the older
/// feedback loop: `multipart/mixed` with only the original attached).
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
    let mut fields = None;
    let mut original: Option<Vec<u8>> = None;
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let (ctype, sub) = (ct.ctype(), ct.subtype().unwrap_or_default());
        if ctype.eq_ignore_ascii_case("message") && sub.eq_ignore_ascii_case("feedback-report") {
            fields = Some(part.contents());
        } else if original.is_some() {
            // the first original is the reported one
        } else if let PartType::Message(inner) = &part.body {
            original = Some(inner.raw_message().to_vec());
        } else if ctype.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("rfc822-headers") {
            original = Some(part.contents().to_vec());
        }
    }
    // The original's header, without an mbox `From ` line it may begin with.
    let original = original.as_deref().and_then(|o| {
        MessageParser::default()
            .parse_headers(strip_from_line(o))
            .map(|h| OriginalHeader {
                message_id: h.message_id().map(str::to_owned),
                fields: h
                    .headers_raw()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            })
    });
    let jmrp = !is_report
        && original.as_ref().is_some_and(|o| {
            o.fields
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("X-HmXmrOriginalRecipient"))
        });
    if !is_report && !jmrp {
        return Err("not an ARF report: the message is not multipart/report (RFC 5965)".into());
    }
    let fields = match fields {
        Some(f) => FeedbackFields::parse(f),
        None if jmrp => FeedbackFields::default(),
        None => {
            return Err(
                "ARF report without a message/feedback-report part (truncated or not RFC 5965)"
                    .into(),
            );
        }
    };

    let address = match fields.get("Source-IP") {
        Some(ip) => parse_address(ip)?,
        None => original
            .as_ref()
            .ok_or(
                "ARF report without Source-IP and without the original message: nothing to \
                 attribute it to",
            )?
            .offender(admit)?,
    };
    admit(address)?;
    let at = match fields.get("Arrival-Date").or(fields.get("Received-Date")) {
        Some(d) => parse_wild_date(d).ok_or_else(|| {
            format!("ARF date `{d}` is not a date (RFC 5322, RFC 3339 or ISO 8601)")
        })?,
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
        .or_else(|| sender_domain(&message))
        .unwrap_or_else(|| "arf".to_owned());
    let mut evidence = Vec::new();
    if jmrp {
        evidence.push("Hotmail JMRP complaint".to_owned());
    }
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
        message_id: original.and_then(|o| o.message_id),
        weight: FEED_WEIGHT,
    })
}

/// The domain of a message's `From` address, to name the sender by.
pub(super) fn sender_domain(message: &Message<'_>) -> Option<String> {
    message
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .map(|a| a.rsplit('@').next().unwrap_or(a).to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// The reported message's header, as attached to the report.
struct OriginalHeader {
    message_id: Option<String>,
    /// Raw fields, top-down.
    fields: Vec<(String, String)>,
}

impl OriginalHeader {
    /// Who sent the original, for reports without `Source-IP` (older Yahoo
    /// and Hotmail loops): its `X-Originating-IP` (brackets stripped), else
    /// the first `Received` field, top-down, that names an address `admit`
    /// takes (a subscriber's). Loopback and link-local addresses in
    /// `Received` (a relay talking to itself) are never the offender.
    fn offender(&self, admit: &dyn Fn(IpAddr) -> Result<(), String>) -> Result<IpAddr, String> {
        let named = |name: &'static str| {
            self.fields
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if let Some(ip) = named("X-Originating-IP")
            .map(|v| v.trim().trim_start_matches('[').trim_end_matches(']'))
            .find_map(|v| v.trim().parse::<IpAddr>().ok())
        {
            return Ok(ip);
        }
        let mut refused = None;
        for received in named("Received") {
            for ip in addresses_in(received) {
                match admit(ip) {
                    Ok(()) => return Ok(ip),
                    Err(e) => refused = refused.or(Some(e)),
                }
            }
        }
        Err(match refused {
            Some(e) => format!(
                "ARF report without Source-IP, and no Received field of the original names a \
                 subscriber address ({e})"
            ),
            None => "ARF report without Source-IP, and the original message has no \
                     X-Originating-IP and no address in its Received fields"
                .to_owned(),
        })
    }
}

/// The addresses a `Received` field names, in order: bracketed
/// (`[100.64.1.7]`, `[IPv6:2001:db8::5]`), parenthesised or bare.
fn addresses_in(field: &str) -> impl Iterator<Item = IpAddr> + '_ {
    field
        .split(|c: char| c.is_whitespace() || "[]()<>;,=".contains(c))
        .filter_map(|t| {
            let t = t.strip_prefix("IPv6:").unwrap_or(t);
            let t = t.strip_prefix("ipv6:").unwrap_or(t);
            t.parse::<IpAddr>().ok()
        })
        .filter(|ip| {
            !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || link_local(*ip))
        })
}

fn link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
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
