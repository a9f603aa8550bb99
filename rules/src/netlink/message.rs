//! nf_tables set-element messages as bytes: pure, so that what Cordon
//! sends is checked byte for byte against what `nft` sends for the same
//! change (see the tests).
//!
//! A change is one nfnetlink batch: `NFNL_MSG_BATCH_BEGIN`, one
//! `NFT_MSG_DELSETELEM` or `NFT_MSG_NEWSETELEM` per set and operation (the
//! elements listed in it), `NFNL_MSG_BATCH_END`; the kernel commits it
//! whole or not at all. Every element message asks for an
//! acknowledgement, so the socket knows when the kernel has answered all
//! of them (`nft` asks for none and waits on the socket instead).
//!
//! Interval sets (`flags interval`, one address per field, no
//! concatenation) take a range the way `nft` 1.0.6 sends it on this kernel:
//! two elements, the range's first address and the address after its
//! last, flagged `NFT_SET_ELEM_INTERVAL_END`; a range that runs to the top
//! of the address space has no end element and carries `nft`'s "open
//! interval" user data instead. `nft` also puts an end element at address
//! zero into an interval set (the gap before the first range); Cordon
//! sends it with every addition, as `nft` does into an empty set, and the
//! kernel takes it again silently when it is there (an `add` is not
//! `create`). `NFTA_SET_ELEM_KEY_END`, the one-element form of a range, is
//! only for concatenated sets, which Cordon does not use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::{NFPROTO_INET, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST, SUBSYS_NFTABLES};

/// `NFT_MSG_NEWSETELEM`, `NFT_MSG_GETSETELEM`, `NFT_MSG_DELSETELEM`.
pub(crate) const NEWSETELEM: u8 = 12;
pub(crate) const GETSETELEM: u8 = 13;
pub(crate) const DELSETELEM: u8 = 14;
const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;
const NLA_F_NESTED: u16 = 0x8000;
/// `NFTA_SET_ELEM_LIST_*`.
const LIST_TABLE: u16 = 1;
const LIST_SET: u16 = 2;
pub(super) const LIST_ELEMENTS: u16 = 3;
/// `NFTA_LIST_ELEM`: each element of the list.
pub(super) const LIST_ELEM: u16 = 1;
/// `NFTA_SET_ELEM_*`.
pub(super) const ELEM_KEY: u16 = 1;
pub(super) const ELEM_FLAGS: u16 = 3;
pub(super) const ELEM_EXPIRATION: u16 = 5;
pub(super) const ELEM_USERDATA: u16 = 6;
pub(super) const ELEM_EXPR: u16 = 7;
pub(super) const ELEM_EXPRESSIONS: u16 = 11;
/// `NFTA_DATA_VALUE`.
pub(super) const DATA_VALUE: u16 = 1;
/// `NFT_SET_ELEM_INTERVAL_END`.
pub(super) const INTERVAL_END: u32 = 1;
/// `NFTA_EXPR_NAME`, `NFTA_EXPR_DATA`, `NFTA_COUNTER_PACKETS`.
pub(super) const EXPR_NAME: u16 = 1;
pub(super) const EXPR_DATA: u16 = 2;
pub(super) const COUNTER_PACKETS: u16 = 2;
/// `nft`'s element user data for a range without an end element: one
/// TLV, `NFTNL_UDATA_SET_ELEM_FLAGS` (1), four bytes long, holding
/// `NFTNL_SET_ELEM_F_INTERVAL_OPEN` (1) in host byte order.
pub(super) const OPEN_INTERVAL_UDATA: [u8; 2] = [1, 4];

/// Prefixes per element message at most. The element list is one
/// attribute, whose length is 16 bits: 512 IPv6 ranges (two elements of
/// at most 48 bytes each) stay well under 64 KiB.
pub(crate) const NETS_PER_MESSAGE: usize = 512;

/// Adding or deleting elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Delete,
}

impl Op {
    /// The verb, as an operator reads it in an error.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Delete => "delete",
        }
    }
}

/// One set's part of a change: these prefixes added to, or deleted from,
/// the set `set` (an interval set when `interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetChange {
    pub(crate) set: String,
    pub(crate) op: Op,
    pub(crate) interval: bool,
    pub(crate) nets: Vec<IpNet>,
}

/// One element as the kernel stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Elem {
    key: IpAddr,
    /// Ends a range (`NFT_SET_ELEM_INTERVAL_END`).
    end: bool,
    /// Starts a range that runs to the top of the address space.
    open: bool,
}

/// The kernel's elements for `net`: its first address in a hash set; in
/// an interval set, its first address and the address after its last.
fn kernel_elements(net: &IpNet, interval: bool) -> Vec<Elem> {
    let start = Elem {
        key: net.network(),
        end: false,
        open: false,
    };
    if !interval {
        return vec![start];
    }
    match after(net) {
        Some(key) => vec![
            start,
            Elem {
                key,
                end: true,
                open: false,
            },
        ],
        None => vec![Elem {
            open: true,
            ..start
        }],
    }
}

/// The address after the last of `net`; `None` at the top of the space.
fn after(net: &IpNet) -> Option<IpAddr> {
    match net {
        IpNet::V4(n) => u32::from(n.broadcast())
            .checked_add(1)
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        IpNet::V6(n) => u128::from(n.broadcast())
            .checked_add(1)
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    }
}

/// An attribute or message longer than netlink's length fields hold.
#[derive(Debug, thiserror::Error)]
#[error(
    "a netlink {what} of {len} bytes is too long for its length field (split the change into smaller batches)"
)]
pub(crate) struct TooLong {
    what: &'static str,
    len: usize,
}

/// Bytes of netlink messages, written in place.
#[derive(Debug, Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Starts a message with its `nfgenmsg`; returns where it starts.
    fn message(&mut self, kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `end_message`
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel's
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        at
    }

    fn end_message(&mut self, at: usize) -> Result<(), TooLong> {
        let len = self.buf.len() - at;
        let len32 = u32::try_from(len).map_err(|_| TooLong {
            what: "message",
            len,
        })?;
        self.buf[at..at + 4].copy_from_slice(&len32.to_ne_bytes());
        Ok(())
    }

    fn attr(&mut self, kind: u16, value: &[u8]) -> Result<(), TooLong> {
        let len = 4 + value.len();
        let len16 = u16::try_from(len).map_err(|_| TooLong {
            what: "attribute",
            len,
        })?;
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
        Ok(())
    }

    /// A string attribute, NUL-terminated as the kernel expects.
    fn text(&mut self, kind: u16, value: &str) -> Result<(), TooLong> {
        self.attr(kind, &[value.as_bytes(), &[0]].concat())
    }

    /// Starts a nested attribute; returns where it starts.
    fn nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end_nest(&mut self, at: usize) -> Result<(), TooLong> {
        let len = self.buf.len() - at;
        let len16 = u16::try_from(len).map_err(|_| TooLong {
            what: "nested attribute",
            len,
        })?;
        self.buf[at..at + 2].copy_from_slice(&len16.to_ne_bytes());
        Ok(())
    }

    /// `NFTA_SET_ELEM_KEY` holding `key`.
    fn key(&mut self, key: IpAddr) -> Result<(), TooLong> {
        let nest = self.nest(ELEM_KEY);
        match key {
            IpAddr::V4(a) => self.attr(DATA_VALUE, &a.octets())?,
            IpAddr::V6(a) => self.attr(DATA_VALUE, &a.octets())?,
        }
        self.end_nest(nest)
    }

    fn element(&mut self, elem: &Elem) -> Result<(), TooLong> {
        let nest = self.nest(LIST_ELEM);
        if elem.end {
            self.attr(ELEM_FLAGS, &INTERVAL_END.to_be_bytes())?;
        }
        self.key(elem.key)?;
        if elem.open {
            let udata = [&OPEN_INTERVAL_UDATA[..], &1u32.to_ne_bytes()].concat();
            self.attr(ELEM_USERDATA, &udata)?;
        }
        self.end_nest(nest)
    }
}

/// One element message of a batch, kept to name what the kernel refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) seq: u32,
    pub(crate) set: String,
    pub(crate) op: Op,
    /// Where each element's attribute starts in the message, and the
    /// prefix it belongs to (`None`: the interval set's zero element).
    pub(crate) elements: Vec<(usize, Option<IpNet>)>,
}

impl Sent {
    /// The prefix whose element starts at or before `offset` (the kernel
    /// points at the element attribute it refused).
    pub(crate) fn element_at(&self, offset: usize) -> Option<Option<IpNet>> {
        self.elements
            .iter()
            .rev()
            .find(|(at, _)| *at <= offset)
            .map(|(_, net)| *net)
    }
}

/// A whole transaction: the bytes to send, and what they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    /// The sequence number of the batch's first message: the kernel
    /// answers a batch refused as a whole (a failed commit) with it.
    pub(crate) begin_seq: u32,
    pub(crate) messages: Vec<Sent>,
}

impl Batch {
    /// The sequence numbers the batch uses, from its first.
    pub(crate) fn seqs_used(&self) -> u32 {
        u32::try_from(self.messages.len())
            .unwrap_or(u32::MAX)
            .saturating_add(2)
    }
}

/// The batch for `changes` in the `inet` table `table`, its messages
/// numbered from `seq`: deletions and additions in the order given, large
/// changes split into several messages of the same transaction.
pub(crate) fn batch(table: &str, changes: &[SetChange], seq: u32) -> Result<Batch, TooLong> {
    let mut w = Writer::default();
    let mut next = seq;
    let mut take = || {
        let s = next;
        next = next.wrapping_add(1);
        s
    };
    let begin_seq = take();
    let res_id = SUBSYS_NFTABLES;
    let begin = w.message(BATCH_BEGIN, NLM_F_REQUEST, begin_seq, 0, res_id);
    w.end_message(begin)?;
    let mut messages = Vec::new();
    for change in changes {
        for (i, chunk) in change.nets.chunks(NETS_PER_MESSAGE).enumerate() {
            let (kind, flags) = match change.op {
                Op::Add => (NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK),
                Op::Delete => (DELSETELEM, NLM_F_REQUEST | NLM_F_ACK),
            };
            let seq = take();
            let at = w.message(msg_type(kind), flags, seq, NFPROTO_INET, 0);
            w.text(LIST_TABLE, table)?;
            w.text(LIST_SET, &change.set)?;
            let list = w.nest(LIST_ELEMENTS);
            let mut elements = Vec::new();
            let zero_first = change.interval
                && change.op == Op::Add
                && i == 0
                && chunk.iter().all(starts_above_zero);
            if let (true, Some(first)) = (zero_first, chunk.first()) {
                elements.push((w.buf.len() - at, None));
                w.element(&zero_end(*first))?;
            }
            for net in chunk {
                for elem in kernel_elements(net, change.interval) {
                    elements.push((w.buf.len() - at, Some(*net)));
                    w.element(&elem)?;
                }
            }
            w.end_nest(list)?;
            w.end_message(at)?;
            messages.push(Sent {
                seq,
                set: change.set.clone(),
                op: change.op,
                elements,
            });
        }
    }
    let end = w.message(BATCH_END, NLM_F_REQUEST, take(), 0, res_id);
    w.end_message(end)?;
    Ok(Batch {
        bytes: w.buf,
        begin_seq,
        messages,
    })
}

/// Whether `net` starts above address zero (a range from zero needs no
/// zero end element, and must not get one).
fn starts_above_zero(net: &IpNet) -> bool {
    !net.network().is_unspecified()
}

/// The end element at address zero of `net`'s family.
fn zero_end(net: IpNet) -> Elem {
    let key = match net {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Elem {
        key,
        end: true,
        open: false,
    }
}

/// The netlink message type of an nf_tables message.
pub(crate) fn msg_type(kind: u8) -> u16 {
    (SUBSYS_NFTABLES << 8) | u16::from(kind)
}

/// A request for the one element `key` of the set `set` (a hash set, or
/// the range holding `key` in an interval set).
pub(crate) fn get(table: &str, set: &str, key: IpAddr, seq: u32) -> Result<Vec<u8>, TooLong> {
    let mut w = Writer::default();
    let at = w.message(msg_type(GETSETELEM), NLM_F_REQUEST, seq, NFPROTO_INET, 0);
    w.text(LIST_TABLE, table)?;
    w.text(LIST_SET, set)?;
    let list = w.nest(LIST_ELEMENTS);
    w.element(&Elem {
        key,
        end: false,
        open: false,
    })?;
    w.end_nest(list)?;
    w.end_message(at)?;
    Ok(w.buf)
}

/// A request for every element of the set `set`: a dump, answered in
/// several `NFT_MSG_NEWSETELEM` messages (as many elements in each as fit
/// a datagram) and ended by `NLMSG_DONE`. No element list: the kernel
/// walks the whole set.
pub(crate) fn dump(table: &str, set: &str, seq: u32) -> Result<Vec<u8>, TooLong> {
    let mut w = Writer::default();
    let flags = NLM_F_REQUEST | NLM_F_DUMP;
    let at = w.message(msg_type(GETSETELEM), flags, seq, NFPROTO_INET, 0);
    w.text(LIST_TABLE, table)?;
    w.text(LIST_SET, set)?;
    w.end_message(at)?;
    Ok(w.buf)
}

/// `NFT_MSG_NEWGEN`, `NFT_MSG_GETGEN`: the ruleset's generation.
pub(crate) const NEWGEN: u8 = 15;
pub(crate) const GETGEN: u8 = 16;

/// A request for the ruleset's generation: answered with its low 16 bits
/// in `nfgenmsg`'s resource id, as every part of a dump carries them.
pub(crate) fn generation(seq: u32) -> Result<Vec<u8>, TooLong> {
    let mut w = Writer::default();
    let at = w.message(msg_type(GETGEN), NLM_F_REQUEST, seq, NFPROTO_INET, 0);
    w.end_message(at)?;
    Ok(w.buf)
}
