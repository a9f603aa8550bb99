//! `notice`: the soft answer (RFC 6108's web notices): a noticed subscriber
//! browses freely, except that its next plain-`http://` page load, at most
//! once per `interval`, lands on a notice page with the cleanup steps.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::duration;
use crate::locate::Seg::Key;

/// How notices behave.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// The notice page is shown at most once per interval: "I understand"
    /// keeps the subscriber out of the kernel's notice set this long.
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    /// A notice is reviewed this long after it began: quiet for
    /// `quarantine.quiet_period` ends it; still sending keeps it (reviewed
    /// again after as long), or quarantines with `detection.ladder`'s
    /// `still_sending`.
    #[serde(default = "default_review", with = "duration")]
    pub review: Duration,
}

/// Four hours: often enough that a subscriber who ignored the page sees it
/// again the same evening, rarely enough not to spoil an afternoon.
fn default_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}

/// A day: time to read the page, find the tools and run them.
fn default_review() -> Duration {
    Duration::from_secs(86_400)
}

impl Default for Notice {
    fn default() -> Self {
        Notice {
            interval: default_interval(),
            review: default_review(),
        }
    }
}

impl Notice {
    /// An interval of at least a minute (shorter would show the page at
    /// every load) and a review of at least the interval.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        if self.interval < Duration::from_secs(60) {
            p.push(
                &[Key("interval")],
                "expected at least 1m, or the notice comes back at every page load",
            );
        }
        if self.review < self.interval {
            p.push(
                &[Key("review")],
                format!(
                    "expected at least the interval ({}), or a notice may end before the subscriber saw it",
                    duration::format(self.interval)
                ),
            );
        }
    }
}

/// `detection.ladder`: what moves a noticed subscriber on to quarantine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// At the notice's review (`notice.review`), a subscriber that still
    /// sends (an SMTP attempt within `quarantine.quiet_period`) is
    /// quarantined.
    #[serde(default = "yes")]
    pub still_sending: bool,
    /// A noticed subscriber that crosses a signal this many more times is
    /// quarantined at once. Absent: crossings alone never move it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crossings: Option<u32>,
}

fn yes() -> bool {
    true
}

impl Ladder {
    /// A ladder that moves something, counting from one crossing (checked
    /// inside `detection`, whose section it is).
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        if self.crossings == Some(0) {
            p.push(
                &[Key("ladder"), Key("crossings")],
                "expected at least 1 (the crossings after the notice that quarantine)",
            );
        }
        if !self.still_sending && self.crossings.is_none() {
            p.push(
                &[Key("ladder")],
                "a ladder with `still_sending: false` and no `crossings` never moves anyone; set one, or remove `detection.ladder`",
            );
        }
    }
}
