//! AbuseHUB's own CSV export (the Dutch ISPs' clearinghouse: it gathers
//! Shadowserver's, the feedback loops' and the national CERT's reports and
//! sends them on as one `abusehubcsv-*.csv` per mail). One header row, then
//! one row per event; the columns found by name: `report_type` (the feed
//! relayed: "Shadowserver Botnet Drone", "Hotmail FBL", …), `src_ip` (the
//! offender), `event_date` and `event_time` (UTC, `2024-03-08` and
//! `14:00:00`), and when present `src_port` and `infection`.
//!
//! The kind comes from the feed's name: a feedback loop (`FBL`) is spam,
//! a Shadowserver "Open …" report (an open resolver, SNMP, …: its own scan
//! found the service) a scan, otherwise the words
//! [`super::shadowserver::kind_from_words`] knows, else `other`.

use std::net::IpAddr;

use super::csv::each_record;
use super::shadowserver::kind_from_words;
use super::{FEED_WEIGHT, ImportResult, LineError, Report, ReportKind, parse_address, parse_time};

/// The sender named on every report: the clearinghouse that relayed it.
const SOURCE: &str = "abusehub";

/// Whether a header row (its fields lower-cased) is AbuseHUB's.
pub(super) fn is_header(fields: &[String]) -> bool {
    let has = |name: &str| fields.iter().any(|f| f == name);
    has("src_ip") && has("event_date") && has("event_time")
}

/// Where the telling columns are.
struct Columns {
    ip: usize,
    date: usize,
    time: usize,
    report_type: Option<usize>,
    port: Option<usize>,
    infection: Option<usize>,
}

impl Columns {
    fn find(header: &::csv::StringRecord) -> Result<Self, String> {
        let names: Vec<String> = header.iter().map(str::to_ascii_lowercase).collect();
        let at = |name: &str| names.iter().position(|n| n == name);
        let need =
            |name: &str| at(name).ok_or_else(|| format!("AbuseHUB header without a {name} column"));
        Ok(Columns {
            ip: need("src_ip")?,
            date: need("event_date")?,
            time: need("event_time")?,
            report_type: at("report_type"),
            port: at("src_port"),
            infection: at("infection"),
        })
    }
}

pub(super) fn parse(data: &[u8], admit: &dyn Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    Feed::default().piece(data, 1, admit)
}

/// An AbuseHUB export read piece by piece (see `stream`): its header comes
/// in the first piece and names the columns of all the others.
#[derive(Default)]
pub(super) struct Feed {
    columns: Option<Columns>,
    broken_header: bool,
}

impl Feed {
    /// Parses `data`, whole records whose first starts on line `line`.
    pub(super) fn piece(
        &mut self,
        data: &[u8],
        line: u64,
        admit: &dyn Fn(IpAddr) -> Result<(), String>,
    ) -> ImportResult {
        let mut out = ImportResult::default();
        each_record(data, line, None, &mut out, |out, line, record| {
            if self.broken_header {
                return;
            }
            let Some(cols) = &self.columns else {
                match Columns::find(record) {
                    Ok(c) => self.columns = Some(c),
                    Err(reason) => {
                        self.broken_header = true;
                        out.rejected.push(LineError { line, reason });
                    }
                }
                return;
            };
            match row(cols, record, admit) {
                Ok(r) => out.reports.push(r),
                Err(reason) => out.rejected.push(LineError { line, reason }),
            }
        });
        out
    }
}

/// The kind the relayed feed's name says.
fn kind_of(report_type: &str) -> ReportKind {
    let t = report_type.to_ascii_lowercase();
    if t.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "fbl")
    {
        ReportKind::Spam
    } else if t.contains("shadowserver open ") {
        ReportKind::Scan
    } else {
        kind_from_words(&t).unwrap_or(ReportKind::Other)
    }
}

fn row(
    cols: &Columns,
    record: &::csv::StringRecord,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Report, String> {
    let field = |i: Option<usize>| i.and_then(|i| record.get(i)).unwrap_or_default();
    let address = parse_address(field(Some(cols.ip)))?;
    admit(address)?;
    let (date, time) = (field(Some(cols.date)), field(Some(cols.time)));
    let at = parse_time(&format!("{date}T{time}Z")).map_err(|_| {
        format!("`{date} {time}` is not an AbuseHUB event time (event_date 2024-03-08, event_time 14:00:00, UTC)")
    })?;
    let (report_type, port, infection) = (
        field(cols.report_type),
        field(cols.port),
        field(cols.infection),
    );
    let mut evidence = Vec::new();
    for (name, value) in [
        ("report", report_type),
        ("infection", infection),
        ("port", port),
    ] {
        if !value.is_empty() {
            evidence.push(format!("{name}: {value}"));
        }
    }
    Ok(Report {
        address,
        at,
        source: SOURCE.to_owned(),
        kind: kind_of(report_type),
        evidence: evidence.join("; "),
        // The same event relayed twice counts once.
        message_id: Some(format!(
            "{SOURCE}:{report_type}:{address}:{date} {time}:{port}"
        )),
        weight: FEED_WEIGHT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_names_give_kinds() {
        for (name, kind) in [
            ("Shadowserver Botnet Drone", ReportKind::Bot),
            ("Shadowserver Sinkhole HTTP Drone", ReportKind::Sinkhole),
            ("Hotmail FBL", ReportKind::Spam),
            ("Shadowserver Open DNS Resolvers", ReportKind::Scan),
            ("Shadowserver Compromised Website", ReportKind::Malware),
            ("NCSC RAT Report", ReportKind::Other),
        ] {
            assert_eq!(kind_of(name), kind, "{name}");
        }
    }
}
