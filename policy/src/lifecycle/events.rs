//! The lifecycle's vocabulary: the events it is told, the actions it asks
//! the daemon to carry out, the audit lines it writes and the refusals it
//! answers with. Kept apart from the machine because the daemon, the
//! detection engine and the control socket speak these types without ever
//! touching the records the machine keeps.

use std::collections::BTreeMap;
use std::time::Duration;

use cordon_config::SubscriberAddr;

use crate::subject::Subject;
use cordon_proto::portal::{HostState, Reason};

use super::state::{Host, Unix};
use crate::actor::Actor;

/// Something that happened to an address or a subscriber.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An operator, a detector or a report asks for a quarantine.
    Quarantine(QuarantineRequest),
    /// An operator lifts a quarantine.
    Release {
        /// Whom.
        subject: Subject,
        /// The operator.
        actor: Actor,
        /// Why.
        note: String,
    },
    /// The subscriber pressed "I have cleaned my computer"; `since_last` is
    /// the time since the host's last SMTP attempt as the kernel knows it
    /// (`None`: none within the quiet period).
    SelfRelease {
        /// Whom.
        subject: Subject,
        /// Time since the last SMTP attempt.
        since_last: Option<Duration>,
    },
    /// The daemon asked the kernel whether a host whose hold has passed has
    /// gone quiet (see [`Lifecycle::due_quiet_checks`](super::Lifecycle::due_quiet_checks)).
    QuietChecked {
        /// Whom.
        subject: Subject,
        /// Time since the last SMTP attempt.
        since_last: Option<Duration>,
    },
    /// Time passed: fixed holds and probations that ended are acted on,
    /// acknowledged notices whose interval passed show again.
    Tick,
    /// An operator, or a signal whose action is `notice`, asks for a
    /// notice; for a subject already noticed, a signal's notice is a
    /// crossing the ladder counts.
    Notice(NoticeRequest),
    /// The subscriber pressed "I understand, take me to my page": the
    /// notice stays away for `notice.interval`.
    Acknowledge {
        /// Whom.
        subject: Subject,
    },
    /// What a quarantine was decided on, looked up after it was enforced
    /// (detection enforces first: the attempt count and the MAC follow).
    Evidence(EvidenceUpdate),
}

/// A request to notice one subscriber unit.
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeRequest {
    /// Whom (bound to the holder like a quarantine).
    pub subject: Subject,
    /// What kind of decision.
    pub reason: Reason,
    /// Who decided.
    pub actor: Actor,
    /// Why, in words.
    pub note: String,
    /// The host's MAC, when the neighbour table knew it.
    pub mac: Option<String>,
    /// Evidence counts behind the decision.
    pub evidence: BTreeMap<String, u64>,
}

/// Evidence for a quarantine or notice already in force, filled into its
/// record.
///
/// Not a decision, so not a transition: the quarantine's (or notice's) own
/// audit line says why it was made ("crossed the threshold"); this only
/// completes the record with what the kernel counted by then. It applies
/// to the quarantine or notice that began at `since` and to no later one,
/// so a count looked up for one never lands on the next.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceUpdate {
    /// Whom, as the quarantine's record names it (already bound).
    pub subject: Subject,
    /// When the quarantine or notice it belongs to began.
    pub since: Unix,
    /// The host's MAC, when the neighbour table knew it.
    pub mac: Option<String>,
    /// Counts added to the quarantine's evidence (a key given replaces the
    /// one held).
    pub evidence: BTreeMap<String, u64>,
}

/// A request to quarantine one subscriber unit, with who asked and why.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineRequest {
    /// Whom: an address is bound to the subscriber holding it, when a
    /// session names one, before the lifecycle sees it.
    pub subject: Subject,
    /// What kind of decision.
    pub reason: Reason,
    /// Who decided.
    pub actor: Actor,
    /// Why, in words.
    pub note: String,
    /// A fixed length (`--hold`).
    pub hold: Option<Duration>,
    /// The host's MAC, when the neighbour table knew it.
    pub mac: Option<String>,
    /// Evidence counts behind the decision.
    pub evidence: BTreeMap<String, u64>,
}

/// What the daemon must do, in this order: store first, then the kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write the host's record and an audit entry (before the kernel changes).
    Persist {
        /// The record as it now stands.
        host: Box<Host>,
        /// What changed.
        audit: Audit,
    },
    /// Write the host's record without an audit line (no state changed:
    /// an acknowledgement's interval passed, a crossing was counted).
    Store(Box<Host>),
    /// The subject's addresses' place in the kernel's notice set may have
    /// changed (noticed, acknowledged, shown again, notice ended).
    Notice(Subject),
    /// The subject's addresses (for a subscriber, those it holds now) must
    /// be in the kernel's quarantine set.
    Enforce(Subject),
    /// The subject's addresses must leave the kernel's quarantine set.
    Lift(Subject),
    /// Delete the subject's addresses' conntrack entries, so established
    /// flows neither escape the walled garden nor stay redirected after
    /// release.
    FlushConntrack(Subject),
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// When.
    pub at: Unix,
    /// Whom.
    pub subject: Subject,
    /// For a subscriber's record, an address it held then (the engine
    /// fills it in, so the trail can be read by address too).
    pub address: Option<SubscriberAddr>,
    /// State before.
    pub from: HostState,
    /// State after.
    pub to: HostState,
    /// Who: operator name, `detection`, `report`, `self`, `cordond`.
    pub actor: Actor,
    /// Why.
    pub note: String,
}

/// Why an event changed nothing. Each says what the asker can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Release of an address or subscriber that is not quarantined.
    #[error("{0} is not quarantined; nothing to release (`cordon show {cli}` shows its state)", cli = .0.cli())]
    NotQuarantined(Subject),
    /// An acknowledgement from an address or subscriber with no notice.
    #[error("{0} has no notice to acknowledge (`cordon show {cli}` shows its state)", cli = .0.cli())]
    NotNoticed(Subject),
    /// The quarantine would overlap another one: the kernel's interval set
    /// cannot hold both, and two records for one host would disagree.
    #[error(
        "{addr} overlaps {other}, which is already quarantined; release {other} first or name exactly {other}"
    )]
    Overlaps {
        /// Asked for.
        addr: SubscriberAddr,
        /// Already quarantined.
        other: SubscriberAddr,
    },
    /// Self-release before the hold has passed.
    #[error("the shortest quarantine has not passed yet: {remaining:?} to go")]
    TooEarly {
        /// Time left.
        remaining: Duration,
    },
    /// Self-release while the host still sends mail.
    #[error("the computer still tried to send mail {ago:?} ago; it must be quiet for {quiet:?}")]
    StillSending {
        /// Since the last attempt.
        ago: Duration,
        /// The quiet period.
        quiet: Duration,
    },
    /// No self-releases left (used up, relapse, or fixed hold).
    #[error("no self-releases are left; the subscriber should call support")]
    NoneLeft,
    /// A `--hold` of zero.
    #[error("a hold of zero would end the quarantine at once; give a duration like 2h")]
    ZeroHold,
}
