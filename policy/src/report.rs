//! Outside reports: the evidence as it comes in ([`Report`]) and as the
//! store keeps it ([`StoredReport`]), and on its way in ([`Incoming`]).

use std::net::IpAddr;
use std::time::SystemTime;

use cordon_config::SubscriberAddr;
use cordon_proto::subscriber::SubscriberId;
use cordon_proto::time::Unix;

use crate::actor::Actor;

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
    /// The reported address's quarantine unit, as text.
    pub unit: String,
    /// The subscriber it counts against: who held the address when the
    /// reported thing happened (none: nobody was known to).
    pub subscriber: Option<String>,
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
    /// The reported address's quarantine unit.
    pub unit: SubscriberAddr,
    /// Who held it when the reported thing happened, from the session
    /// history; it counts against them rather than the address.
    pub holder: Option<SubscriberId>,
    /// The report.
    pub report: Report,
    /// Who handed it in: the operator's user name, or `dnsbl`.
    pub actor: Actor,
}
