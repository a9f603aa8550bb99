//! Recognising the formats whose first line is not a mail header: the
//! CSV dialects by their header (or shape), XML by its namespace, and
//! what is none of them, so that such a file is refused once with what it
//! was taken for instead of a "expected 4 fields" per line.

use std::net::Ipv4Addr;

use super::FeedFormat;

/// How far into a file a namespace or a NUL byte is looked for.
const SNIFF: usize = 64 << 10;

/// IODEF's XML namespaces (RFC 5070's version 1 and RFC 7970's 2) share
/// this prefix.
pub(super) const IODEF_NS: &str = "urn:ietf:params:xml:ns:iodef-";

/// The format of a file whose first non-blank line is `first` and is not
/// a mail header or an mbox `From ` line.
pub(super) fn format(data: &[u8], first: &str) -> FeedFormat {
    let head = &data[..data.len().min(SNIFF)];
    let first = first.trim_start_matches('\u{feff}').trim();
    if head.starts_with(b"%PDF") {
        return FeedFormat::Unsupported("a PDF document, not a report feed");
    }
    if head.contains(&0) {
        return FeedFormat::Unsupported("binary data (NUL bytes), not a text feed or a ZIP");
    }
    if first.starts_with('<') {
        if String::from_utf8_lossy(head).contains(IODEF_NS) {
            return FeedFormat::Iodef;
        }
        return FeedFormat::Unsupported("XML that is not IODEF (no IODEF namespace)");
    }
    if first.starts_with(['{', '[']) {
        return FeedFormat::Unsupported("JSON that is not X-ARF");
    }
    let fields: Vec<String> = first
        .split(',')
        .map(|f| f.trim().trim_matches('"').trim().to_ascii_lowercase())
        .collect();
    let has = |name: &str| fields.iter().any(|f| f == name);
    if has("timestamp") && (has("ip") || has("src_ip")) {
        return FeedFormat::Shadowserver;
    }
    if super::abusehub::is_header(&fields) {
        return FeedFormat::AbuseHub;
    }
    if is_snds(&fields) {
        return FeedFormat::Snds;
    }
    let header_like = fields.len() >= 2
        && fields.iter().all(|f| {
            f.starts_with(|c: char| c.is_ascii_alphabetic())
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _-.".contains(c))
        });
    if header_like && fields[0] != "address" {
        return FeedFormat::Unsupported(
            "CSV whose header names neither Cordon's columns (address,time,source,evidence) nor Shadowserver's (timestamp and ip or src_ip) nor AbuseHUB's (src_ip, event_date, event_time) nor SNDS's (first_ip,last_ip,blocked,reason)",
        );
    }
    if !any_feed_line(head) {
        return FeedFormat::Unsupported(
            "text in which no line is a feed line (neither a mail header nor a CSV line starting with an address)",
        );
    }
    FeedFormat::Csv
}

/// Lines looked at for one that could be a line of Cordon's CSV.
const SAMPLE_LINES: usize = 20;

/// Whether any of the first content lines starts with what could be an
/// address (hex digits, dots, colons) or Cordon's `address` header: a
/// letter or a log pasted in is refused once, not line by line.
fn any_feed_line(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(SAMPLE_LINES)
        .peekable();
    if lines.peek().is_none() {
        return true;
    }
    lines.any(|l| {
        let f = l
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"');
        f.eq_ignore_ascii_case("address")
            || (!f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == '.' || c == ':'))
    })
}

/// SNDS IP status: its header, or its shape (no header in the export):
/// two IPv4 addresses and a yes/no.
fn is_snds(fields: &[String]) -> bool {
    match fields {
        [a, b, ..] if a == "first_ip" && b == "last_ip" => true,
        [a, b, blocked, ..] => {
            a.parse::<Ipv4Addr>().is_ok()
                && b.parse::<Ipv4Addr>().is_ok()
                && (blocked == "yes" || blocked == "no")
        }
        _ => false,
    }
}
