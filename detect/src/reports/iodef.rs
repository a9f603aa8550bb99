//! IODEF incident reports (RFC 7970, and version 1 of RFC 5070 that many
//! CSIRTs still send): XML whose root is `IODEF-Document` in the IODEF
//! namespace, one or more `Incident`s. Each address of a `System` with
//! `category="source"` (in a `Flow`) is one report:
//!
//! - time: `DetectTime`, else `StartTime`, else `ReportTime`, else
//!   `GenerationTime` (RFC 3339);
//! - kind: the `Assessment`'s `Impact` (v1) or `SystemImpact`/`IntendedImpact`
//!   (v2) type (`recon` → scan, `social-engineering` → phishing, an
//!   `ext-value`'s `ext-type`, else by its words), else the words of the
//!   `Method`'s descriptions and references (`malware`, `spam`, …), else
//!   other;
//! - source: the creator `Contact`'s `ContactName`, else the `IncidentID`'s
//!   `name` (the CSIRT), else `iodef`;
//! - message id: CSIRT, incident id and address, so a resent report counts
//!   once.
//!
//! Bounded: no DTD (so no entities: roxmltree refuses a DTD by default),
//! at most [`MAX_BYTES`] bytes, [`MAX_NODES`] nodes and [`MAX_DEPTH`]
//! levels.

use std::net::IpAddr;

use roxmltree::{Document, Node, ParsingOptions};

use super::recognise::IODEF_NS;
use super::shadowserver::kind_from_words;
use super::{FEED_WEIGHT, ImportResult, LineError, Report, ReportKind, parse_address, parse_time};

/// Most bytes an IODEF document may have (a report of thousands of
/// incidents is a few MB).
pub(super) const MAX_BYTES: usize = 16 << 20;
/// Most XML nodes (elements, text, attributes' owners) a document may have.
const MAX_NODES: u32 = 1_000_000;
/// Most element nesting: IODEF's deepest paths are about a dozen levels.
pub(super) const MAX_DEPTH: usize = 64;
/// Most characters of a description kept as evidence.
const MAX_DESCRIPTION: usize = 200;

pub(super) fn parse(data: &[u8], admit: &dyn Fn(IpAddr) -> Result<(), String>) -> ImportResult {
    let mut out = ImportResult::default();
    let reject = |reason: String| ImportResult {
        rejected: vec![LineError { line: 1, reason }],
        ..ImportResult::default()
    };
    if data.len() > MAX_BYTES {
        return reject(format!(
            "IODEF document of {} bytes, more than the {MAX_BYTES} accepted; split it",
            data.len()
        ));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return reject("IODEF document that is not UTF-8".into());
    };
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = match Document::parse_with_options(text, options) {
        Ok(d) => d,
        Err(e) => {
            return ImportResult {
                rejected: vec![LineError {
                    line: u64::from(e.pos().row.max(1)),
                    reason: format!(
                        "not well-formed XML, or with a DTD (refused: entities could expand without bound): {e}"
                    ),
                }],
                ..ImportResult::default()
            };
        }
    };
    let root = doc.root_element();
    if !is(root, "IODEF-Document") {
        return ImportResult::unsupported(
            "XML that is not IODEF (its root is not an IODEF-Document in the IODEF namespace)",
        );
    }
    if too_deep(&doc) {
        return reject(format!(
            "IODEF document nested deeper than {MAX_DEPTH} levels; not a real report"
        ));
    }
    let mut lines = LineCounter::new(text);
    for incident in root.children().filter(|n| is(*n, "Incident")) {
        let line = lines.at(incident.range().start);
        match incident_reports(incident, admit) {
            Ok((reports, refused)) => {
                out.reports.extend(reports);
                out.rejected
                    .extend(refused.into_iter().map(|reason| LineError { line, reason }));
            }
            Err(reason) => out.rejected.push(LineError { line, reason }),
        }
    }
    out
}

/// An element of the IODEF namespace with this local name.
fn is(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node
            .tag_name()
            .namespace()
            .is_some_and(|n| n.starts_with(IODEF_NS))
}

fn first<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.descendants().find(|n| is(*n, name))
}

fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default().trim()
}

/// Whether any element nests deeper than [`MAX_DEPTH`], in one pass
/// (a node's depth is its parent's plus one, parents come first).
fn too_deep(doc: &Document<'_>) -> bool {
    let mut depth: Vec<u16> = Vec::new();
    for node in doc.descendants() {
        let d = node
            .parent()
            .and_then(|p| depth.get(p.id().get_usize()))
            .map_or(0, |d| d.saturating_add(1));
        let id = node.id().get_usize();
        if depth.len() <= id {
            depth.resize(id + 1, 0);
        }
        depth[id] = d;
        if usize::from(d) > MAX_DEPTH {
            return true;
        }
    }
    false
}

/// One incident's reports, and the reasons its other addresses were refused.
fn incident_reports(
    incident: Node<'_, '_>,
    admit: &dyn Fn(IpAddr) -> Result<(), String>,
) -> Result<(Vec<Report>, Vec<String>), String> {
    let id_node = first(incident, "IncidentID");
    let csirt = id_node
        .and_then(|n| n.attribute("name"))
        .unwrap_or_default();
    let id = id_node.map(text).unwrap_or_default();
    let at = ["DetectTime", "StartTime", "ReportTime", "GenerationTime"]
        .iter()
        .find_map(|name| first(incident, name))
        .ok_or("IODEF incident without DetectTime, StartTime, ReportTime or GenerationTime")
        .map_err(str::to_owned)
        .and_then(|n| parse_time(text(n)))?;
    let (impact, kind) = impact_kind(incident);
    let source = incident
        .descendants()
        .filter(|n| is(*n, "Contact") && n.attribute("role") == Some("creator"))
        .find_map(|c| first(c, "ContactName").map(text))
        .filter(|s| !s.is_empty())
        .or(Some(csirt).filter(|s| !s.is_empty()))
        .unwrap_or("iodef")
        .to_owned();
    let description: String = first(incident, "Description")
        .map(text)
        .unwrap_or_default()
        .chars()
        .take(MAX_DESCRIPTION)
        .collect();
    let mut evidence = vec![format!("incident: {csirt} {id}")];
    if !impact.is_empty() {
        evidence.push(format!("impact: {impact}"));
    }
    if !description.is_empty() {
        evidence.push(description);
    }
    let evidence = evidence.join("; ");
    let (mut reports, mut refused) = (Vec::new(), Vec::new());
    let sources = incident
        .descendants()
        .filter(|n| is(*n, "System") && n.attribute("category") == Some("source"));
    for address in sources.flat_map(|s| s.descendants().filter(|n| is(*n, "Address"))) {
        let category = address.attribute("category").unwrap_or("ipv4-addr");
        if category != "ipv4-addr" && category != "ipv6-addr" {
            refused.push(format!(
                "IODEF source address `{}` of category {category}: only single addresses (ipv4-addr, ipv6-addr) are attributed",
                text(address)
            ));
            continue;
        }
        match parse_address(text(address)).and_then(|a| admit(a).map(|()| a)) {
            Ok(a) => reports.push(Report {
                address: a,
                at,
                source: source.clone(),
                kind,
                evidence: evidence.clone(),
                message_id: Some(format!("iodef:{csirt}:{id}:{a}")),
                weight: FEED_WEIGHT,
            }),
            Err(e) => refused.push(e),
        }
    }
    if reports.is_empty() && refused.is_empty() {
        return Err(format!(
            "IODEF incident {csirt} {id} without a source System address: nothing to attribute it to"
        ));
    }
    Ok((reports, refused))
}

/// The impact type an incident's assessment names, and its kind.
fn impact_kind(incident: Node<'_, '_>) -> (String, ReportKind) {
    let impact = ["Impact", "SystemImpact", "IntendedImpact"]
        .iter()
        .find_map(|name| first(incident, name))
        .map(|n| match n.attribute("type") {
            Some("ext-value") => n.attribute("ext-type").unwrap_or("ext-value"),
            t => t.unwrap_or_default(),
        })
        .unwrap_or_default();
    let by_type = match impact {
        "recon" => Some(ReportKind::Scan),
        "social-engineering" => Some(ReportKind::Phishing),
        t => kind_from_words(t),
    };
    let kind = by_type.or_else(|| {
        first(incident, "Method").and_then(|m| {
            m.descendants()
                .filter(|n| n.is_text())
                .find_map(|n| kind_from_words(n.text().unwrap_or_default()))
        })
    });
    (impact.to_owned(), kind.unwrap_or(ReportKind::Other))
}

/// Line numbers of byte offsets that only grow, counted once.
struct LineCounter<'a> {
    text: &'a str,
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text,
            at: 0,
            line: 1,
        }
    }

    fn at(&mut self, offset: usize) -> u64 {
        let offset = offset.clamp(self.at, self.text.len());
        let feeds = self.text.as_bytes()[self.at..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += u64::try_from(feeds).unwrap_or(0);
        self.at = offset;
        self.line
    }
}
