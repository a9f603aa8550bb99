//! The portal socket: the portal asks about the subscriber that is talking to
//! it, and nothing else.
//!
//! Times are Unix seconds; durations are seconds.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A question from the portal about one address (the HTTP peer's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// What is this address's state, and the facts to show it.
    Status {
        /// The caller's address, as the portal saw it on the connection.
        address: IpAddr,
    },
    /// The subscriber pressed "I have cleaned my computer".
    SelfRelease {
        /// The caller's address.
        address: IpAddr,
    },
    /// The subscriber pressed "I understand, take me to my page" on the
    /// notice page: the notice stays away for `notice.interval`.
    Acknowledge {
        /// The caller's address.
        address: IpAddr,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::Status`].
    Status(HostStatus),
    /// Answer to [`Request::SelfRelease`].
    SelfRelease(SelfReleaseOutcome),
    /// Answer to [`Request::Acknowledge`]: whether a notice was
    /// acknowledged (false: there was none, nothing changed).
    Acknowledged {
        /// Whether the caller had a notice.
        acknowledged: bool,
    },
    /// The request could not be answered; `message` is for the log, not for
    /// subscribers.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// Where a subscriber stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Nothing against it.
    Clean,
    /// Shown a notice, not blocked.
    Noticed,
    /// In the walled garden.
    Quarantined,
    /// Released, watched for a relapse.
    Probation,
}

impl HostState {
    /// Every state, in the order a listing shows them.
    pub const ALL: [HostState; 4] = [
        HostState::Clean,
        HostState::Noticed,
        HostState::Quarantined,
        HostState::Probation,
    ];

    /// The state's name, as the wire, the store, the metrics and the CLI
    /// write it (the one mapping; serde's names are the same).
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Clean => "clean",
            HostState::Noticed => "noticed",
            HostState::Quarantined => "quarantined",
            HostState::Probation => "probation",
        }
    }

    /// The state a name stands for.
    pub fn from_name(name: &str) -> Option<HostState> {
        HostState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a host was quarantined or noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An operator did it.
    Operator,
    /// Its SMTP behaviour crossed a threshold.
    Detection,
    /// Outside reports (abuse desk, feeds, block lists) reached the score.
    Report,
}

impl Reason {
    /// The reason's name, as the wire, the store and the CLI write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Operator => "operator",
            Reason::Detection => "detection",
            Reason::Report => "report",
        }
    }
}

/// The facts the cleanup page shows a subscriber about their own connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStatus {
    /// The address or prefix the record is about (`100.64.1.7`, `2001:db8:1:2::/64`).
    pub address: String,
    /// Current state.
    pub state: HostState,
    /// Why (absent when clean).
    pub reason: Option<Reason>,
    /// When the current state began (Unix seconds).
    pub since: Option<i64>,
    /// When the quarantine ends at the latest, if an end is known.
    pub until: Option<i64>,
    /// Outbound mail (TCP/25) attempts counted since the quarantine began.
    pub smtp_attempts: u64,
    /// The last attempt (Unix seconds).
    pub last_smtp_attempt: Option<i64>,
    /// Quiet this long is needed for release (seconds).
    pub quiet_period_s: u64,
    /// How many "I have cleaned my computer" releases are left.
    pub self_releases_left: u32,
    /// The subscriber (account) the record is about, when a session named
    /// one: the page tells the subscriber which account it is.
    #[serde(default)]
    pub subscriber: Option<String>,
    /// A noticed caller who pressed "I understand": the notice is hidden
    /// until then (Unix seconds), and the kernel no longer sends its
    /// `http://` to the portal. A connection the kernel sent before the
    /// press may still bring the caller's next page to the portal.
    #[serde(default)]
    pub acknowledged_until: Option<i64>,
}

/// What came of a self-release request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SelfReleaseOutcome {
    /// Released; the connection works again.
    Released,
    /// The computer still sent mail recently: not yet.
    StillSending {
        /// Seconds since the last attempt.
        last_attempt_s_ago: u64,
        /// Seconds of quiet still needed.
        quiet_needed_s: u64,
    },
    /// The shortest quarantine has not passed yet.
    TooEarly {
        /// Seconds until it has.
        remaining_s: u64,
    },
    /// No self-releases left: call support.
    NoneLeft,
    /// Nothing to release.
    NotQuarantined,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_documented() {
        let q = Request::Status {
            address: "100.64.1.7".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"op":"status","address":"100.64.1.7"}"#
        );
        let a = Response::SelfRelease(SelfReleaseOutcome::TooEarly { remaining_s: 60 });
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"kind":"self_release","outcome":"too_early","remaining_s":60}"#
        );
    }
}
