//! The records `cordond` answers with: hosts and subscribers, reports,
//! audit entries, and the daemon's status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{SessionRecord, Suspicion};
use crate::portal::{HostState, Reason};

/// A subscriber as `cordond` knows it after a session change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberRecord {
    /// Who.
    pub subscriber: String,
    /// The addresses it holds now.
    pub addresses: Vec<String>,
    /// Its state (a quarantined subscriber's addresses are in the walled
    /// garden).
    pub state: HostState,
}

/// One address or subscriber as `cordond` knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The quarantine unit (`100.64.1.7`, `2001:db8:1:2::/64`), or for a
    /// subscriber the address asked about (empty when asked by id and it
    /// holds none).
    pub address: String,
    /// The subscriber the record is about, when the state follows a
    /// subscriber rather than an address.
    #[serde(default)]
    pub subscriber: Option<String>,
    /// The subscriber's current addresses (for an address record, itself).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Current state.
    pub state: HostState,
    /// Why it was quarantined (absent when clean).
    pub reason: Option<Reason>,
    /// Who did it: an operator's user name, `detection`, `report` or `self`.
    pub actor: Option<String>,
    /// The words given with the last change.
    pub note: Option<String>,
    /// When the current state began.
    pub since: Option<i64>,
    /// When the current state ends at the latest, if an end is fixed
    /// (`--hold`, or the end of probation).
    pub until: Option<i64>,
    /// The earliest automatic release (the hold), while quarantined.
    pub hold_until: Option<i64>,
    /// Outbound TCP/25 attempts the kernel counted within the quiet period.
    pub smtp_attempts: u64,
    /// The last of them.
    pub last_smtp_attempt: Option<i64>,
    /// Self-releases still available.
    pub self_releases_left: u32,
    /// Relapses so far (each lengthens the next hold).
    pub relapses: u32,
    /// The host's MAC address when the neighbour table knew it.
    pub mac: Option<String>,
    /// Set when a detection signal fired for it without quarantining it
    /// (`observe` mode): a suspect.
    #[serde(default)]
    pub suspect: Option<Suspicion>,
    /// Its outside-report score within `detection.reports.window`.
    #[serde(default)]
    pub report_score: u32,
    /// The evidence counts behind the current quarantine
    /// (`smtp_attempts`, `reports`, `score`).
    #[serde(default)]
    pub evidence: BTreeMap<String, u64>,
    /// The latest outside reports about it, newest first, with what they
    /// say (only in answers to `show`).
    #[serde(default)]
    pub reports: Vec<RecentReport>,
    /// The subscriber's latest sessions, newest first (only in answers to
    /// `show`).
    #[serde(default)]
    pub sessions: Vec<SessionRecord>,
    /// While noticed: the subscriber pressed "I understand"; the notice
    /// page stays away until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_until: Option<i64>,
    /// While noticed: what moves it on (the ladder's next rung).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rung: Option<Rung>,
    /// In a fleet sharing one store, the gateway that made the decision in
    /// force (in `cordon list`; absent on a single gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// The next rung of the ladder for a noticed subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rung {
    /// When the notice is reviewed (Unix seconds): quiet ends it.
    pub review_at: i64,
    /// What the review does if it still sends: `quarantined` with the
    /// ladder's `still_sending`, else `noticed` (reviewed again).
    pub if_still_sending: HostState,
    /// Signal crossings left before the ladder quarantines (absent: no
    /// `crossings` in the ladder).
    pub crossings_left: Option<u32>,
}

/// One outside report as `cordon show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentReport {
    /// When the reported behaviour happened (Unix seconds).
    pub at: i64,
    /// Who says so.
    pub source: String,
    /// What happened (`spam`, `bot`, ...).
    #[serde(default)]
    pub kind: String,
    /// What they say.
    pub evidence: String,
    /// Points it added.
    pub weight: u32,
    /// Whether it counted (false: a duplicate or too old).
    pub counted: bool,
}

/// One entry of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number in the store.
    pub id: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// The quarantine unit, or the subscriber's address the change was
    /// about (empty when there was none).
    pub address: String,
    /// The subscriber, when the record follows one.
    #[serde(default)]
    pub subscriber: Option<String>,
    /// State before.
    pub from: HostState,
    /// State after.
    pub to: HostState,
    /// Who: an operator's user name, `detection`, `report`, `self` or
    /// `cordond` (timers).
    pub actor: String,
    /// Why, in words.
    pub note: String,
    /// The gateway that wrote it, in a fleet sharing a PostgreSQL store
    /// (`None` from a single gateway's SQLite store).
    #[serde(default)]
    pub gateway: Option<String>,
}

/// The daemon at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// `cordond`'s version.
    pub version: String,
    /// When it started (Unix seconds).
    pub started: i64,
    /// The nftables table it owns.
    pub table: String,
    /// Whether that table is in the kernel right now.
    pub table_present: bool,
    /// How the live table differs from the one cordond installed (chains,
    /// rules, set definitions), in words; empty when it matches. cordond
    /// repairs a difference within a second of hearing of it.
    #[serde(default)]
    pub table_differences: Vec<String>,
    /// Whether cordond tried to repair the table and could not: then
    /// `table_differences` is what is still wrong (its log says why).
    #[serde(default)]
    pub table_repair_failed: bool,
    /// The store's file.
    pub store: String,
    /// Since when the store has not answered (Unix seconds); absent while
    /// it answers. Only a server store behind the gateway's outbox can be
    /// away: decisions are then queued locally (`store_outbox`).
    #[serde(default)]
    pub store_unreachable_since: Option<i64>,
    /// Batches of decisions waiting in the gateway's outbox for the store;
    /// absent for a store without an outbox (SQLite, which is local).
    #[serde(default)]
    pub store_outbox: Option<u64>,
    /// Batches of decisions the store refused for their data, moved aside
    /// in the gateway's outbox file (its `refused` table) so the ones
    /// behind them could go on; absent for a store without an outbox.
    #[serde(default)]
    pub store_outbox_refused: Option<u64>,
    /// Hosts quarantined.
    pub quarantined: u64,
    /// Hosts noticed (told, nothing blocked); absent from a cordond older
    /// than notices.
    #[serde(default)]
    pub noticed: u64,
    /// Hosts on probation.
    pub probation: u64,
    /// The last reconcile of kernel against store (Unix seconds).
    pub last_reconcile: Option<i64>,
}
