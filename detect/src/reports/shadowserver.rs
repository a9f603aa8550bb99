//! Shadowserver's CSV reports: one header row naming the columns, then one
//! row per event. Every report type has `timestamp` (UTC,
//! `2024-03-08 14:00:00`) and the address as `ip` (scan and blocklist
//! reports) or `src_ip` (event reports: sinkhole, honeypot); the rest of
//! the columns vary by type, so they are found by name, never by place.
//!
//! The kind of each row, first rule that names one:
//! 1. a `report_type` column (clearinghouses such as AbuseHUB relay several
//!    types in one file);
//! 2. the type in the file name, as Shadowserver names its attachments
//!    (`2024-03-08-event4_sinkhole_http-nl-geo.csv`, older
//!    `2016-07-24-botnet_drone-nl-geo.csv`), or the name's stem;
//! 3. the row's `infection`: a bot seen by a sinkhole (a sinkhole event, with
//!    a `dst_ip` column) or a drone report;
//! 4. the row's `tag` (`ssh-brute-force`, …);
//! 5. otherwise `other`, with the columns kept as evidence.
//!
//! A type names its kind by words ([`kind_from_words`]): `scan_*` reports
//! (Shadowserver's own scans finding an open or vulnerable service) are
//! `scan`, which the config can weigh 0.

use std::time::SystemTime;

use ::csv::StringRecord;

use super::csv::{Admit, Headed, Names, Row, evidence, field};
use super::{FEED_WEIGHT, FeedMeta, Report, ReportKind, parse_address, parse_time};

/// The sender named on every report.
const SOURCE: &str = "shadowserver";

/// The kind a report type or tag names by its words, if any. Shared by
/// the formats whose senders name a type in free words (IODEF too).
pub(super) fn kind_from_words(words: &str) -> Option<ReportKind> {
    let w = words.to_ascii_lowercase();
    let any = |keys: &[&str]| keys.iter().any(|k| w.contains(k));
    if any(&["brute", "bruteforce", "login-attempt", "password-guess"]) {
        Some(ReportKind::BruteForce)
    } else if any(&["sinkhole"]) {
        Some(ReportKind::Sinkhole)
    } else if any(&[
        "drone",
        "botnet",
        "bot-infection",
        "bot_infection",
        "infection",
    ]) {
        Some(ReportKind::Bot)
    } else if any(&["spam", "blocklist", "blacklist"]) {
        Some(ReportKind::Spam)
    } else if any(&["phish", "social-engineering", "fraud"]) {
        Some(ReportKind::Phishing)
    } else if any(&["malware", "compromised", "virus", "trojan"]) {
        Some(ReportKind::Malware)
    } else if any(&["scan", "darknet", "recon"]) {
        Some(ReportKind::Scan)
    } else {
        None
    }
}

/// The report type a Shadowserver file name carries after its date
/// (`2024-03-08-scan_ssh-nl-geo.csv` → `scan_ssh`), else the name's stem.
fn type_from_name(name: &str) -> Option<&str> {
    let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = stem.split_once('.').map_or(stem, |(s, _)| s);
    let dated = stem.len() > 11
        && stem.as_bytes()[..11].iter().enumerate().all(|(i, b)| {
            if matches!(i, 4 | 7 | 10) {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let t = if dated {
        stem[11..].split('-').next().unwrap_or_default()
    } else {
        stem
    };
    (!t.is_empty()).then_some(t)
}

/// Where the telling columns are.
struct Columns {
    ip: usize,
    timestamp: usize,
    report_type: Option<usize>,
    infection: Option<usize>,
    tag: Option<usize>,
    protocol: Option<usize>,
    port: Option<usize>,
    /// Sinkhole events name the sinkhole as `dst_ip`.
    sinkhole_event: bool,
}

impl Columns {
    fn find(names: &Names) -> Result<Self, String> {
        let at = |name: &str| names.at(name);
        Ok(Columns {
            ip: at("ip")
                .or_else(|| at("src_ip"))
                .ok_or("Shadowserver header without an ip or src_ip column")?,
            timestamp: at("timestamp").ok_or("Shadowserver header without a timestamp column")?,
            report_type: at("report_type"),
            infection: at("infection"),
            tag: at("tag"),
            protocol: at("protocol"),
            port: at("port").or_else(|| at("src_port")),
            sinkhole_event: at("dst_ip").is_some() && at("src_ip").is_some(),
        })
    }
}

/// A Shadowserver report read piece by piece (see `stream`): its header
/// comes in the first piece and names the columns of all the others.
pub(super) struct Feed<'a> {
    file_type: Option<&'a str>,
    header: Headed<Columns>,
}

impl<'a> Feed<'a> {
    pub(super) fn new(meta: FeedMeta<'a>) -> Self {
        Feed {
            file_type: meta
                .name
                .and_then(type_from_name)
                .filter(|t| kind_from_words(t).is_some()),
            header: Headed::default(),
        }
    }

    /// The report of one record (see [`records`](super::csv::records)); none
    /// for the header.
    pub(super) fn row(&mut self, record: &StringRecord, admit: &Admit<'_>) -> Row {
        let file_type = self.file_type;
        self.header.row(record, Columns::find, |cols| {
            report(cols, file_type, record, admit)
        })
    }
}

fn report(
    cols: &Columns,
    file_type: Option<&str>,
    record: &StringRecord,
    admit: &Admit<'_>,
) -> Result<Report, String> {
    let field = |i: Option<usize>| field(record, i);
    let address = parse_address(field(Some(cols.ip)))?;
    admit(address)?;
    let stamp = field(Some(cols.timestamp));
    let at = shadowserver_time(stamp)?;
    let (infection, tag) = (field(cols.infection), field(cols.tag));
    let row_type = field(cols.report_type);
    let report_type = Some(row_type)
        .filter(|t| kind_from_words(t).is_some())
        .or(file_type);
    let kind = report_type
        .and_then(kind_from_words)
        .or_else(|| {
            (!infection.is_empty()).then_some(if cols.sinkhole_event {
                ReportKind::Sinkhole
            } else {
                ReportKind::Bot
            })
        })
        .or_else(|| kind_from_words(tag))
        .unwrap_or(ReportKind::Other);
    let report_type = report_type.unwrap_or(row_type);
    let port = field(cols.port);
    Ok(Report {
        address,
        at,
        source: SOURCE.to_owned(),
        kind,
        evidence: evidence(&[
            ("report", report_type),
            ("infection", infection),
            ("tag", tag),
            ("protocol", field(cols.protocol)),
            ("port", port),
        ]),
        // The same event imported twice (a resent mail, a relayed copy)
        // counts once.
        message_id: Some(format!(
            "{SOURCE}:{address}:{stamp}:{port}:{infection}{tag}"
        )),
        weight: FEED_WEIGHT,
    })
}

/// Shadowserver's timestamps are UTC without a zone
/// (`2024-03-08 14:00:00`); RFC 3339 and Unix seconds are taken too.
fn shadowserver_time(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    let b = text.as_bytes();
    if b.len() == 19 && b[10] == b' ' {
        let rfc3339 = format!("{}T{}Z", &text[..10], &text[11..]);
        return parse_time(&rfc3339).map_err(|_| {
            format!("`{text}` is not a Shadowserver timestamp (2024-03-08 14:00:00, UTC)")
        });
    }
    parse_time(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header without a column the feed needs names the file's one
    /// error, on its line; the rows after it are not each tried as a
    /// header again (each a second error of the same header).
    #[test]
    fn a_header_without_a_timestamp_is_the_files_one_error() {
        let data = b"ip,port\n192.0.2.1,25\n192.0.2.2,25\n";
        let mut feed = super::super::stream::LineFeed::Shadowserver(Feed::new(FeedMeta::default()));
        let r = feed.piece(data, 1, &|_| Ok(()));
        assert!(r.reports.is_empty(), "{:?}", r.reports);
        assert_eq!(r.rejected.len(), 1, "{:?}", r.rejected);
        assert_eq!(r.rejected[0].line, 1);
        assert!(
            r.rejected[0].reason.contains("timestamp"),
            "{:?}",
            r.rejected
        );
    }

    #[test]
    fn report_types_name_their_kinds() {
        for (name, kind) in [
            (
                "2024-03-08-event4_sinkhole_http-nl-geo.csv",
                ReportKind::Sinkhole,
            ),
            ("2016-07-24-botnet_drone-nl-geo.csv", ReportKind::Bot),
            ("2024-03-08-scan_ssh-nl-geo.csv", ReportKind::Scan),
            (
                "2024-03-08-event4_honeypot_brute_force-nl-geo.csv",
                ReportKind::BruteForce,
            ),
            ("2024-03-08-blocklist-nl-geo.csv", ReportKind::Spam),
            (
                "2024-03-08-compromised_website-nl-geo.csv",
                ReportKind::Malware,
            ),
            (
                "2024-03-08-event4_honeypot_darknet-nl-geo.csv",
                ReportKind::Scan,
            ),
            ("scan_rdp.csv", ReportKind::Scan),
        ] {
            let t = type_from_name(name);
            assert_eq!(t.and_then(kind_from_words), Some(kind), "{name}: {t:?}");
        }
        assert_eq!(
            type_from_name("2024-03-08-device_id-nl-geo.csv"),
            Some("device_id")
        );
        assert_eq!(kind_from_words("device_id"), None);
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(
            shadowserver_time("2024-03-08 14:00:00"),
            parse_time("2024-03-08T14:00:00Z")
        );
        assert!(shadowserver_time("2024-03-08 25:00:00").is_err());
    }
}
