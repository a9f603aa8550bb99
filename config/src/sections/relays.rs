//! `relays`: the ISP's own mail relays and how fast one subscriber may open
//! connections to them.

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::Key;
use crate::types::Prefix;

/// The ISP's own mail relays and how fast one subscriber may open
/// connections to them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Relays {
    /// Relay addresses.
    #[serde(default)]
    pub addresses: Vec<Prefix>,
    /// Ports the limit applies to.
    #[serde(default = "default_relay_ports")]
    pub ports: Vec<u16>,
    /// New connections per subscriber per minute (sustained).
    #[serde(default = "default_relay_rate")]
    pub new_connections_per_minute: u32,
    /// Connections allowed in a burst above the sustained rate.
    #[serde(default = "default_relay_burst")]
    pub burst: u32,
}

fn default_relay_ports() -> Vec<u16> {
    vec![25, 587, 465]
}
/// 20 a minute sustained with a burst of 40: a family's mail programs
/// fetching and sending on wake-up stay far below; a bulk sender does not.
fn default_relay_rate() -> u32 {
    20
}
fn default_relay_burst() -> u32 {
    40
}

impl Default for Relays {
    fn default() -> Self {
        Relays {
            addresses: Vec::new(),
            ports: default_relay_ports(),
            new_connections_per_minute: default_relay_rate(),
            burst: default_relay_burst(),
        }
    }
}

/// Relay limits above a million a minute are no limit at all; below that,
/// the kernel's token bucket (a minute's nanoseconds / rate * burst) cannot
/// overflow 64 bits (measured: `limit rate over 1/day burst 4294967295`
/// is refused with "Value too large").
const RELAY_MAX: u32 = 1_000_000;

impl Relays {
    /// Rate and burst within what nftables and the kernel accept.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        for (name, v) in [
            (
                "new_connections_per_minute",
                self.new_connections_per_minute,
            ),
            ("burst", self.burst),
        ] {
            if !(1..=RELAY_MAX).contains(&v) {
                p.push(
                    &[Key(name)],
                    format!(
                        "expected 1 to {RELAY_MAX}, found {v}: nftables refuses a limit of 0, \
                         and the kernel one whose bucket overflows"
                    ),
                );
            }
        }
    }
}
