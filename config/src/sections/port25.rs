//! `port25`: what happens to subscribers' outbound TCP/25.

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::{Index, Key};
use crate::types::Prefix;

/// What happens to outbound TCP/25.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Port25Mode {
    /// Refused with a TCP reset (mail programs fail fast), except allowed senders.
    #[default]
    Block,
    /// Counted and logged, not refused.
    Monitor,
    /// Not looked at (detection still counts attempts).
    Off,
}

/// Port-25 policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Port25 {
    /// `block`, `monitor` or `off`.
    #[serde(default)]
    pub mode: Port25Mode,
    /// Subscribers that may send on port 25 (business customers, own relays).
    #[serde(default)]
    pub allowed_senders: Vec<Prefix>,
    /// Submission ports that always stay open (authenticated mail).
    #[serde(default = "default_submission")]
    pub submission_ports: Vec<u16>,
}

fn default_submission() -> Vec<u16> {
    vec![587, 465]
}

impl Default for Port25 {
    fn default() -> Self {
        Port25 {
            mode: Port25Mode::Block,
            allowed_senders: Vec::new(),
            submission_ports: default_submission(),
        }
    }
}

impl Port25 {
    /// No submission port is 25 (which would open what `block` closes) or 0.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        for (i, port) in self.submission_ports.iter().enumerate() {
            if *port == 25 || *port == 0 {
                p.push(
                    &[Key("submission_ports"), Index(i)],
                    format!("{port} is not a submission port; use 587 and 465"),
                );
            }
        }
    }
}
