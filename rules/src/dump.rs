//! Reading the table's definition (table, chains, rules, sets, objects,
//! flowtables, but no set elements) straight from nf_tables over netlink.
//!
//! Why not `nft -j -t list table`: nftables 1.0.6 fetches every set
//! element for any listing that shows rules (and for `list sets`, `list
//! tables`, `list counters`), whatever `-t` says; at 100 000 quarantines a
//! listing took 0.26 s, paid at start, on each change notice and each 30 s
//! reconcile. The kernel dumps each kind of object on its own, and none of
//! those dumps carries set elements. The objects are read raw (attribute
//! bytes, see [`crate::drift`]): they are compared with themselves, never
//! shown as rules.

use std::io;

use netlink_packet_core::NlasIterator;
use netlink_sys::Socket;

use crate::error::RulesError;
use crate::netlink::{
    NFGENMSG_LEN, NFPROTO_INET, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST,
    NLMSG_DONE, NLMSG_ERROR, SUBSYS_NFTABLES, open,
};

/// The nf_tables subsystem's messages (`linux/netfilter/nf_tables.h`).
pub(crate) const GET_TABLE: u8 = 1;
pub(crate) const GET_CHAIN: u8 = 4;
pub(crate) const GET_RULE: u8 = 7;
pub(crate) const GET_SET: u8 = 10;
const GET_GEN: u8 = crate::netlink::message::GETGEN;
pub(crate) const GET_OBJ: u8 = 19;
pub(crate) const GET_FLOWTABLE: u8 = 23;
/// The table's name in a table message, and the table an object belongs
/// to in every other (`NFTA_TABLE_NAME`, `NFTA_CHAIN_TABLE`, …).
const NFTA_TABLE: u16 = 1;

/// How often a dump that the ruleset changed under is read again.
pub(crate) const CHANGED_RETRIES: u32 = 3;

/// One object as the kernel dumped it: which dump (a `GET_*` above) and
/// its attributes, raw.
#[derive(Debug, Clone)]
pub(crate) struct Dumped {
    pub(crate) kind: u8,
    pub(crate) attrs: Vec<u8>,
}

/// Every object of the `inet` table `table`, from one generation of the
/// ruleset: the dumps are read again (a few times) when a change was
/// committed while they were read. `netns` names the network namespace to
/// ask (`None`: our own).
pub(crate) fn table(netns: Option<&str>, table: &str) -> Result<Vec<Dumped>, RulesError> {
    let what = "read the table's definition over netlink";
    let fail = |source: io::Error| RulesError::Netlink {
        what: what.to_owned(),
        source,
    };
    let socket = open(netns).map_err(fail)?;
    let mut tries = 0;
    loop {
        match one_generation(&socket, table).map_err(fail)? {
            Some(objects) => return Ok(objects),
            None if tries < CHANGED_RETRIES => tries += 1,
            None => {
                return Err(fail(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "the ruleset kept changing while it was read; the next comparison asks again",
                )));
            }
        }
    }
}

/// Whether the `inet` table `table` is in the kernel: one dump of the
/// tables, read again (a few times) when the kernel marks it interrupted.
pub(crate) fn has_table(netns: Option<&str>, table: &str) -> Result<bool, RulesError> {
    let fail = |source: io::Error| RulesError::Netlink {
        what: "look for the table over netlink".to_owned(),
        source,
    };
    let socket = open(netns).map_err(fail)?;
    for _ in 0..=CHANGED_RETRIES {
        if let Some(tables) = dump(&socket, GET_TABLE, None).map_err(fail)? {
            return Ok(tables.iter().any(|t| in_table(t, table)));
        }
    }
    Err(fail(io::Error::new(
        io::ErrorKind::Interrupted,
        "the ruleset kept changing while the tables were listed",
    )))
}

/// The dumps, or `None` when the ruleset's generation changed meanwhile.
fn one_generation(socket: &Socket, table: &str) -> io::Result<Option<Vec<Dumped>>> {
    let before = generation(socket)?;
    let mut out = Vec::new();
    // Tables and chains are dumped whole (the kernel filters them by
    // family only) and picked by name; the rest is filtered by the kernel.
    for kind in [
        GET_TABLE,
        GET_CHAIN,
        GET_RULE,
        GET_SET,
        GET_OBJ,
        GET_FLOWTABLE,
    ] {
        let filter = matches!(kind, GET_RULE | GET_SET | GET_OBJ | GET_FLOWTABLE);
        let objects = match dump(socket, kind, filter.then_some(table)) {
            Ok(Some(objects)) => objects,
            Ok(None) => return Ok(None),
            // A dump filtered by a table that is not there.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(Vec::new())),
            Err(e) => return Err(e),
        };
        out.extend(
            objects
                .into_iter()
                .filter(|o| in_table(o, table))
                .map(|attrs| Dumped { kind, attrs }),
        );
    }
    Ok((generation(socket)? == before).then_some(out))
}

/// The netlink attributes in `bytes`: (type, value), in order; a
/// malformed tail ends the walk.
pub(crate) fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(bytes)
        .map_while(Result::ok)
        .map_while(|nla| {
            let (kind, len) = (nla.kind(), usize::from(nla.length()));
            // The buffer runs to the end of the message; the value is the
            // attribute's own bytes after its 4-byte header.
            nla.into_inner().get(4..len).map(|value| (kind, value))
        })
}

/// Whether an object's attributes name `table`: its table attribute
/// (type 1 for chains, rules, sets, objects, flowtables), or its own
/// name for a table (also type 1).
fn in_table(attrs: &[u8], table: &str) -> bool {
    attributes(attrs).any(|(kind, value)| {
        kind == NFTA_TABLE && value.split(|b| *b == 0).next() == Some(table.as_bytes())
    })
}

/// Whether an nf_tables message (its payload: the `nfgenmsg` header, then
/// attributes) is about `table` in the `inet` family: what the change
/// monitor keeps.
pub fn names_table(payload: &[u8], table: &str) -> bool {
    payload.first() == Some(&NFPROTO_INET)
        && payload
            .get(NFGENMSG_LEN..)
            .is_some_and(|attrs| in_table(attrs, table))
}

/// The ruleset's generation: it changes with every committed transaction.
fn generation(socket: &Socket) -> io::Result<Vec<u8>> {
    send(socket, GET_GEN, NLM_F_REQUEST, None)?;
    let mut answer = Vec::new();
    receive(socket, &mut |attrs| answer = attrs.to_vec())?;
    Ok(answer)
}

/// The objects one dump answers; `None` when the kernel marked it
/// interrupted.
fn dump(socket: &Socket, kind: u8, table: Option<&str>) -> io::Result<Option<Vec<Vec<u8>>>> {
    send(socket, kind, NLM_F_REQUEST | NLM_F_DUMP, table)?;
    let mut out = Vec::new();
    let complete = receive(socket, &mut |attrs| out.push(attrs.to_vec()))?;
    Ok(complete.then_some(out))
}

/// Sends one request of the nf_tables subsystem for family `inet`, with
/// the table name (attribute 1) when given.
fn send(socket: &Socket, kind: u8, flags: u16, table: Option<&str>) -> io::Result<()> {
    let mut attrs = Vec::new();
    if let Some(name) = table {
        let value = [name.as_bytes(), &[0]].concat();
        let len = u16::try_from(4 + value.len()).map_err(io::Error::other)?;
        attrs.extend_from_slice(&len.to_ne_bytes());
        attrs.extend_from_slice(&1u16.to_ne_bytes());
        attrs.extend_from_slice(&value);
        attrs.resize(attrs.len().next_multiple_of(4), 0);
    }
    let len = u32::try_from(16 + 4 + attrs.len()).map_err(io::Error::other)?;
    let mut msg = Vec::with_capacity(len as usize);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&((SUBSYS_NFTABLES << 8) | u16::from(kind)).to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence: one request at a time
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[NFPROTO_INET, 0, 0, 0]);
    msg.extend_from_slice(&attrs);
    socket.send(&msg, 0).map(drop)
}

/// Reads answers until the end of the dump (or the one answer of a
/// request), handing each object's attributes to `each`; `false` when
/// the kernel marked the dump interrupted.
fn receive(socket: &Socket, each: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
    let mut complete = true;
    loop {
        let (buf, _) = socket.recv_from_full()?;
        let mut rest = &buf[..];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            let flags = u16::from_ne_bytes([rest[6], rest[7]]);
            if len < 16 || len > rest.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a netlink message longer than its datagram",
                ));
            }
            let body = &rest[16..len];
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
            if flags & NLM_F_DUMP_INTR != 0 {
                complete = false;
            }
            match kind {
                NLMSG_DONE => return Ok(complete),
                NLMSG_ERROR => {
                    let code = body
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok(complete);
                }
                // An answer of ours: the nfgenmsg header, then attributes.
                _ if body.len() >= NFGENMSG_LEN => {
                    each(&body[NFGENMSG_LEN..]);
                    if flags & NLM_F_MULTI == 0 {
                        // Not part of a multi-part dump: the only answer.
                        return Ok(complete);
                    }
                }
                _ => {}
            }
        }
    }
}
