//! The attributes Cordon reads, their numbers and the shapes of their
//! values (RFC 2865 §5, RFC 2866 §5, RFC 3162 §2, RFC 4818 §3), decoded
//! into [`crate::Accounting`] and encoded back for tests and benchmarks.

use std::net::{Ipv4Addr, Ipv6Addr};

use cordon_proto::text::printable;
use ipnet::Ipv6Net;

use crate::RadiusError;

pub(crate) const USER_NAME: u8 = 1;
pub(crate) const NAS_IP_ADDRESS: u8 = 4;
pub(crate) const FRAMED_IP_ADDRESS: u8 = 8;
pub(crate) const CALLING_STATION_ID: u8 = 31;
pub(crate) const NAS_IDENTIFIER: u8 = 32;
pub(crate) const ACCT_STATUS_TYPE: u8 = 40;
pub(crate) const ACCT_SESSION_ID: u8 = 44;
pub(crate) const NAS_IPV6_ADDRESS: u8 = 95;
pub(crate) const FRAMED_IPV6_PREFIX: u8 = 97;
pub(crate) const DELEGATED_IPV6_PREFIX: u8 = 123;

/// Longest value of one attribute: its length octet counts the 2-octet
/// header too (RFC 2865 §5).
pub const MAX_VALUE: usize = 253;

/// The name of attribute `t`, for messages.
pub(crate) fn name(t: u8) -> &'static str {
    match t {
        USER_NAME => "User-Name",
        NAS_IP_ADDRESS => "NAS-IP-Address",
        FRAMED_IP_ADDRESS => "Framed-IP-Address",
        CALLING_STATION_ID => "Calling-Station-Id",
        NAS_IDENTIFIER => "NAS-Identifier",
        ACCT_STATUS_TYPE => "Acct-Status-Type",
        ACCT_SESSION_ID => "Acct-Session-Id",
        NAS_IPV6_ADDRESS => "NAS-IPv6-Address",
        FRAMED_IPV6_PREFIX => "Framed-IPv6-Prefix",
        DELEGATED_IPV6_PREFIX => "Delegated-IPv6-Prefix",
        _ => "unknown",
    }
}

/// A value of the wrong shape, as the error that names the attribute.
pub(crate) fn bad(t: u8, offset: usize, problem: impl Into<String>) -> RadiusError {
    RadiusError::BadAttribute {
        attribute: t,
        name: name(t),
        offset,
        problem: problem.into(),
    }
}

/// A value of exactly `N` octets (`what` names its kind for the error).
fn fixed<const N: usize>(
    t: u8,
    offset: usize,
    v: &[u8],
    what: &str,
) -> Result<[u8; N], RadiusError> {
    v.try_into().map_err(|_| {
        bad(
            t,
            offset,
            format!("{what} takes {N} bytes, not {}", v.len()),
        )
    })
}

/// A 4-octet integer (Acct-Status-Type).
pub(crate) fn integer(t: u8, offset: usize, v: &[u8]) -> Result<u32, RadiusError> {
    fixed(t, offset, v, "an integer").map(u32::from_be_bytes)
}

/// A 4-octet IPv4 address.
pub(crate) fn ipv4(t: u8, offset: usize, v: &[u8]) -> Result<Ipv4Addr, RadiusError> {
    fixed(t, offset, v, "an IPv4 address").map(Ipv4Addr::from)
}

/// A 16-octet IPv6 address.
pub(crate) fn ipv6(t: u8, offset: usize, v: &[u8]) -> Result<Ipv6Addr, RadiusError> {
    fixed(t, offset, v, "an IPv6 address").map(Ipv6Addr::from)
}

/// An IPv6 prefix (RFC 3162 §2.3): a reserved octet, the prefix length
/// (0..=128), then as many octets of the prefix as the sender wrote (at
/// least enough for the length, at most 16; `radclient` writes all 16).
/// Bits past the length are cleared rather than refused: they carry
/// nothing, and RFC 3162 did not require them to be zero.
pub(crate) fn ipv6_prefix(t: u8, offset: usize, v: &[u8]) -> Result<Ipv6Net, RadiusError> {
    let [_reserved, len, prefix @ ..] = v else {
        return Err(bad(t, offset, "an IPv6 prefix takes at least 2 bytes"));
    };
    if *len > 128 {
        return Err(bad(t, offset, format!("prefix length {len} is over 128")));
    }
    if prefix.len() > 16 || prefix.len() < usize::from(*len).div_ceil(8) {
        return Err(bad(
            t,
            offset,
            format!("a /{len} takes 1..=16 prefix bytes, not {}", prefix.len()),
        ));
    }
    let mut octets = [0u8; 16];
    octets[..prefix.len()].copy_from_slice(prefix);
    Ipv6Net::new(Ipv6Addr::from(octets), *len)
        .map(|n| n.trunc())
        .map_err(|e| bad(t, offset, e.to_string()))
}

/// An identity (User-Name, Acct-Session-Id): UTF-8 without control
/// characters, or refused. It keys a subscriber or a session, so it is
/// never altered (an escaped form could equal another subscriber's name).
pub(crate) fn identity(t: u8, v: &[u8]) -> Result<String, RadiusError> {
    let shown = || printable(&String::from_utf8_lossy(v)).into_owned();
    let s = std::str::from_utf8(v).map_err(|_| RadiusError::NotText {
        name: name(t),
        shown: shown(),
    })?;
    if printable(s) != s {
        return Err(RadiusError::NotText {
            name: name(t),
            shown: shown(),
        });
    }
    Ok(s.to_owned())
}

/// A description (Calling-Station-Id, NAS-Identifier): kept, with bytes
/// that are not UTF-8 replaced and control characters escaped, since it is
/// only shown, never used as a key.
pub(crate) fn description(v: &[u8]) -> String {
    printable(&String::from_utf8_lossy(v)).into_owned()
}

/// Appends attribute `t` with `value` to `out`.
pub(crate) fn put(out: &mut Vec<u8>, t: u8, value: &[u8]) -> Result<(), RadiusError> {
    let len = u8::try_from(value.len() + 2)
        .ok()
        .filter(|_| value.len() <= MAX_VALUE)
        .ok_or(RadiusError::ValueTooLong {
            name: name(t),
            len: value.len(),
        })?;
    out.push(t);
    out.push(len);
    out.extend_from_slice(value);
    Ok(())
}

/// An IPv6 prefix as RFC 3162 writes it, with only the octets its length
/// needs.
pub(crate) fn prefix_value(net: &Ipv6Net) -> Vec<u8> {
    let len = net.prefix_len();
    let octets = net.network().octets();
    let mut v = vec![0, len];
    v.extend_from_slice(&octets[..usize::from(len).div_ceil(8)]);
    v
}
