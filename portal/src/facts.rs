//! What the cleanup page says about the caller's own connection, worked out
//! from `cordond`'s answer and the clock. Pure: time is passed in, so every
//! sentence the page can show is tested without a socket.

use cordon_proto::portal::{HostState, HostStatus, Reason, SelfReleaseOutcome};
use serde::Serialize;

/// Where the caller stands, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Nothing against the connection.
    Clean,
    /// Told about a problem, nothing blocked.
    Noticed,
    /// In the walled garden.
    Quarantined,
    /// Released recently, watched for a relapse.
    Probation,
    /// `cordond` could not be asked: general advice only.
    Unknown,
}

impl From<HostState> for Standing {
    fn from(s: HostState) -> Self {
        match s {
            HostState::Clean => Standing::Clean,
            HostState::Noticed => Standing::Noticed,
            HostState::Quarantined => Standing::Quarantined,
            HostState::Probation => Standing::Probation,
        }
    }
}

/// The facts shown on the page; durations are whole seconds (the template
/// words them in the reader's language).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// Where the caller stands.
    pub standing: Standing,
    /// Why, as a word the templates branch on (`detection`, `report`, `operator`).
    pub reason: Option<&'static str>,
    /// How long the current state has lasted.
    pub since_s: Option<u64>,
    /// Mail attempts counted since the quarantine began.
    pub smtp_attempts: u64,
    /// How long ago the last attempt was.
    pub last_attempt_s: Option<u64>,
    /// The quiet needed for release.
    pub quiet_period_s: u64,
    /// How long the connection has been quiet (since the last attempt, or
    /// since the quarantine began if nothing was counted).
    pub quiet_for_s: Option<u64>,
    /// The quiet already reaches the quiet period: release is near.
    pub quiet_enough: bool,
    /// Time left until the fixed end, in whole seconds (the page rounds it
    /// up when it words it).
    pub remaining_s: Option<u64>,
    /// An operator set a fixed end (`cordon quarantine --hold`): the
    /// connection comes back then and only then, so the page says so instead
    /// of promising the quiet test or a button that was never offered.
    pub fixed_end: bool,
    /// "I have cleaned my computer" presses left.
    pub self_releases_left: u32,
    /// Whether to offer the button.
    pub can_self_release: bool,
    /// The account (subscriber id) the quarantine follows, when a session
    /// named one: it stays on whatever address the computer gets next.
    pub account: Option<String>,
    /// Noticed, and the notice acknowledged ("I understand") and hidden now.
    pub notice_acknowledged: bool,
}

impl Facts {
    /// When `cordond` could not be asked.
    pub fn unknown() -> Facts {
        Facts {
            standing: Standing::Unknown,
            reason: None,
            since_s: None,
            smtp_attempts: 0,
            last_attempt_s: None,
            quiet_period_s: 0,
            quiet_for_s: None,
            quiet_enough: false,
            remaining_s: None,
            fixed_end: false,
            self_releases_left: 0,
            can_self_release: false,
            account: None,
            notice_acknowledged: false,
        }
    }

    /// Works out the facts from `cordond`'s answer at `now` (Unix seconds).
    /// Timestamps in the future (clock skew) count as "just now".
    pub fn from_status(status: &HostStatus, now: i64) -> Facts {
        let ago = |t: i64| u64::try_from(now.saturating_sub(t)).unwrap_or(0);
        let standing = Standing::from(status.state);
        let since_s = status.since.map(ago);
        let last_attempt_s = status.last_smtp_attempt.map(ago);
        let quiet_for_s = last_attempt_s.or(since_s);
        let quiet_enough = quiet_for_s.is_some_and(|q| q >= status.quiet_period_s);
        let remaining_s = status
            .until
            .map(|until| u64::try_from(until.saturating_sub(now)).unwrap_or(0));
        // cordond sends `until` for a quarantine only when an operator gave
        // it a fixed end, which ends it at that time and not by the quiet
        // test, and takes the button away. Presses left would mean the button
        // is offered after all: then the page keeps to the quiet test.
        let fixed_end = standing == Standing::Quarantined
            && remaining_s.is_some()
            && status.self_releases_left == 0;
        Facts {
            standing,
            reason: status.reason.map(|r| match r {
                Reason::Operator => "operator",
                Reason::Detection => "detection",
                Reason::Report => "report",
            }),
            since_s,
            smtp_attempts: status.smtp_attempts,
            last_attempt_s,
            quiet_period_s: status.quiet_period_s,
            quiet_for_s,
            quiet_enough,
            remaining_s,
            fixed_end,
            self_releases_left: status.self_releases_left,
            can_self_release: standing == Standing::Quarantined && status.self_releases_left > 0,
            account: status
                .subscriber
                .clone()
                .filter(|_| matches!(standing, Standing::Quarantined | Standing::Probation)),
            notice_acknowledged: standing == Standing::Noticed
                && status.acknowledged_until.is_some_and(|until| until > now),
        }
    }

    /// Whether the OS should show its captive-portal sign-in: only for a
    /// quarantined caller. Unknown counts as not captive: when `cordond` is
    /// down, telling every subscriber's phone it is captive would pop the
    /// sign-in sheet across the whole network, while quarantined hosts still
    /// reach the page through the redirect listener.
    pub fn captive(&self) -> bool {
        self.standing == Standing::Quarantined
    }
}

/// A self-release answer, ready for the outcome page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// `released`, `still_sending`, `too_early`, `none_left`,
    /// `not_quarantined` or `unavailable`.
    pub kind: &'static str,
    /// Seconds since the last mail attempt (`still_sending`).
    pub last_attempt_s: u64,
    /// Seconds still to wait (`still_sending`, `too_early`); the page rounds
    /// them up when it words them, so a 2-second wait reads "2 seconds".
    pub wait_s: u64,
}

impl Outcome {
    /// From `cordond`'s answer, or `None` when it could not be asked.
    pub fn from_answer(answer: Option<&SelfReleaseOutcome>) -> Outcome {
        let (kind, last_attempt_s, wait_s) = match answer {
            Some(SelfReleaseOutcome::Released) => ("released", 0, 0),
            Some(SelfReleaseOutcome::StillSending {
                last_attempt_s_ago,
                quiet_needed_s,
            }) => ("still_sending", *last_attempt_s_ago, *quiet_needed_s),
            Some(SelfReleaseOutcome::TooEarly { remaining_s }) => ("too_early", 0, *remaining_s),
            Some(SelfReleaseOutcome::NoneLeft) => ("none_left", 0, 0),
            Some(SelfReleaseOutcome::NotQuarantined) => ("not_quarantined", 0, 0),
            None => ("unavailable", 0, 0),
        };
        Outcome {
            kind,
            last_attempt_s,
            wait_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quarantined() -> HostStatus {
        HostStatus {
            reason: Some(Reason::Detection),
            since: Some(1_000),
            until: Some(1_000 + 7 * 86_400),
            smtp_attempts: 412,
            last_smtp_attempt: Some(1_000 + 3_000),
            quiet_period_s: 7_200,
            self_releases_left: 2,
            ..crate::fixtures::quarantined([100, 64, 1, 7].into())
        }
    }

    #[test]
    fn quarantined_facts() {
        let f = Facts::from_status(&quarantined(), 1_000 + 3_600);
        assert_eq!(f.standing, Standing::Quarantined);
        assert_eq!(f.since_s, Some(3_600));
        assert_eq!(f.last_attempt_s, Some(600));
        assert_eq!(f.quiet_for_s, Some(600));
        assert!(!f.quiet_enough);
        assert_eq!(f.reason, Some("detection"));
        assert!(f.can_self_release);
        assert!(f.captive());
        assert_eq!(f.remaining_s, Some(7 * 86_400 - 3_600));
    }

    #[test]
    fn no_attempt_counts_quiet_from_the_start() {
        let mut s = quarantined();
        s.last_smtp_attempt = None;
        let f = Facts::from_status(&s, 1_000 + 8_000);
        assert_eq!(f.quiet_for_s, Some(8_000));
        assert!(f.quiet_enough);
    }

    #[test]
    fn clock_skew_reads_as_just_now() {
        let f = Facts::from_status(&quarantined(), 0);
        assert_eq!(f.since_s, Some(0));
        assert_eq!(f.last_attempt_s, Some(0));
    }

    #[test]
    fn no_button_without_releases_left_or_outside_quarantine() {
        let mut s = quarantined();
        s.self_releases_left = 0;
        assert!(!Facts::from_status(&s, 2_000).can_self_release);
        s.self_releases_left = 1;
        s.state = HostState::Noticed;
        let f = Facts::from_status(&s, 2_000);
        assert!(!f.can_self_release);
        assert!(!f.captive());
        assert!(!Facts::unknown().captive());
    }

    #[test]
    fn remaining_is_kept_to_the_second() {
        let mut s = quarantined();
        s.until = Some(2_002);
        assert_eq!(Facts::from_status(&s, 2_000).remaining_s, Some(2));
        s.until = Some(1_000);
        assert_eq!(Facts::from_status(&s, 2_000).remaining_s, Some(0));
    }

    #[test]
    fn a_fixed_end_is_told_apart_from_the_quiet_test() {
        let mut s = quarantined();
        assert!(!Facts::from_status(&s, 2_000).fixed_end, "presses left");
        s.self_releases_left = 0;
        assert!(Facts::from_status(&s, 2_000).fixed_end);
        s.until = None;
        assert!(!Facts::from_status(&s, 2_000).fixed_end);
        s.state = HostState::Probation;
        s.until = Some(9_000);
        assert!(!Facts::from_status(&s, 2_000).fixed_end);
    }

    #[test]
    fn outcomes() {
        let o = Outcome::from_answer(Some(&SelfReleaseOutcome::StillSending {
            last_attempt_s_ago: 120,
            quiet_needed_s: 7_081,
        }));
        assert_eq!(
            (o.kind, o.last_attempt_s, o.wait_s),
            ("still_sending", 120, 7_081)
        );
        assert_eq!(Outcome::from_answer(None).kind, "unavailable");
        assert_eq!(
            Outcome::from_answer(Some(&SelfReleaseOutcome::NoneLeft)).kind,
            "none_left"
        );
    }
}
