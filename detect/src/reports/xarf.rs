//! X-ARF, the extended abuse reporting format, in the forms it is sent:
//!
//! - **mail, versions 0.1 and 0.2**: a message with an `X-XARF: PLAIN`
//!   header whose second part, `report.txt`, is YAML: `Source`,
//!   `Source-Type` (an address is `ip-address`), `Date`, `Category` and
//!   `Report-Type`, `Reported-From`, `Report-ID`.
//! - **JSON, versions 3 and 4** (a `.json` file or a mail's JSON part):
//!   version 3 and Abusix's version 4 draft put a `Report` object
//!   (`SourceIp` or `Source.IP`, `Date`, `ReportClass`/`Category` and
//!   `ReportType`) beside `ReporterInfo`/`Reporter`, or a `Reports` list;
//!   version 4.0 (xarf-spec) is flat: `source_identifier`, `timestamp`,
//!   `category`, `type`, `reporter`.
//!
//! The kind comes from the report type first (it is the finer), then the
//! category: see [`xarf_kind`].

use std::net::IpAddr;

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;

use super::arf::sender_domain;
use super::wild_date::parse_wild_date;
use super::{FEED_WEIGHT, ImportResult, LineError, Report, ReportKind, parse_address};

/// Bytes looked at to recognise a JSON report.
const SNIFF: usize = 4096;

/// A JSON file is X-ARF when it opens an object or list and names one of
/// X-ARF's own fields near its start.
pub(super) fn is_json(data: &[u8]) -> bool {
    let head = &data[..data.len().min(SNIFF)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with(['{', '['])
        && [
            "\"xarf_version\"",
            "\"source_identifier\"",
            "\"ReportClass\"",
            "\"ReportType\"",
            "\"ReporterInfo\"",
            "\"SourceIp\"",
        ]
        .iter()
        .any(|k| text.contains(k))
}

/// Reads a JSON X-ARF file: one report, a list, or a `Reports` list.
/// Every report of it is on line 1 (JSON has no lines to speak of); a
/// rejected one is named by its place in the list.
pub(super) fn parse_json(
    data: &[u8],
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> ImportResult {
    let mut out = ImportResult::default();
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    match json_reports(data, admit) {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(r) => out.reports.push(r),
                    Err(reason) => out.rejected.push(LineError { line: 1, reason }),
                }
            }
        }
        Err((line, reason)) => out.rejected.push(LineError { line, reason }),
    }
    out
}

type Results = Vec<Result<Report, String>>;

fn json_reports(
    data: &[u8],
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Results, (u64, String)> {
    let value: Value = serde_json::from_slice(data).map_err(|e| {
        (
            e.line().max(1) as u64,
            format!("not a JSON X-ARF report: {e}"),
        )
    })?;
    let (items, outer): (Vec<&Value>, Option<&Value>) = match &value {
        Value::Array(list) => (list.iter().collect(), None),
        Value::Object(_) => match field(&value, "Reports") {
            Some(Value::Array(list)) => (list.iter().collect(), Some(&value)),
            _ => (vec![&value], None),
        },
        _ => return Err((1, "not a JSON X-ARF report: not an object".into())),
    };
    let many = items.len() > 1;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            json_report(item, outer, admit).map_err(|e| {
                if many {
                    format!("X-ARF report {}: {e}", i + 1)
                } else {
                    e
                }
            })
        })
        .collect())
}

/// One JSON report; `outer` holds the reporter of a `Reports` list.
fn json_report(
    item: &Value,
    outer: Option<&Value>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Report, String> {
    let report = field(item, "Report").unwrap_or(item);
    let source = text(report, "SourceIp")
        .or_else(|| field(report, "Source").and_then(|s| text(s, "IP")))
        .or_else(|| text(report, "Source"))
        .or_else(|| text(item, "source_identifier"))
        .ok_or("X-ARF report without SourceIp, Source or source_identifier")?;
    let address = parse_address(&source)?;
    admit(address)?;
    let date = text(report, "Date")
        .or_else(|| text(item, "timestamp"))
        .ok_or("X-ARF report without Date or timestamp")?;
    let at = parse_wild_date(&date).ok_or_else(|| format!("X-ARF date `{date}` is not a date"))?;
    let category = text(report, "Category")
        .or_else(|| text(report, "ReportClass"))
        .unwrap_or_default();
    let report_type = text(report, "ReportType")
        .or_else(|| text(report, "type"))
        .unwrap_or_default();
    let reporter = [Some(item), outer]
        .into_iter()
        .flatten()
        .find_map(|v| field(v, "ReporterInfo").or_else(|| field(v, "Reporter")))
        .and_then(|r| {
            ["ReporterOrgDomain", "domain", "ReporterOrg", "org"]
                .iter()
                .find_map(|k| text(r, k))
                .or_else(|| r.as_str().map(str::to_owned))
        })
        .map(|r| r.to_ascii_lowercase())
        .unwrap_or_else(|| "xarf".to_owned());
    let id = ["ReportId", "report_id", "ReporterCaseID"]
        .iter()
        .find_map(|k| text(report, k));
    Ok(Report {
        address,
        at,
        source: reporter,
        kind: xarf_kind(&category, &report_type),
        evidence: format!("X-ARF {category}/{report_type}"),
        message_id: id.map(|id| format!("xarf:{id}")),
        weight: FEED_WEIGHT,
    })
}

/// A field by name, any case (senders differ: `SourceIp`, `SourceIP`).
fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A scalar field as text (a number or a string), trimmed, not empty.
fn text(v: &Value, name: &str) -> Option<String> {
    let s = match field(v, name)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// Reads an X-ARF mail: its YAML `report.txt` (0.1, 0.2), or a JSON part.
pub(super) fn mail_report(
    raw: &[u8],
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Vec<Report>, String> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or("not a mail message (no header found)")?;
    for part in message.parts.iter().skip(1) {
        let contents = part.contents();
        let named = part
            .attachment_name()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if named.ends_with(".json") || is_json(contents) {
            let results = json_reports(contents, admit).map_err(|(_, e)| e)?;
            return results.into_iter().collect();
        }
        let Ok(map) = serde_yaml::from_slice::<serde_yaml::Mapping>(contents) else {
            continue;
        };
        if named == "report.txt" || yaml(&map, "Source").is_some() {
            return yaml_report(&map, &message, admit).map(|r| vec![r]);
        }
    }
    Err("X-ARF mail without a report: no YAML report.txt part and no JSON part".into())
}

/// The YAML report of X-ARF 0.1 and 0.2.
fn yaml_report(
    map: &serde_yaml::Mapping,
    message: &mail_parser::Message<'_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<Report, String> {
    let source = yaml(map, "Source").ok_or("X-ARF report.txt without Source")?;
    if let Some(kind) = yaml(map, "Source-Type")
        && !matches!(
            kind.to_ascii_lowercase().as_str(),
            "ip-address" | "ipv4" | "ipv6" | "ip"
        )
    {
        return Err(format!(
            "X-ARF report about a {kind} (`{source}`), not an address: nothing to attribute it to"
        ));
    }
    let address = parse_address(&source)?;
    admit(address)?;
    let date = yaml(map, "Date").ok_or("X-ARF report.txt without Date")?;
    let at = parse_wild_date(&date).ok_or_else(|| format!("X-ARF date `{date}` is not a date"))?;
    let category = yaml(map, "Category").unwrap_or_default();
    let report_type = yaml(map, "Report-Type").unwrap_or_default();
    let reporter = yaml(map, "Reported-From")
        .map(|f| f.rsplit('@').next().unwrap_or(&f).to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .or_else(|| sender_domain(message))
        .unwrap_or_else(|| "xarf".to_owned());
    let mut evidence = vec![format!("X-ARF {category}/{report_type}")];
    for key in ["Service", "Port"] {
        if let Some(v) = yaml(map, key) {
            evidence.push(format!("{key}: {v}"));
        }
    }
    Ok(Report {
        address,
        at,
        source: reporter,
        kind: xarf_kind(&category, &report_type),
        evidence: evidence.join("; "),
        message_id: yaml(map, "Report-ID")
            .map(|id| format!("xarf:{id}"))
            .or_else(|| message.message_id().map(str::to_owned)),
        weight: FEED_WEIGHT,
    })
}

/// A YAML field by name, any case, as text.
fn yaml(map: &serde_yaml::Mapping, name: &str) -> Option<String> {
    let value = map
        .iter()
        .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v)?;
    let s = match value {
        serde_yaml::Value::String(s) => s.trim().to_owned(),
        serde_yaml::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The kind an X-ARF category and report type name. The type decides
/// when it says (`login-attack`, `LoginAttack`, `login_attack` are one):
/// password guessing is brute force, scans and reconnaissance are scans,
/// phishing and fraud are phishing, malware and viruses are malware, bots
/// and infected hosts are bots, spam is spam. Else the category: `abuse`
/// and `messaging` (X-ARF's spam categories) are spam, `fraud` phishing,
/// `malware` malware, `infected`/`infrastructure` bots. Anything else
/// (DDoS, copyright) is other.
pub(super) fn xarf_kind(category: &str, report_type: &str) -> ReportKind {
    let norm = |s: &str| {
        s.to_ascii_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    };
    let t = norm(report_type);
    let by_type = [
        (&["login", "brute", "auth"][..], ReportKind::BruteForce),
        (&["scan", "reconnaissance", "probe"][..], ReportKind::Scan),
        (&["phish", "fraud"][..], ReportKind::Phishing),
        (&["malware", "virus"][..], ReportKind::Malware),
        (
            &["bot", "infected", "drone", "compromise"][..],
            ReportKind::Bot,
        ),
        (&["sinkhole"][..], ReportKind::Sinkhole),
        (&["spam"][..], ReportKind::Spam),
    ];
    if let Some((_, kind)) = by_type
        .iter()
        .find(|(words, _)| words.iter().any(|w| t.contains(w)))
    {
        return *kind;
    }
    match norm(category).as_str() {
        "abuse" | "messaging" | "spam" => ReportKind::Spam,
        "fraud" | "phishing" => ReportKind::Phishing,
        "malware" => ReportKind::Malware,
        "infected" | "infrastructure" => ReportKind::Bot,
        _ => ReportKind::Other,
    }
}
