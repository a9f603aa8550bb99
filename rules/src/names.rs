//! Names of the sets Cordon manages, as they appear in `nft list table`.
//!
//! Each set exists twice, `_v4` and `_v6`, because nftables sets hold one
//! address family.

use ipnet::IpNet;

/// Quarantined hosts (IPv4 addresses, IPv6 prefixes): an interval set so a
/// quarantine can cover a range.
pub const QUARANTINED: &str = "quarantined";
/// Walled-garden destinations (config prefixes plus resolved names).
pub const GARDEN: &str = "garden";
/// Resolvers quarantined hosts may ask.
pub const RESOLVERS: &str = "resolvers";
/// Subscribers allowed to send on port 25.
pub const ALLOWED_SENDERS: &str = "allowed_senders";
/// The ISP's mail relays.
pub const RELAYS: &str = "relays";
/// Hosts that made an SMTP attempt within the quiet period, with a counter.
pub const SMTP_RECENT: &str = "smtp_recent";
/// The same for quarantined hosts only (attempts made while quarantined),
/// so that the quiet checks read a set that grows with the quarantines, not
/// with the subscribers.
pub const SMTP_HELD: &str = "smtp_held";
/// Per-host rate of new SMTP attempts (the detection meter).
pub const SMTP_RATE: &str = "smtp_rate";
/// (host, destination) pairs seen within the detection window.
pub const SMTP_PAIRS: &str = "smtp_pairs";
/// Per-host rate of new distinct destinations (the detection meter).
pub const SMTP_DESTS: &str = "smtp_dests";
/// Hosts recently reported to cordond, so a flood is one event, not many.
pub const ALERTED: &str = "alerted";
/// Per-host rate of new relay connections.
pub const RELAY_RATE: &str = "relay_rate";

/// The family-specific name of a set (`quarantined_v4`).
pub fn set_name(base: &str, v4: bool) -> String {
    format!("{base}_{}", if v4 { "v4" } else { "v6" })
}

/// The family-specific name for a prefix's set.
pub fn set_for(base: &str, net: &IpNet) -> String {
    set_name(base, matches!(net, IpNet::V4(_)))
}
