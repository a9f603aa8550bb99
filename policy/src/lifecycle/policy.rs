//! The operator's quarantine policy, as the state machine needs it.

use std::time::Duration;

/// Timings and limits from `quarantine:` in the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Shortest quarantine.
    pub min_hold: Duration,
    /// No SMTP attempt for this long counts as stopped.
    pub quiet_period: Duration,
    /// Self-releases allowed per window.
    pub self_release_count: u32,
    /// The self-release window.
    pub self_release_window: Duration,
    /// Quiet needed for a self-release (at most `quiet_period`).
    pub self_release_quiet: Duration,
    /// How long probation lasts after a release.
    pub probation: Duration,
    /// Factor on the hold per relapse.
    pub escalation: f64,
    /// Upper bound of escalated holds.
    pub max_hold: Duration,
    /// The notice page at most once per this (`notice.interval`).
    pub notice_interval: Duration,
    /// A notice is reviewed this long after it began (`notice.review`).
    pub notice_review: Duration,
    /// What moves a noticed subject on to quarantine (`detection.ladder`).
    pub ladder: Option<cordon_config::Ladder>,
}

impl Policy {
    /// The policy in a config: `quarantine`, `notice` and the ladder.
    pub fn from_config(config: &cordon_config::Config) -> Self {
        let q = &config.quarantine;
        Policy {
            notice_interval: config.notice.interval,
            notice_review: config.notice.review,
            ladder: config.detection.ladder,
            min_hold: q.min_hold,
            quiet_period: q.quiet_period,
            self_release_count: q.self_release.count,
            self_release_window: q.self_release.window,
            self_release_quiet: q.self_release.quiet.min(q.quiet_period),
            probation: q.probation,
            escalation: q.escalation,
            max_hold: q.max_hold,
        }
    }

    /// The hold after `relapses` relapses: `min_hold × escalation^relapses`,
    /// never above `max_hold` (and never below `min_hold`, whatever factor
    /// an operator wrote).
    pub fn hold(&self, relapses: u32) -> Duration {
        let factor = self
            .escalation
            .max(1.0)
            .powi(i32::try_from(relapses).unwrap_or(i32::MAX));
        let secs = self.min_hold.as_secs_f64() * factor;
        let capped = secs.min(self.max_hold.as_secs_f64().max(self.min_hold.as_secs_f64()));
        if capped.is_finite() {
            Duration::from_secs_f64(capped)
        } else {
            self.max_hold.max(self.min_hold)
        }
    }
}
