//! The control socket: what `cordon` (operators) asks `cordond`, and the
//! answers.
//!
//! Addresses travel as the operator typed them; `cordond` checks them against
//! its own config (the CLI checks too when it can read the config, to answer
//! bad input without a round trip). Times are Unix seconds, durations seconds.

use serde::{Deserialize, Serialize};

use crate::portal::{HostState, Reason};

/// A request from an operator's tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// How the daemon is doing: counts per state, table present, store.
    Status,
    /// Every host that is not clean.
    List,
    /// One address, clean or not.
    Show {
        /// As typed: `100.64.1.7`, `2001:db8:1:2::5`, `100.64.1.0/24`.
        address: String,
    },
    /// Put an address in the walled garden.
    Quarantine {
        /// As typed.
        address: String,
        /// Why, in the operator's words (required, non-empty).
        reason: String,
        /// A fixed length: the quarantine ends this many seconds from now
        /// whatever the host does. Without it, the quiet test decides.
        hold_s: Option<u64>,
    },
    /// Lift a quarantine (the host goes on probation).
    Release {
        /// As typed.
        address: String,
        /// Why (required, non-empty).
        reason: String,
    },
    /// The audit trail, newest first.
    History {
        /// Only this address (as typed); all addresses when absent.
        address: Option<String>,
        /// At most this many entries.
        limit: u32,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// Answer to [`Request::Status`].
    Status(DaemonStatus),
    /// Answer to [`Request::List`].
    List {
        /// Hosts that are quarantined or on probation.
        hosts: Vec<HostRecord>,
    },
    /// Answer to [`Request::Show`], and to a quarantine or release that was
    /// carried out (the host as it now stands).
    Host(HostRecord),
    /// Answer to [`Request::History`].
    History {
        /// Newest first.
        entries: Vec<AuditEntry>,
    },
    /// The request was refused or failed; `message` says why and what to do.
    Error {
        /// Whose fault: decides the CLI's exit code.
        class: ErrorClass,
        /// What was wrong and what to do.
        message: String,
    },
}

/// Why a request failed, as far as the operator's next step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The request itself was wrong (bad address, empty reason): exit 2.
    BadInput,
    /// It could not be done (kernel refused, store failed, nothing to
    /// release): exit 1.
    Failed,
}

/// One address as `cordond` knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The quarantine unit (`100.64.1.7`, `2001:db8:1:2::/64`).
    pub address: String,
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
}

/// One entry of the append-only audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sequence number in the store.
    pub id: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// The quarantine unit.
    pub address: String,
    /// State before.
    pub from: HostState,
    /// State after.
    pub to: HostState,
    /// Who: an operator's user name, `detection`, `report`, `self` or
    /// `cordond` (timers).
    pub actor: String,
    /// Why, in words.
    pub note: String,
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
    /// The store's file.
    pub store: String,
    /// Hosts quarantined.
    pub quarantined: u64,
    /// Hosts on probation.
    pub probation: u64,
    /// The last reconcile of kernel against store (Unix seconds).
    pub last_reconcile: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn messages_read_as_documented() {
        let q = Request::Quarantine {
            address: "100.64.1.7".into(),
            reason: "abuse ticket 12".into(),
            hold_s: None,
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"op":"quarantine","address":"100.64.1.7","reason":"abuse ticket 12","hold_s":null}"#
        );
        let a = Response::Error {
            class: ErrorClass::BadInput,
            message: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"kind":"error","class":"bad_input","message":"x"}"#
        );
        let back: Response = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}
