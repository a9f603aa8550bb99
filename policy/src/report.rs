//! Outside reports: the evidence as it comes in ([`Report`]) and as the
//! store keeps it ([`StoredReport`]), and on its way in ([`Incoming`]).

use std::net::IpAddr;
use std::time::SystemTime;

use cordon_config::SubscriberAddr;
use cordon_proto::subscriber::SubscriberId;
use cordon_proto::time::Unix;
use serde::{Deserialize, Serialize};

use crate::actor::Actor;

/// What an outside report says happened, as its format tells it: the
/// config weighs each kind (`detection.reports.weights`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A spam complaint (a feedback loop, SpamCop, an abuse mail).
    Spam,
    /// A bot or drone infection (Shadowserver's drone and botnet reports).
    Bot,
    /// A connection to a sinkholed command-and-control server.
    Sinkhole,
    /// Malware served or sent.
    Malware,
    /// Phishing or fraud.
    Phishing,
    /// Password guessing (SSH, mail, web logins).
    BruteForce,
    /// Port or vulnerability scanning.
    Scan,
    /// Anything else, or not said.
    #[default]
    Other,
}

impl ReportKind {
    /// Every kind, in order.
    pub const ALL: [ReportKind; 8] = [
        ReportKind::Spam,
        ReportKind::Bot,
        ReportKind::Sinkhole,
        ReportKind::Malware,
        ReportKind::Phishing,
        ReportKind::BruteForce,
        ReportKind::Scan,
        ReportKind::Other,
    ];

    /// The name the config, the CLI and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Spam => "spam",
            ReportKind::Bot => "bot",
            ReportKind::Sinkhole => "sinkhole",
            ReportKind::Malware => "malware",
            ReportKind::Phishing => "phishing",
            ReportKind::BruteForce => "brute_force",
            ReportKind::Scan => "scan",
            ReportKind::Other => "other",
        }
    }

    /// The kind a name spells.
    pub fn from_name(name: &str) -> Option<ReportKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The points the config gives a report of this kind.
    pub fn weight(self, w: &cordon_config::ReportWeights) -> u32 {
        match self {
            ReportKind::Spam => w.spam,
            ReportKind::Bot => w.bot,
            ReportKind::Sinkhole => w.sinkhole,
            ReportKind::Malware => w.malware,
            ReportKind::Phishing => w.phishing,
            ReportKind::BruteForce => w.brute_force,
            ReportKind::Scan => w.scan,
            ReportKind::Other => w.other,
        }
    }
}

impl std::fmt::Display for ReportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of outside evidence against an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Report {
    /// The reported address (a subscriber's, once admitted by the config).
    pub address: IpAddr,
    /// When the reported behaviour happened (arrival date, feed time).
    pub at: SystemTime,
    /// Who says so: a feed or reporter name, or a DNSBL zone.
    pub source: String,
    /// What happened, as the format tells it.
    pub kind: ReportKind,
    /// What they say, for the audit trail and the operator.
    pub evidence: String,
    /// The reported message's id; with `source` it identifies duplicates.
    pub message_id: Option<String>,
    /// Points this report adds to the address's score.
    pub weight: u32,
}

/// One outside report as stored (serialisable: a gateway's outbox keeps
/// it as JSON while the store is away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// What happened.
    pub kind: ReportKind,
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
