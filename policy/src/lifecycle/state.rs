//! The states a subscriber address can be in, each carrying its own data, so
//! that a quarantine cannot forget its deadline.

use std::collections::BTreeMap;

use cordon_proto::portal::{HostState, Reason};
use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::subject::Subject;

pub use cordon_proto::time::Unix;

/// Where one address stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Nothing against it (a record is kept only for the self-release count).
    Clean,
    /// Told, not blocked: its next plain-`http://` page load, at most once
    /// per `notice.interval`, lands on the notice page.
    Noticed(Noticed),
    /// In the walled garden.
    Quarantined(Quarantined),
    /// Released; a relapse before `until` quarantines it again, longer.
    Probation(Probation),
}

/// A quarantine in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// When it began.
    pub since: Unix,
    /// What kind of decision it was.
    pub reason: Reason,
    /// Who decided: an operator's user name, `detection`, `report`.
    pub actor: Actor,
    /// Why, in words.
    pub note: String,
    /// Not released automatically before this (the hold, escalated on relapse).
    pub hold_until: Unix,
    /// A fixed end (`--hold`): released then, whatever the host does, and not
    /// before by itself.
    pub until: Option<Unix>,
    /// Whether the subscriber's "I have cleaned my computer" button may
    /// release it (off after a relapse and for fixed holds).
    pub self_release: bool,
    /// Relapses so far.
    pub relapses: u32,
    /// Evidence counts given with the decision (`smtp_attempts`, `reports`).
    #[serde(default)]
    pub evidence: BTreeMap<String, u64>,
}

/// A notice in force (RFC 6108's soft answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Noticed {
    /// When it began.
    pub since: Unix,
    /// What kind of decision it was.
    pub reason: Reason,
    /// Who decided.
    pub actor: Actor,
    /// Why, in words.
    pub note: String,
    /// When the notice is reviewed: quiet ends it, still sending keeps it
    /// or (with the ladder's `still_sending`) quarantines it.
    pub review_at: Unix,
    /// The subscriber pressed "I understand": out of the kernel's notice
    /// set until then (the timer's tick puts it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_until: Option<Unix>,
    /// Signal crossings since the notice began (the ladder's `crossings`
    /// quarantines at its count).
    #[serde(default)]
    pub crossings: u32,
    /// When the last crossing was counted (0: none since the notice began).
    /// A crossing within `cordon_config::ALERT_REPEAT` of it, or of the
    /// notice itself, is the same burst and not counted again.
    #[serde(default)]
    pub last_crossing: Unix,
    /// Relapses carried from a probation it was noticed on.
    #[serde(default)]
    pub relapses: u32,
    /// Noticed while on probation: a quarantine from here is a relapse.
    #[serde(default)]
    pub relapse: bool,
    /// Evidence counts given with the decision.
    #[serde(default)]
    pub evidence: BTreeMap<String, u64>,
}

impl Noticed {
    /// Whether the notice page is due: the kernel's notice set holds it.
    pub fn showing(&self) -> bool {
        self.acknowledged_until.is_none()
    }
}

/// Watching a released host for a relapse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probation {
    /// When it was released.
    pub since: Unix,
    /// When probation ends and the host is clean.
    pub until: Unix,
    /// Relapses so far (the next hold is escalated from this).
    pub relapses: u32,
}

impl State {
    /// The state's name as the protocol shows it.
    pub fn kind(&self) -> HostState {
        match self {
            State::Clean => HostState::Clean,
            State::Noticed(_) => HostState::Noticed,
            State::Quarantined(_) => HostState::Quarantined,
            State::Probation(_) => HostState::Probation,
        }
    }

    /// True while the address must be in the kernel's quarantine set.
    pub fn is_quarantined(&self) -> bool {
        matches!(self, State::Quarantined(_))
    }

    /// True while the address must be in the kernel's notice set: noticed
    /// and not acknowledged within the interval.
    pub fn is_showing_notice(&self) -> bool {
        matches!(self, State::Noticed(n) if n.showing())
    }
}

/// Everything known about one subscriber or address.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Whom the record is about.
    pub subject: Subject,
    /// Its state.
    pub state: State,
    /// When self-releases were used (pruned once outside the window).
    pub self_releases: Vec<Unix>,
    /// The MAC address last seen in the neighbour table for it.
    pub mac: Option<String>,
}

impl Host {
    /// A clean host with no history.
    pub fn clean(subject: Subject) -> Self {
        Host {
            subject,
            state: State::Clean,
            self_releases: Vec::new(),
            mac: None,
        }
    }
}
