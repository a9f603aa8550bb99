//! SpamCop's spam reports: a plain mail from `…@reports.spamcop.net`
//! whose subject reads `[SpamCop (100.64.1.7) id:7187465162]…` and whose
//! body says `Email from 100.64.1.7 / Thu, 19 Jun 2003 17:34:13 -0400`
//! above the offending message; newer ones add `X-SpamCop-sourceip`.
//!
//! The offender is the subject's address, else `X-SpamCop-sourceip`, else
//! the body's `Email from` line (a report about a spamvertised web site
//! has a URL in the subject). The time is the body's `Email from` date,
//! else the report's `Date`. The SpamCop id is the message id, so a
//! report SpamCop resends (or the abuse desk forwards twice) counts once.

use std::net::IpAddr;
use std::time::SystemTime;

use mail_parser::MessageParser;

use super::wild_date::parse_wild_date;
use super::{FEED_WEIGHT, Report, ReportKind, from_unix, parse_address};

/// Reads one SpamCop report.
pub(super) fn report(
    raw: &[u8],
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Report, String> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or("not a mail message (no header found)")?;
    let subject = message.subject().unwrap_or_default();
    let (subject_source, id) = subject_tag(subject);
    let body = message.body_text(0).unwrap_or_default();
    let email_from = body.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Email from ")?;
        let (ip, date) = rest.split_once(" / ").unwrap_or((rest, ""));
        Some((ip.trim().to_owned(), date.trim().to_owned()))
    });
    let header_source = message
        .header_raw("X-SpamCop-sourceip")
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let address = subject_source
        .and_then(|s| s.parse::<IpAddr>().ok())
        .map(Ok)
        .or_else(|| header_source.map(parse_address))
        .or_else(|| email_from.as_ref().map(|(ip, _)| parse_address(ip)))
        .ok_or(
            "SpamCop report naming no address (no `[SpamCop (IP) …]` subject, \
             X-SpamCop-sourceip or `Email from IP / date` line)",
        )??;
    admit(address)?;
    let at = match email_from.as_ref().map(|(_, d)| d.as_str()) {
        Some(d) if !d.is_empty() => parse_wild_date(d)
            .ok_or_else(|| format!("SpamCop `Email from` date `{d}` is not a date"))?,
        _ => message
            .date()
            .and_then(|d| from_unix(d.to_timestamp()))
            .filter(|t| *t > SystemTime::UNIX_EPOCH)
            .ok_or("SpamCop report without an `Email from` date or a Date field")?,
    };
    let mut evidence = vec![match id {
        Some(id) => format!("SpamCop report id:{id}"),
        None => "SpamCop report".to_owned(),
    }];
    if let Some(link) = body
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("spamcop.net/"))
    {
        evidence.push(link.to_owned());
    }
    Ok(Report {
        address,
        at,
        source: "spamcop".to_owned(),
        kind: ReportKind::Spam,
        evidence: evidence.join("; "),
        message_id: id.map(|id| format!("spamcop:{id}")),
        weight: FEED_WEIGHT,
    })
}

/// The `(source)` and `id` of a `[SpamCop (source) id:123]` subject tag.
fn subject_tag(subject: &str) -> (Option<&str>, Option<&str>) {
    let Some(at) = subject.find("[SpamCop (") else {
        return (None, None);
    };
    let tag = &subject[at + "[SpamCop (".len()..];
    let tag = tag.split(']').next().unwrap_or(tag);
    let (source, rest) = tag.rsplit_once(')').unwrap_or((tag, ""));
    let id = rest
        .trim()
        .strip_prefix("id:")
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    (Some(source.trim()), id)
}
