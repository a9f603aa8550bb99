//! Set elements: how Cordon's values become nftables elements and back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use cordon_config::SubscriberAddr;
use ipnet::IpNet;

use crate::netlink::found::Found;

/// What a replaced table keeps from before: the quarantines (from the store,
/// which is the truth), walled-garden addresses resolved from names, and the
/// kernel's own memory of recent SMTP attempts (read back from the old table).
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// Every current quarantine.
    pub quarantined: Vec<SubscriberAddr>,
    /// Every notice that shows now (the notice set's elements).
    pub noticed: Vec<SubscriberAddr>,
    /// Addresses of walled-garden DNS names, as last resolved.
    pub garden: Vec<IpNet>,
    /// Recent SMTP attempts, so a reload does not make a sender look quiet.
    pub smtp_recent: Vec<SmtpSeen>,
    /// The same for attempts made while quarantined.
    pub smtp_held: Vec<SmtpSeen>,
}

/// One host's recent SMTP activity, as the kernel's `smtp_recent` set knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpSeen {
    /// The host (IPv4) or its prefix's first address (IPv6).
    pub key: IpAddr,
    /// Time left before the host counts as quiet.
    pub expires: Duration,
    /// Attempts counted since the element was created.
    pub attempts: u64,
}

impl SmtpSeen {
    /// How long ago the last attempt was, given the set's timeout (the
    /// quiet period): each attempt resets the element's timer.
    pub fn since_last(&self, quiet_period: Duration) -> Duration {
        quiet_period.saturating_sub(self.expires)
    }
}

/// A prefix as nft syntax: single hosts bare, ranges with their length.
pub(crate) fn nft_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.trunc().to_string()
    }
}

/// The elements of a hash set as prefixes: each key a /32 or a /128
/// (an IPv6 subscriber's element is its prefix's first address, which
/// the caller widens to the prefix).
pub(crate) fn hosts(found: &[Found]) -> Vec<IpNet> {
    found
        .iter()
        .filter(|f| !f.end)
        .filter_map(|f| f.key)
        .map(IpNet::from)
        .collect()
}

/// The ranges of an interval set as prefixes. The kernel holds a range as
/// its first address and, flagged as an end, the address after its last
/// (see [`crate::netlink::message`]); a range to the top of the address
/// space has no end (`nft` marks its start "open"), and an end at address
/// zero with no start before it only closes the gap below the first range.
/// The dump's order is the kernel's, so the elements are sorted first (an
/// end before a start at the same address: adjacent ranges).
///
/// A range that is not exactly one CIDR prefix (Cordon never writes one;
/// `nft` can) is skipped, as the JSON listing read before it skipped them:
/// Cordon's sets hold prefixes, and a made-up prefix would be wrong.
pub(crate) fn ranges(found: &[Found]) -> Vec<IpNet> {
    let mut v4: Vec<(u128, bool, bool)> = Vec::new();
    let mut v6: Vec<(u128, bool, bool)> = Vec::new();
    for f in found {
        match f.key {
            Some(IpAddr::V4(a)) => v4.push((u128::from(u32::from(a)), f.end, f.open)),
            Some(IpAddr::V6(a)) => v6.push((u128::from(a), f.end, f.open)),
            None => {}
        }
    }
    let mut out = Vec::new();
    for (mut elems, bits) in [(v4, 32u8), (v6, 128u8)] {
        elems.sort_unstable_by_key(|&(key, end, _)| (key, !end));
        let top = u128::MAX >> (128 - u32::from(bits));
        let mut i = 0;
        while let Some(&(first, end, open)) = elems.get(i) {
            i += 1;
            if end {
                continue; // the zero end, or an end without its start
            }
            let last = match elems.get(i) {
                Some(&(after, true, _)) => {
                    i += 1;
                    after.checked_sub(1)
                }
                // No end: runs to the top when `nft` marked it so, or when
                // nothing follows (the kernel matches everything above).
                Some(_) if !open => None,
                _ => Some(top),
            };
            out.extend(last.and_then(|last| prefix(first, last, bits)));
        }
    }
    out
}

/// The prefix covering exactly `first..=last` in a family of `bits`
/// bits; `None` when no prefix does.
fn prefix(first: u128, last: u128, bits: u8) -> Option<IpNet> {
    let span = last.checked_sub(first)?; // all ones below the prefix
    if span & span.wrapping_add(1) != 0 || first & span != 0 {
        return None;
    }
    let len = bits.checked_sub(u8::try_from(span.count_ones()).ok()?)?;
    let addr = if bits == 32 {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(first).ok()?))
    } else {
        IpAddr::V6(Ipv6Addr::from(first))
    };
    IpNet::new(addr, len).ok()
}

/// An element of a recent-attempts set as [`SmtpSeen`], `key` its host;
/// `None` without an expiration (not such a set). The time left is the
/// kernel's, to the millisecond: a lookup and a dump read it alike.
pub(crate) fn seen(key: IpAddr, found: &Found) -> Option<SmtpSeen> {
    Some(SmtpSeen {
        key,
        expires: Duration::from_millis(found.expires_ms?),
        attempts: found.packets.unwrap_or(0),
    })
}
