//! `quarantine`: the quarantine's lifecycle: holds, the quiet test, self-release, probation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::duration;
use crate::locate::Seg::Key;

/// Quarantine lifecycle.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    /// Shortest quarantine, however quiet the host is.
    #[serde(default = "default_min_hold", with = "duration")]
    pub min_hold: Duration,
    /// No SMTP attempt for this long counts as stopped.
    #[serde(default = "default_quiet", with = "duration::kernel")]
    pub quiet_period: Duration,
    /// "I have cleaned my computer" releases.
    #[serde(default)]
    pub self_release: SelfRelease,
    /// After release, a relapse within this long quarantines again, longer.
    #[serde(default = "default_probation", with = "duration")]
    pub probation: Duration,
    /// Factor on `min_hold` for each relapse.
    #[serde(default = "default_escalation")]
    pub escalation: f64,
    /// Upper bound for escalated holds.
    #[serde(default = "default_max_hold", with = "duration")]
    pub max_hold: Duration,
}

fn default_min_hold() -> Duration {
    Duration::from_secs(30 * 60)
}
/// Two hours without a single port-25 attempt: bots retry queued mail every
/// few minutes to an hour, so two quiet hours means the sender has stopped.
fn default_quiet() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_probation() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_escalation() -> f64 {
    4.0
}
fn default_max_hold() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            min_hold: default_min_hold(),
            quiet_period: default_quiet(),
            self_release: SelfRelease::default(),
            probation: default_probation(),
            escalation: default_escalation(),
            max_hold: default_max_hold(),
        }
    }
}

/// Self-release limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelfRelease {
    /// How many self-releases a subscriber has within the window.
    #[serde(default = "default_self_count")]
    pub count: u32,
    /// The window.
    #[serde(default = "default_self_window", with = "duration")]
    pub window: Duration,
    /// Quiet needed for the "I have cleaned my computer" button. Shorter
    /// than `quiet_period` on purpose: with the same test the button would
    /// only ever do what the automatic release does at the same moment. A
    /// subscriber who cleaned up gets out sooner; probation catches a
    /// relapse. Never longer than `quiet_period` (clamped).
    #[serde(default = "default_self_quiet", with = "duration")]
    pub quiet: Duration,
}

fn default_self_count() -> u32 {
    2
}
fn default_self_window() -> Duration {
    Duration::from_secs(30 * 86_400)
}
/// 15 minutes: a spam program retries within minutes, so a quarter of an
/// hour without a single attempt right after cleaning is good evidence.
fn default_self_quiet() -> Duration {
    Duration::from_secs(15 * 60)
}

impl Default for SelfRelease {
    fn default() -> Self {
        SelfRelease {
            count: default_self_count(),
            window: default_self_window(),
            quiet: default_self_quiet(),
        }
    }
}

impl Quarantine {
    /// Holds of at least a second, `max_hold` not below `min_hold`, an
    /// escalation factor that neither shrinks holds nor overflows them.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        for (name, v) in [
            ("quiet_period", self.quiet_period),
            ("min_hold", self.min_hold),
            ("max_hold", self.max_hold),
        ] {
            if v.as_secs() == 0 {
                p.push(&[Key(name)], "expected at least 1s");
            }
        }
        if self.max_hold < self.min_hold {
            p.push(
                &[Key("max_hold")],
                "max_hold is shorter than min_hold; it must be at least as long",
            );
        }
        if !(self.escalation >= 1.0 && self.escalation <= 1000.0) {
            p.push(
                &[Key("escalation")],
                format!(
                    "expected a factor between 1 and 1000 (4 means each relapse holds four times as long), found {}",
                    self.escalation
                ),
            );
        }
    }
}
