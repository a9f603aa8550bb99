//! The control socket: what `cordon` (operators) asks `cordond`, and the
//! answers.
//!
//! Addresses travel as the operator typed them; `cordond` checks them against
//! its own config (the CLI checks too when it can read the config, to answer
//! bad input without a round trip). Times are Unix seconds, durations seconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::portal::{HostState, Reason};
pub use crate::subscriber::{SessionRecord, SessionSource};

/// A request from an operator's tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// How the daemon is doing: counts per state, table present, store.
    Status,
    /// Every host that is not clean.
    List,
    /// One address or subscriber, clean or not.
    Show {
        /// As typed: `100.64.1.7`, `2001:db8:1:2::5`, `100.64.1.0/24`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// A subscriber id, in place of the address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
    },
    /// Put an address in the walled garden: its holder when a session
    /// names one, the address itself when none does.
    Quarantine {
        /// As typed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// A subscriber id, in place of the address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// Why, in the operator's words (required, non-empty).
        reason: String,
        /// A fixed length: the quarantine ends this many seconds from now
        /// whatever the host does. Without it, the quiet test decides.
        hold_s: Option<u64>,
    },
    /// Lift a quarantine (the host goes on probation).
    Release {
        /// As typed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// A subscriber id, in place of the address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// Why (required, non-empty).
        reason: String,
    },
    /// The audit trail, newest first.
    History {
        /// Only this address (as typed); all addresses when absent.
        address: Option<String>,
        /// Only this subscriber.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// At most this many entries.
        limit: u32,
    },
    /// A subscriber holds these addresses from now (a DHCP lease, a PPP
    /// session, an operator's word). Answered once every address of a
    /// quarantined subscriber is in the walled garden. Repeating it is a
    /// refresh: nothing changes twice.
    SessionStart {
        /// Who.
        subscriber: String,
        /// Its address and prefixes, as typed (at least one).
        addresses: Vec<String>,
        /// Which system says so.
        source: SessionSource,
    },
    /// A subscriber no longer holds these addresses (any, when none are
    /// given).
    SessionStop {
        /// Who.
        subscriber: String,
        /// The addresses and prefixes it gave up; all of them when empty.
        #[serde(default)]
        addresses: Vec<String>,
        /// Which system says so.
        source: SessionSource,
    },
    /// The session history, newest first.
    Sessions {
        /// Only this subscriber; everyone's when absent.
        #[serde(default)]
        subscriber: Option<String>,
        /// At most this many lines.
        limit: u32,
    },
    /// Outside reports (the abuse desk's `cordon report`, feeds read by
    /// `cordon import`). Each is stored, added to its subscriber's score,
    /// and written to the audit trail; reaching `detection.reports.score`
    /// applies `detection.reports.action`.
    Report {
        /// The reports, in order.
        reports: Vec<ReportSubmission>,
    },
}

/// One outside report as the CLI sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSubmission {
    /// The reported address (an IPv4 or IPv6 address, not a range).
    pub address: String,
    /// When the reported behaviour happened (Unix seconds).
    pub at: i64,
    /// Who says so: a feed, a reporter, a block-list zone.
    pub source: String,
    /// What they say.
    pub evidence: String,
    /// The reported message's id: a second report with the same source and
    /// id counts once.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Points it adds to the score (at least 1).
    pub weight: u32,
}

/// What became of one [`ReportSubmission`], in the order sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportOutcome {
    /// The quarantine unit it counts against (as sent when refused).
    pub address: String,
    /// Whether it added to the score (false: refused, a duplicate, or older
    /// than the window).
    pub counted: bool,
    /// The unit's score after it.
    pub score: u32,
    /// The score that applies `detection.reports.action`.
    pub threshold: u32,
    /// The unit's state after the whole request.
    pub state: HostState,
    /// Why it was refused (bad address, empty source); absent when taken.
    #[serde(default)]
    pub error: Option<String>,
}

/// A host a detection signal fired for without quarantining it (the
/// signal's action is `observe`, or `notice` before notice pages exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspicion {
    /// The signal (`smtp_attempts`, `smtp_destinations`, `reports`).
    pub signal: String,
    /// The action configured for it (`observe`, `notice`).
    pub action: String,
    /// When it first fired (Unix seconds).
    pub first: i64,
    /// When it last fired.
    pub last: i64,
    /// How often it fired.
    pub count: u32,
}

/// The answer to a [`Request`].
///
/// A host record is the largest answer; each answer is built once, moved
/// into one frame and dropped, so boxing it would cost an allocation on
/// the most common answer to save nothing.
#[allow(clippy::large_enum_variant)]
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
        /// More pages follow on the same connection (see [`pages`]).
        #[serde(default)]
        more: bool,
    },
    /// Answer to [`Request::Show`], and to a quarantine or release that was
    /// carried out (the host as it now stands).
    Host(HostRecord),
    /// Answer to [`Request::History`].
    History {
        /// Newest first.
        entries: Vec<AuditEntry>,
        /// More pages follow on the same connection (see [`pages`]).
        #[serde(default)]
        more: bool,
    },
    /// Answer to [`Request::SessionStart`] and [`Request::SessionStop`]:
    /// the subscriber as it now stands.
    Session(SubscriberRecord),
    /// Answer to [`Request::Sessions`].
    Sessions {
        /// Newest first.
        sessions: Vec<SessionRecord>,
        /// More pages follow on the same connection (see [`pages`]).
        #[serde(default)]
        more: bool,
    },
    /// Answer to [`Request::Report`].
    Reported {
        /// One per report sent, in order.
        outcomes: Vec<ReportOutcome>,
    },
    /// The request was refused or failed; `message` says why and what to do.
    Error {
        /// Whose fault: decides the CLI's exit code.
        class: ErrorClass,
        /// What was wrong and what to do.
        message: String,
    },
}

/// How many bytes of records one answer frame carries at most (well under
/// [`crate::frame::MAX_FRAME`]); a record alone is bounded far below it.
pub const PAGE_BYTES: usize = 1024 * 1024;

/// Splits a listing into pages of at most [`PAGE_BYTES`] of JSON each (at
/// least one record per page, and one empty page for an empty listing).
/// `cordond` answers a `list` or `history` with one frame per page, every
/// page but the last marked `more`, so no number or size of records can
/// exceed the frame limit; `cordon` reads frames until `more` is false.
pub fn pages<T: Serialize>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut bytes = 0;
    for item in items {
        let size = serde_json::to_vec(&item).map_or(PAGE_BYTES, |v| v.len() + 1);
        if !page.is_empty() && bytes + size > PAGE_BYTES {
            pages.push(std::mem::take(&mut page));
            bytes = 0;
        }
        bytes += size;
        page.push(item);
    }
    pages.push(page);
    pages
}

impl Response {
    /// The answer as the frames to send: a listing in pages, anything else
    /// as it is.
    pub fn into_frames(self) -> Vec<Response> {
        fn mark<T>(pages: Vec<Vec<T>>, f: impl Fn(Vec<T>, bool) -> Response) -> Vec<Response> {
            let last = pages.len().saturating_sub(1);
            pages
                .into_iter()
                .enumerate()
                .map(|(i, p)| f(p, i < last))
                .collect()
        }
        match self {
            Response::List { hosts, .. } => {
                mark(pages(hosts), |hosts, more| Response::List { hosts, more })
            }
            Response::History { entries, .. } => mark(pages(entries), |entries, more| {
                Response::History { entries, more }
            }),
            Response::Sessions { sessions, .. } => mark(pages(sessions), |sessions, more| {
                Response::Sessions { sessions, more }
            }),
            other => vec![other],
        }
    }

    /// Whether another frame of the same answer follows.
    pub fn more(&self) -> bool {
        matches!(
            self,
            Response::List { more: true, .. }
                | Response::History { more: true, .. }
                | Response::Sessions { more: true, .. }
        )
    }

    /// Adds the records of a following page to this one; false (and
    /// nothing added) when `next` is not a page of the same listing.
    pub fn extend(&mut self, next: Response) -> bool {
        match (self, next) {
            (Response::List { hosts, more }, Response::List { hosts: h, more: m }) => {
                hosts.extend(h);
                *more = m;
                true
            }
            (
                Response::History { entries, more },
                Response::History {
                    entries: e,
                    more: m,
                },
            ) => {
                entries.extend(e);
                *more = m;
                true
            }
            (
                Response::Sessions { sessions, more },
                Response::Sessions {
                    sessions: s,
                    more: m,
                },
            ) => {
                sessions.extend(s);
                *more = m;
                true
            }
            _ => false,
        }
    }
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
}

/// One outside report as `cordon show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentReport {
    /// When the reported behaviour happened (Unix seconds).
    pub at: i64,
    /// Who says so.
    pub source: String,
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
            address: Some("100.64.1.7".into()),
            subscriber: None,
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

    #[test]
    fn listings_split_into_bounded_pages_and_join_again() {
        let entry = |id: i64, note: String| AuditEntry {
            id,
            at: 0,
            address: "100.64.1.7".into(),
            subscriber: None,
            from: HostState::Clean,
            to: HostState::Quarantined,
            actor: "op".into(),
            note,
        };
        let entries: Vec<AuditEntry> = (0..40).map(|i| entry(i, "x".repeat(131_000))).collect();
        let frames = Response::History {
            entries: entries.clone(),
            more: false,
        }
        .into_frames();
        assert!(frames.len() >= 5, "{}", frames.len());
        let mut joined = frames[0].clone();
        for (i, f) in frames.iter().enumerate() {
            assert!(serde_json::to_vec(f).unwrap().len() <= PAGE_BYTES + 200);
            assert_eq!(f.more(), i + 1 < frames.len());
            if i > 0 {
                assert!(joined.extend(f.clone()));
            }
        }
        assert_eq!(
            joined,
            Response::History {
                entries,
                more: false
            }
        );
        let empty = Response::List {
            hosts: vec![],
            more: false,
        };
        assert_eq!(empty.clone().into_frames(), vec![empty]);
    }
}
