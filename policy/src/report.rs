//! Outside reports: the evidence as it comes in ([`Report`]) and as the
//! store keeps it ([`StoredReport`]), on its way in ([`Incoming`]), and
//! what the audit trail and a quarantine say about it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use cordon_config::SubscriberAddr;
use cordon_proto::portal::Reason;
use cordon_proto::time::{Unix, unix};

use crate::actor::Actor;
use crate::book::Added;
use crate::ledger::ScoreReached;
use crate::lifecycle::{Event, QuarantineRequest};

/// One piece of outside evidence against an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Report {
    /// The reported address (a subscriber's, once admitted by the config).
    pub address: IpAddr,
    /// When the reported behaviour happened (arrival date, feed time).
    pub at: SystemTime,
    /// Who says so: a feed or reporter name, or a DNSBL zone.
    pub source: String,
    /// What they say, for the audit trail and the operator.
    pub evidence: String,
    /// The reported message's id; with `source` it identifies duplicates.
    pub message_id: Option<String>,
    /// Points this report adds to the address's score.
    pub weight: u32,
}

/// One outside report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// The quarantine unit it counts against, as text.
    pub unit: String,
    /// The address as reported.
    pub address: String,
    /// When the reported behaviour happened (Unix seconds).
    pub at: Unix,
    /// When cordond took it.
    pub received_at: Unix,
    /// Who says so.
    pub source: String,
    /// What they say.
    pub evidence: String,
    /// The reported message's id (duplicates count once).
    pub message_id: Option<String>,
    /// Points.
    pub weight: u32,
    /// Whether it added to the score when it came in.
    pub counted: bool,
}

/// An outside report, checked and assigned to its unit, on its way to the
/// core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The quarantine unit it counts against.
    pub unit: SubscriberAddr,
    /// The report.
    pub report: Report,
    /// Who handed it in: the operator's user name, or `dnsbl`.
    pub actor: Actor,
}

/// A report as the store keeps it.
pub fn stored(unit: SubscriberAddr, r: &Report, received_at: Unix, counted: bool) -> StoredReport {
    StoredReport {
        unit: unit.to_string(),
        address: r.address.to_string(),
        at: unix(r.at),
        received_at,
        source: r.source.clone(),
        evidence: r.evidence.clone(),
        message_id: r.message_id.clone(),
        weight: r.weight,
        counted,
    }
}

/// The audit trail's words for a report.
pub fn report_note(r: &Report, added: &Added, threshold: u32) -> String {
    let counted = if added.counted {
        String::new()
    } else {
        " (a duplicate or older than the window: not counted)".into()
    };
    let evidence = if r.evidence.is_empty() {
        "no evidence given".to_owned()
    } else {
        r.evidence.clone()
    };
    format!(
        "report from {}: {evidence}; weight {}, score {} of {threshold}{counted}",
        r.source, r.weight, added.score
    )
}

/// The quarantine a reached report score asks for.
pub fn report_quarantine(reached: &ScoreReached) -> Event {
    let mut sources: Vec<&str> = reached.reports.iter().map(|r| r.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    Event::Quarantine(QuarantineRequest {
        addr: reached.unit,
        reason: Reason::Report,
        actor: Actor::Report,
        note: format!(
            "report score {} reached {} ({} reports from {})",
            reached.score,
            reached.threshold,
            reached.reports.len(),
            sources.join(", ")
        ),
        hold: None,
        mac: None,
        evidence: BTreeMap::from([
            (
                "reports".to_owned(),
                u64::try_from(reached.reports.len()).unwrap_or(u64::MAX),
            ),
            ("score".to_owned(), u64::from(reached.score)),
        ]),
    })
}
