//! The control socket: what `cordon` (operators) asks `cordond`, and the
//! answers.
//!
//! Addresses travel as the operator typed them; `cordond` checks them against
//! its own config (the CLI checks too when it can read the config, to answer
//! bad input without a round trip). Times are Unix seconds, durations seconds.

use serde::{Deserialize, Serialize};

use crate::portal::HostState;
pub use crate::subscriber::{SessionRecord, SessionSource};

mod records;

pub use records::{AuditEntry, DaemonStatus, HostRecord, RecentReport, Rung, SubscriberRecord};

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
    /// Notice an address or subscriber (RFC 6108's soft answer): its next
    /// plain `http://` page load, once per `notice.interval`, shows the
    /// notice page; nothing is blocked. Its holder when a session names
    /// one, as for a quarantine.
    Notice {
        /// As typed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// A subscriber id, in place of the address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subscriber: Option<String>,
        /// Why (required, non-empty).
        reason: String,
    },
    /// Lift a quarantine (the host goes on probation), or withdraw a
    /// notice (the host is clean).
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
    /// What happened (`spam`, `bot`, `sinkhole`, `malware`, `phishing`,
    /// `brute_force`, `scan`, `other`); `other` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Points it adds to the score (at least 1); when absent, what the
    /// config gives its kind (`detection.reports.weights`).
    #[serde(default)]
    pub weight: Option<u32>,
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
    /// Why it was kept without adding to the score: `duplicate`,
    /// `too_old` or `weighs_nothing` (its kind weighs 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_counted: Option<String>,
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
            gateway: None,
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
