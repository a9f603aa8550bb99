//! The backend-neutral values: what a commit carries, and how lifecycle
//! records look when stored and loaded, whatever the backend.

use cordon_config::{Config, SubscriberAddr};
use cordon_proto::subscriber::SessionRecord;
use serde::{Deserialize, Serialize};

pub use cordon_policy::StoredReport;
use cordon_policy::lifecycle::{Audit, Host, State, Unix};

/// One change to write; a commit carries a batch of them.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace a host's record, written at the given time (the
    /// retention purge goes by it).
    Host(Host, Unix),
    /// Append to the audit trail.
    Audit(Audit),
    /// Keep an outside report.
    Report(StoredReport),
    /// A subscriber began holding an address: a new open row of the
    /// session history (its `ended` is ignored: the row is open).
    SessionBegan(SessionRecord),
    /// A subscriber stopped holding an address: closes its open rows for
    /// that address at `ended` (closing none is not an error: the start
    /// may predate the store, or a Stop came twice).
    SessionEnded {
        /// Who.
        subscriber: String,
        /// The address or prefix as stored (a quarantine unit as text).
        address: String,
        /// When (Unix seconds).
        ended: Unix,
    },
    /// Delete audit entries, reports, clean hosts' records and ended
    /// sessions, older than `before` (see [`Backend`](super::Backend) for
    /// exactly what).
    Purge {
        /// Unix seconds.
        before: Unix,
    },
}

/// A host row as stored: the address as text (checked against the config
/// when loaded) and the record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHost {
    /// The quarantine unit as text.
    pub address: String,
    /// The record.
    pub record: Record,
}

/// A host's record as stored (SQLite keeps it as JSON, so new fields need
/// no migration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The state with its data.
    pub state: State,
    /// Self-releases used (Unix seconds).
    #[serde(default)]
    pub self_releases: Vec<Unix>,
    /// Last known MAC.
    #[serde(default)]
    pub mac: Option<String>,
}

impl Record {
    /// The record of a host.
    pub fn of(host: &Host) -> Self {
        Record {
            state: host.state.clone(),
            self_releases: host.self_releases.clone(),
            mac: host.mac.clone(),
        }
    }
}

/// What the store held at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Every host row.
    pub hosts: Vec<StoredHost>,
    /// Every report, oldest first (the ledger is rebuilt from them).
    pub reports: Vec<StoredReport>,
    /// Every open session (not ended), oldest first: who holds what now,
    /// so a restarted cordond keeps walling in a quarantined subscriber's
    /// current addresses.
    pub sessions: Vec<SessionRecord>,
}

impl Loaded {
    /// The rows as lifecycle hosts under `config`. Rows whose address the
    /// config no longer admits (the subscriber prefixes changed) are returned
    /// apart, so the daemon can say so loudly rather than drop them silently.
    pub fn into_hosts(self, config: &Config) -> (Vec<Host>, Vec<(String, String)>) {
        let mut hosts = Vec::new();
        let mut rejected = Vec::new();
        for row in self.hosts {
            match config.subscriber_addr(&row.address) {
                Ok(addr) if addr.to_string() == row.address => hosts.push(host(addr, row.record)),
                Ok(addr) => rejected.push((row.address, format!("now reads as {addr}"))),
                Err(e) => rejected.push((row.address, e.to_string())),
            }
        }
        (hosts, rejected)
    }
}

fn host(addr: SubscriberAddr, r: Record) -> Host {
    Host {
        addr,
        state: r.state,
        self_releases: r.self_releases,
        mac: r.mac,
    }
}
