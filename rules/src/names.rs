//! Names of the sets Cordon manages, as they appear in `nft list table`
//! and as cordond names them over netlink.
//!
//! Each set exists twice, `_v4` and `_v6`, because nftables sets hold one
//! address family.

use cordon_config::SubscriberAddr;
use ipnet::IpNet;

/// Quarantined hosts: IPv4 addresses, and IPv6 subscriber prefixes by their
/// first address (packets are masked to the prefix before the lookup).
///
/// A plain hash set, not an interval set: nftables 1.0.6 reads every element
/// of an interval set back before it changes one (measured: about a second
/// per change at 100 000 held), while a hash set costs the same at any size.
pub const QUARANTINED: &str = "quarantined";
/// Quarantined ranges wider than one host or subscriber prefix (an
/// operator's decision about many subscribers): an interval set, and small.
pub const QUARANTINED_RANGES: &str = "quarantined_ranges";
/// Noticed hosts, and IPv6 subscriber prefixes by first address, whose
/// next plain `http://` lands on the notice page: a hash set, like
/// [`QUARANTINED`], for the same reason.
pub const NOTICED: &str = "noticed";
/// Noticed ranges wider than one subscriber: an interval set, and small.
pub const NOTICED_RANGES: &str = "noticed_ranges";
/// Detection's quarantines enforced before their records are durable: a
/// hash set of the same elements as [`QUARANTINED`], which no rule reads.
/// The store's commit is an fsync (4–8 ms on the machines measured), so a
/// crossing goes into the kernel first, marked here in the same
/// transaction, and the mark is taken off once the record is written. A
/// mark still there when `cordond` starts is a quarantine enforced but
/// never recorded (it stopped in between): the start records it, so a
/// crash neither loses the record nor frees the host.
pub const UNRECORDED: &str = "unrecorded";
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
/// Senders already handed to cordond's DNSBL checks within the DNSBL
/// interval: the kernel logs a sender once per interval, so the block lists
/// are asked about senders as they appear, never by listing them all.
pub const DNSBL_ASKED: &str = "dnsbl_asked";
/// Hosts recently reported to cordond, so a flood is one event, not many.
pub const ALERTED: &str = "alerted";
/// Per-host rate of new relay connections.
pub const RELAY_RATE: &str = "relay_rate";

/// Whether the sets named `base` that cordond changes or reads at run
/// time are interval sets (`flags interval` in the ruleset): a range is
/// two elements there (see [`crate::netlink::message`]), written and read
/// back as such; one element in a hash set.
pub(crate) fn is_interval(base: &str) -> bool {
    matches!(
        base,
        QUARANTINED_RANGES | NOTICED_RANGES | GARDEN | ALLOWED_SENDERS | RELAYS
    )
}

/// Whether the family-specific set `name` (`garden_v4`) is an interval
/// set (see [`is_interval`]).
pub(crate) fn is_interval_set(name: &str) -> bool {
    name.strip_suffix("_v4")
        .or_else(|| name.strip_suffix("_v6"))
        .is_some_and(is_interval)
}

/// The family-specific name of a set (`quarantined_v4`).
pub fn set_name(base: &str, v4: bool) -> String {
    format!("{base}_{}", if v4 { "v4" } else { "v6" })
}

/// The family-specific name for a prefix's set.
pub fn set_for(base: &str, net: &IpNet) -> String {
    set_name(base, matches!(net, IpNet::V4(_)))
}

/// Where a quarantine goes: `(set base, element)`. A single IPv4 host, or an
/// IPv6 prefix of the subscriber length `ipv6_unit`, is one element (its
/// first address) of [`QUARANTINED`]; anything wider is a range in
/// [`QUARANTINED_RANGES`].
pub fn quarantine_placement(net: &IpNet, ipv6_unit: u8) -> (&'static str, IpNet) {
    placement(net, ipv6_unit, (QUARANTINED, QUARANTINED_RANGES))
}

/// Where a notice goes, as a quarantine does: one element of [`NOTICED`],
/// or a range in [`NOTICED_RANGES`].
pub fn notice_placement(net: &IpNet, ipv6_unit: u8) -> (&'static str, IpNet) {
    placement(net, ipv6_unit, (NOTICED, NOTICED_RANGES))
}

/// Whether `addr` is one unit (an IPv4 host, an IPv6 subscriber prefix):
/// one element of the hash sets, which is all [`UNRECORDED`] marks.
pub fn is_unit(addr: &SubscriberAddr, ipv6_unit: u8) -> bool {
    quarantine_placement(&addr.net(), ipv6_unit).0 == QUARANTINED
}

/// A unit (an IPv4 host, an IPv6 subscriber prefix) goes in the hash set
/// by its first address, anything wider in the range set.
fn placement(
    net: &IpNet,
    ipv6_unit: u8,
    (hash, ranges): (&'static str, &'static str),
) -> (&'static str, IpNet) {
    let unit = match net {
        IpNet::V4(n) => n.prefix_len() == 32,
        IpNet::V6(n) => n.prefix_len() == ipv6_unit,
    };
    if unit {
        (hash, IpNet::from(net.network()))
    } else {
        (ranges, net.trunc())
    }
}

/// The elements of the sets named `base` (the quarantine's or the
/// notice's) for these addresses (see [`quarantine_placement`]).
pub(crate) fn placed_in(base: &str, addrs: &[SubscriberAddr], ipv6_unit: u8) -> Vec<IpNet> {
    let bases = if matches!(base, NOTICED | NOTICED_RANGES) {
        (NOTICED, NOTICED_RANGES)
    } else {
        (QUARANTINED, QUARANTINED_RANGES)
    };
    addrs
        .iter()
        .map(|a| placement(&a.net(), ipv6_unit, bases))
        .filter(|(b, _)| *b == base)
        .map(|(_, element)| element)
        .collect()
}
