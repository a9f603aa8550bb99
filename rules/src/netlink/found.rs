//! Set elements as the kernel answers them (`NFT_MSG_NEWSETELEM`): to a
//! lookup (one element) and to a dump (every element, in several
//! messages). Pure, so each piece is read the same way in both, and
//! tested on the kernel's own bytes.

use std::net::IpAddr;

use super::NFGENMSG_LEN;
use super::message::{
    COUNTER_PACKETS, DATA_VALUE, ELEM_EXPIRATION, ELEM_EXPR, ELEM_EXPRESSIONS, ELEM_FLAGS,
    ELEM_KEY, ELEM_USERDATA, EXPR_DATA, EXPR_NAME, INTERVAL_END, LIST_ELEM, LIST_ELEMENTS,
    OPEN_INTERVAL_UDATA,
};

/// One element as the kernel answered it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) key: Option<IpAddr>,
    /// Ends a range in an interval set (`NFT_SET_ELEM_INTERVAL_END`).
    pub(crate) end: bool,
    /// Starts a range that runs to the top of the address space (`nft`'s
    /// "open interval" user data): it has no end element.
    pub(crate) open: bool,
    /// Milliseconds before the element times out (sets with timeouts).
    pub(crate) expires_ms: Option<u64>,
    /// The element's counter, when it has one.
    pub(crate) packets: Option<u64>,
}

/// The first element of a `NFT_MSG_NEWSETELEM` answer (the message's
/// payload, after the netlink header): a lookup's answer.
pub(crate) fn found(payload: &[u8]) -> Option<Found> {
    every(payload).next()
}

/// Every element of a `NFT_MSG_NEWSETELEM` message's payload: one part of
/// a dump. A payload cut short yields what came before the cut.
pub(crate) fn every(payload: &[u8]) -> impl Iterator<Item = Found> + '_ {
    let list = payload
        .get(NFGENMSG_LEN..)
        .and_then(|attrs| nested(attrs, LIST_ELEMENTS))
        .unwrap_or_default();
    typed(list)
        .filter(|(kind, _)| *kind == LIST_ELEM)
        .map(|(_, elem)| element(elem))
}

/// One `NFTA_LIST_ELEM`'s attributes read.
fn element(elem: &[u8]) -> Found {
    let mut out = Found::default();
    for (kind, value) in typed(elem) {
        match kind {
            ELEM_KEY => {
                out.key = nested(value, DATA_VALUE).and_then(|v| match v.len() {
                    4 => <[u8; 4]>::try_from(v).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(v).ok().map(IpAddr::from),
                    _ => None,
                });
            }
            ELEM_FLAGS => {
                out.end = <[u8; 4]>::try_from(value)
                    .is_ok_and(|b| u32::from_be_bytes(b) & INTERVAL_END != 0);
            }
            ELEM_USERDATA => out.open = open_interval(value),
            ELEM_EXPIRATION => out.expires_ms = be64(value),
            ELEM_EXPR => out.packets = out.packets.or_else(|| counter(value)),
            ELEM_EXPRESSIONS => {
                out.packets = out
                    .packets
                    .or_else(|| typed(value).find_map(|(_, expr)| counter(expr)));
            }
            _ => {}
        }
    }
    out
}

/// Whether `nft`'s element user data (TLVs of one byte type, one byte
/// length) holds the flags TLV with the open-interval bit set.
fn open_interval(mut udata: &[u8]) -> bool {
    let [flags_type, flags_len] = OPEN_INTERVAL_UDATA;
    while let [kind, len, rest @ ..] = udata {
        let Some(value) = rest.get(..usize::from(*len)) else {
            return false;
        };
        if *kind == flags_type && *len == flags_len {
            return <[u8; 4]>::try_from(value).is_ok_and(|b| u32::from_ne_bytes(b) & 1 != 0);
        }
        udata = &rest[usize::from(*len)..];
    }
    false
}

/// The packets of a `counter` expression's attributes; `None` for any
/// other expression.
fn counter(expr: &[u8]) -> Option<u64> {
    let name = nested(expr, EXPR_NAME)?;
    if name.split(|b| *b == 0).next()? != b"counter" {
        return None;
    }
    be64(nested(nested(expr, EXPR_DATA)?, COUNTER_PACKETS)?)
}

fn be64(value: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(value).ok().map(u64::from_be_bytes)
}

/// The attributes in `bytes` by type, the nested and byte-order bits
/// cleared.
fn typed(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    crate::dump::attributes(bytes).map(|(k, v)| (k & super::NLA_TYPE_MASK, v))
}

/// The value of the first attribute of type `kind` in `bytes`.
fn nested(bytes: &[u8], kind: u16) -> Option<&[u8]> {
    typed(bytes).find(|(k, _)| *k == kind).map(|(_, v)| v)
}
