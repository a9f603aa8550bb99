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

use ::csv::StringRecord;

use super::csv::{Admit, Headed, Names, Row, evidence, field};
use super::shadowserver::kind_from_words;
use super::{FEED_WEIGHT, Report, ReportKind, parse_address, parse_time};

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
    fn find(names: &Names) -> Result<Self, String> {
        let at = |name: &str| names.at(name);
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

/// An AbuseHUB export read piece by piece (see `stream`): its header comes
/// in the first piece and names the columns of all the others.
#[derive(Default)]
pub(super) struct Feed {
    header: Headed<Columns>,
}

impl Feed {
    /// The report of one record (see [`records`](super::csv::records)); none
    /// for the header.
    pub(super) fn row(&mut self, record: &StringRecord, admit: &Admit<'_>) -> Row {
        self.header
            .row(record, Columns::find, |cols| report(cols, record, admit))
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

fn report(cols: &Columns, record: &StringRecord, admit: &Admit<'_>) -> Result<Report, String> {
    let field = |i: Option<usize>| field(record, i);
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
    Ok(Report {
        address,
        at,
        source: SOURCE.to_owned(),
        kind: kind_of(report_type),
        evidence: evidence(&[
            ("report", report_type),
            ("infection", infection),
            ("port", port),
        ]),
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
