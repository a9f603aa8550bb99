//! The config's shape. Every struct refuses unknown keys; every optional key
//! has a default chosen for a mid-sized ISP, documented where it is set.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::types::{IfName, Prefix};

mod detection;
mod portal;
mod quarantine;
mod service;
mod unbuilt;

pub use detection::*;
pub use portal::*;
pub use quarantine::*;
pub use service::*;
pub use unbuilt::Unbuilt;

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The nftables table Cordon owns (family `inet`). Nothing else is touched.
    #[serde(default = "default_table")]
    pub table: String,
    /// Who the subscribers are.
    pub subscribers: Subscribers,
    /// Where subscribers and the internet are.
    pub interfaces: Interfaces,
    /// Addresses that are never quarantined, whatever any signal says.
    #[serde(default)]
    pub never_quarantine: Vec<Prefix>,
    /// Outbound port 25 for all subscribers.
    #[serde(default)]
    pub port25: Port25,
    /// Per-subscriber limits towards the ISP's own mail relays.
    #[serde(default)]
    pub relays: Relays,
    /// How zombies are found.
    #[serde(default)]
    pub detection: Detection,
    /// How long a quarantine lasts and how it ends.
    #[serde(default)]
    pub quarantine: Quarantine,
    /// The soft answer (a notice page once per interval, nothing blocked):
    /// not built yet, so the section is refused when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Unbuilt>,
    /// What a quarantined host may still reach.
    pub walled_garden: WalledGarden,
    /// The subscriber-facing web portal.
    pub portal: Portal,
    /// Where quarantine records and the audit trail are kept.
    #[serde(default)]
    pub store: Store,
    /// The operators' and the portal's sockets to `cordond`.
    #[serde(default)]
    pub control: Control,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: Metrics,
    /// How long records about subscribers are kept (personal data).
    #[serde(default = "default_retention", with = "duration")]
    pub retention: Duration,
    /// Where transitions are POSTed (CRM, ticketing): not built yet, so the
    /// key is refused when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Unbuilt>,
    /// Log output.
    #[serde(default)]
    pub logging: Logging,
}

fn default_table() -> String {
    "cordon".into()
}

/// 180 days: long enough to see a relapse pattern, short enough for data
/// minimisation; operators set what their regulator asks.
fn default_retention() -> Duration {
    Duration::from_secs(180 * 86_400)
}

/// Subscriber address space.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribers {
    /// IPv4 and IPv6 prefixes subscribers' addresses come from.
    pub prefixes: Vec<Prefix>,
    /// IPv6 quarantines cover the subscriber's prefix of this length (a /64
    /// by default; up to the delegated prefix, e.g. 56), because single
    /// IPv6 addresses change every few hours.
    #[serde(default = "default_v6_len")]
    pub ipv6_quarantine_prefix: u8,
}

fn default_v6_len() -> u8 {
    64
}

/// Interfaces of the gateway.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interfaces {
    /// Towards subscribers (names or patterns such as `ppp*`).
    pub downlink: Vec<IfName>,
    /// Towards the internet.
    pub uplink: Vec<IfName>,
}

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
