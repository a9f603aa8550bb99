//! The backend-neutral values: what a commit carries, and how lifecycle
//! records look when stored and loaded, whatever the backend.

use cordon_config::Config;
use cordon_policy::sessions::Holding;
use cordon_policy::subject::Subject;
use cordon_proto::subscriber::{SessionRecord, SubscriberId};
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
    /// This commit call is batch `seq` from `gateway`: a backend that has
    /// already applied a call with this mark stores nothing of this call
    /// and answers `Ok`, so a batch sent again (a gateway's outbox replaying
    /// after a lost answer or a crash) lands once. It marks the whole call
    /// wherever it sits among the writes; only that call is skipped, not
    /// the others a backend groups with it. See [`Backend`](super::Backend)
    /// for how long a mark is kept.
    Mark {
        /// The gateway's name (`gateway`, the fleet's name for this
        /// cordond).
        gateway: String,
        /// The batch's number, unique for this gateway and never reused
        /// (at most `i64::MAX`: a server database keeps it as a signed
        /// 64-bit integer).
        seq: u64,
    },
    /// Queue an event for a webhook, in the same commit as the decision it
    /// tells of, so a crash cannot lose an acknowledged transition.
    Webhook(Outgoing),
    /// Remove `gateway`'s queued events for `hook` up to and including row
    /// `through` (delivered, or given up): one statement, so an event the
    /// receiver acknowledged is gone as soon as this commits.
    WebhooksDone {
        /// Whose queue.
        gateway: String,
        /// The hook's URL.
        hook: String,
        /// The last row removed ([`QueuedWebhook::id`]).
        through: i64,
    },
    /// Keep only the newest `keep` of `gateway`'s events for `hook` (the
    /// queue's length bound; the oldest go).
    WebhooksTrim {
        /// Whose queue.
        gateway: String,
        /// The hook's URL.
        hook: String,
        /// How many stay.
        keep: u64,
    },
}

/// An event to queue for one webhook: the payload is made when the
/// decision is, so what is sent is what was decided, however late.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// The gateway that decided it, which alone sends it (in a fleet each
    /// gateway sends its own decisions).
    pub gateway: String,
    /// The hook's URL (its queue's name).
    pub hook: String,
    /// The event's id, the same for every hook (receivers dedupe by it).
    pub event_id: String,
    /// When the transition happened (Unix seconds): `max_age` goes by it.
    pub at: Unix,
    /// The JSON body to POST.
    pub body: String,
}

/// A queued event as read back, oldest first per hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedWebhook {
    /// The row's number: increasing in the order queued.
    pub id: i64,
    /// The event's id.
    pub event_id: String,
    /// When the transition happened.
    pub at: Unix,
    /// The JSON body.
    pub body: String,
}

/// The head of one hook's queue, and its length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookQueue {
    /// The oldest rows, at most the limit asked.
    pub rows: Vec<QueuedWebhook>,
    /// How many rows the queue holds in all.
    pub queued: u64,
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

/// A subscriber's record as stored: its id as text (checked when loaded)
/// and the record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSubscriber {
    /// The subscriber id.
    pub id: String,
    /// The record.
    pub record: Record,
}

/// What the store held at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Every address record.
    pub hosts: Vec<StoredHost>,
    /// Every subscriber record.
    pub subscribers: Vec<StoredSubscriber>,
    /// Every report, oldest first (the ledger is rebuilt from them).
    pub reports: Vec<StoredReport>,
    /// Every open session (not ended), oldest first: who holds what now,
    /// so a restarted cordond keeps walling in a quarantined subscriber's
    /// current addresses.
    pub sessions: Vec<SessionRecord>,
}

/// What a start makes of the store's rows: the lifecycle's records, the
/// open sessions, and the rows the config no longer admits, with why.
pub type Parts = (Vec<Host>, Vec<Holding>, Vec<(String, String)>);

impl Loaded {
    /// The rows as lifecycle records and open sessions under `config`.
    /// Rows whose address the config no longer admits (the subscriber
    /// prefixes changed) are returned apart, so the daemon can say so
    /// loudly rather than drop them silently. The reports are left for the
    /// caller.
    pub fn into_parts(self, config: &Config) -> Parts {
        let mut hosts = Vec::new();
        let mut rejected = Vec::new();
        for row in self.hosts {
            let address = row.address.clone();
            match row_host(config, row) {
                Ok(h) => hosts.push(h),
                Err(why) => rejected.push((address, why)),
            }
        }
        for row in self.subscribers {
            match row.id.parse::<SubscriberId>() {
                Ok(id) => hosts.push(host(Subject::Subscriber(id), row.record)),
                Err(e) => rejected.push((row.id, e.to_string())),
            }
        }
        let mut open = Vec::new();
        for s in self.sessions {
            let parsed = s
                .subscriber
                .parse::<SubscriberId>()
                .map_err(|e| e.to_string())
                .and_then(|id| {
                    config
                        .subscriber_addr(&s.address)
                        .map(|a| (id, a))
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok((subscriber, addr)) => open.push(Holding {
                    subscriber,
                    addr,
                    since: s.started,
                    source: s.source,
                    session_id: s.session_id,
                    nas: s.nas,
                    calling_station: s.calling_station,
                }),
                Err(e) => {
                    rejected.push((format!("session of {} on {}", s.subscriber, s.address), e))
                }
            }
        }
        (hosts, open, rejected)
    }
}

/// An address row as a lifecycle record under `config`, or why the config
/// no longer admits it.
pub(crate) fn row_host(config: &Config, row: StoredHost) -> Result<Host, String> {
    match config.subscriber_addr(&row.address) {
        Ok(addr) if addr.to_string() == row.address => Ok(host(Subject::Addr(addr), row.record)),
        Ok(addr) => Err(format!("now reads as {addr}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The key a record of `subject` is stored under, in either backend: the
/// address (`hosts.address`) or the subscriber's id (`subscribers.id`).
pub(crate) fn key(subject: &Subject) -> String {
    match subject {
        Subject::Addr(a) => a.to_string(),
        Subject::Subscriber(s) => s.to_string(),
    }
}

/// The address an audit entry is stored under (`audit.address`), in
/// either backend: the address it names, else its subject's; empty for a
/// subscriber's entry that names none.
pub(crate) fn audit_address(a: &Audit) -> String {
    a.address
        .or(a.subject.addr())
        .map(|x| x.to_string())
        .unwrap_or_default()
}

/// The lifecycle record of `subject` as stored.
pub(crate) fn host(subject: Subject, r: Record) -> Host {
    Host {
        subject,
        state: r.state,
        self_releases: r.self_releases,
        mac: r.mac,
    }
}
