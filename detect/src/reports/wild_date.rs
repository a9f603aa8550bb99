//! Dates as abuse mail really carries them. Feedback loops and X-ARF
//! senders write RFC 5322 dates with and without the day name, obsolete
//! zones (`PST`), two-digit years and no seconds; asctime order
//! (`Feb  3 2014 02:13:35 +0100`, X-ARF 0.2's own sample); and ISO 8601
//! with a space for the `T`. Each is put back into the order mail-parser
//! reads (RFC 5322 or RFC 3339), which does the calendar arithmetic; a
//! zone it cannot name for sure is refused rather than guessed.

use std::time::SystemTime;

use mail_parser::DateTime;

use super::from_unix;

/// Longest date text looked at: a date is never longer, and a long line
/// of junk is not worth tokenising.
const MAX_DATE: usize = 200;

/// Reads a date in any of the forms above; `None` when it is none of them.
/// A date without a zone is taken as UTC (what RFC 5322's `-0000` means).
pub(crate) fn parse_wild_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_DATE {
        return None;
    }
    let parsed = if is_iso(text) {
        iso(text)
    } else {
        rfc5322(text)
    }?;
    Some(parsed)
        .filter(DateTime::is_valid)
        .and_then(|d| from_unix(d.to_timestamp()))
}

fn is_iso(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

/// `2024-03-08T14:00:00Z`, `2024-03-08 14:00`, `2024-03-08 14:00:00 +0100`.
fn iso(text: &str) -> Option<DateTime> {
    let (date, rest) = text.split_at_checked(10)?;
    let rest = rest.trim_start_matches(['T', 't', ' ']);
    let time_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(rest.len());
    let (time, zone) = rest.split_at(time_len);
    let time = match time.matches(':').count() {
        1 => format!("{time}:00"),
        2 => time.to_owned(),
        _ => return None,
    };
    let zone = match zone.trim() {
        "" | "Z" | "z" | "UTC" | "GMT" => "Z".to_owned(),
        z => {
            let (sign, digits) = z.split_at_checked(1)?;
            if !matches!(sign, "+" | "-") {
                return None;
            }
            let digits = digits.replace(':', "");
            match digits.len() {
                2 => format!("{sign}{digits}:00"),
                4 => format!("{sign}{}:{}", &digits[..2], &digits[2..]),
                _ => return None,
            }
        }
    };
    DateTime::parse_rfc3339(&format!("{date}T{time}{zone}"))
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The parts of an RFC 5322 date in whatever order they came, then put
/// back as `DD Mon YYYY HH:MM:SS +ZZZZ`.
fn rfc5322(text: &str) -> Option<DateTime> {
    let mut month = None;
    let mut numbers: Vec<&str> = Vec::new();
    let mut time = None;
    let mut zone = None;
    let mut depth = 0usize;
    for token in text.split(|c: char| c.is_whitespace() || c == ',') {
        // Comments: `(UTC)`, `(JST)` say nothing the zone does not.
        let opens = token.matches('(').count();
        let closes = token.matches(')').count();
        let in_comment = depth > 0 || opens > 0;
        depth = (depth + opens).saturating_sub(closes);
        if token.is_empty() || in_comment {
            continue;
        }
        let lower = token.to_ascii_lowercase();
        if token.contains(':') {
            time = Some(token);
        } else if token.starts_with(['+', '-']) {
            zone = Some(token.to_owned());
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(token);
        } else if let Some(m) = MONTHS.iter().position(|m| lower.starts_with(m)) {
            month = Some(m);
        } else if DAYS.iter().any(|d| lower.starts_with(d)) {
            // the day name: redundant
        } else {
            zone = Some(named_zone(&lower)?.to_owned());
        }
    }
    let month = MONTHS[month?];
    let (day, year) = match numbers.as_slice() {
        [a, b] if a.len() == 4 => (*b, *a),
        [a, b] => (*a, *b),
        _ => return None,
    };
    let time = match time?.matches(':').count() {
        1 => format!("{}:00", time?),
        2 => time?.to_owned(),
        _ => return None,
    };
    let zone = zone.unwrap_or_else(|| "+0000".to_owned());
    DateTime::parse_rfc822(&format!("{day} {month} {year} {time} {zone}"))
}

/// Zone names seen in feedback loops' dates, as offsets. RFC 5322's
/// obsolete US zones and a few that mail from Europe and Asia carries; any
/// other name is refused (a wrong guess would move the report by hours,
/// onto whoever held the address then).
fn named_zone(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "z" | "ut" | "utc" | "gmt" => "+0000",
        "edt" => "-0400",
        "est" | "cdt" => "-0500",
        "cst" | "mdt" => "-0600",
        "mst" | "pdt" => "-0700",
        "pst" => "-0800",
        "bst" | "cet" => "+0100",
        "cest" | "eet" => "+0200",
        "eest" | "msk" => "+0300",
        "jst" | "kst" => "+0900",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> u64 {
        parse_wild_date(text)
            .unwrap_or_else(|| panic!("`{text}` not read"))
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// 2024-03-08 14:00:00 UTC.
    const T: u64 = 1_709_906_400;

    #[test]
    fn the_forms_seen_in_the_wild() {
        for text in [
            "Fri, 8 Mar 2024 14:00:00 +0000",
            "8 Mar 2024 14:00:00 +0000",
            "Fri, 08 Mar 2024 06:00:00 PST",
            "Fri, 08 Mar 2024 06:00:00 -0800 (PST)",
            "Fri, 8 Mar 24 14:00:00 GMT",
            "8 Mar 2024 14:00 +0000",
            "Mar  8 2024 15:00:00 +0100",
            "Fri Mar  8 14:00:00 2024",
            "2024-03-08T14:00:00Z",
            "2024-03-08 14:00:00Z",
            "2024-03-08 14:00:00",
            "2024-03-08 15:00 +01:00",
            "2024-03-08T15:00:00+0100",
            "2024-03-08T14:00:00.000Z",
        ] {
            assert_eq!(at(text), T, "{text}");
        }
    }

    #[test]
    fn unknown_zones_and_junk_are_refused() {
        for text in [
            "Fri, 8 Mar 2024 14:00:00 XYZT",
            "yesterday",
            "",
            "8 Foo 2024 14:00:00 +0000",
            "2024-13-08 14:00:00",
            "2024-03-08 14",
        ] {
            assert_eq!(parse_wild_date(text), None, "{text}");
        }
    }
}
