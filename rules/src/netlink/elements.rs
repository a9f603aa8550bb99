//! Set elements changed and looked up over netlink from cordond itself:
//! one batch transaction per change, one request per lookup, on a socket
//! kept open between calls (a call costs a round trip to the kernel, not
//! an `nft` process).

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netlink_sys::Socket;
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use super::found::{self, Found};
use super::message::{self, Batch, NEWSETELEM, Op, Sent, SetChange};
use super::{NLM_F_ACK_TLVS, NLMSG_ERROR, NLMSG_HDR_LEN, open};
use crate::elements::nft_text;
use crate::error::{ElementRefusal, RulesError};

/// How long the kernel may take to answer before the call fails (and
/// the socket is opened anew for the next one). A batch of 10 000
/// elements commits in tens of milliseconds.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// Batches up to this size fit the socket's default send buffer; a larger
/// one raises it (one datagram carries the whole transaction).
const DEFAULT_SEND_BUFFER: usize = 128 * 1024;
/// `NLMSGERR_ATTR_MSG`, `NLMSGERR_ATTR_OFFS`: the kernel's words on a
/// refusal, and where in our message the refused attribute starts.
const ERR_ATTR_MSG: u16 = 1;
const ERR_ATTR_OFFS: u16 = 2;
/// The kernel's explanation, at most this long in an error.
const KERNEL_MESSAGE_MAX: usize = 200;

/// The netfilter netlink socket of one network namespace, opened on first
/// use and kept; calls take turns on it.
#[derive(Debug, Clone)]
pub(crate) struct ElementSocket {
    netns: Option<String>,
    conn: Arc<Mutex<Option<Conn>>>,
}

#[derive(Debug)]
struct Conn {
    socket: Socket,
    /// The next sequence number: answers to earlier calls are told apart.
    seq: u32,
}

impl Conn {
    /// A sequence number for one request.
    fn take_seq(&mut self) -> u32 {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        seq
    }
}

/// What the kernel refused first in a batch.
#[derive(Debug)]
struct Refusal {
    seq: u32,
    errno: i32,
    offset: Option<usize>,
    message: Option<String>,
}

impl ElementSocket {
    /// The socket of `netns` (`None`: the caller's own namespace).
    pub(crate) fn new(netns: Option<&str>) -> Self {
        ElementSocket {
            netns: netns.map(str::to_owned),
            conn: Arc::default(),
        }
    }

    /// Runs `f` on the open socket, opening it first if needed. An I/O
    /// failure (not a refusal) closes it: answers may still be on their
    /// way, and the next call starts on a clean socket.
    fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Conn) -> Result<T, RulesError>,
    ) -> Result<T, RulesError> {
        let mut guard = self.conn.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        });
        if guard.is_none() {
            *guard = Some(connect(self.netns.as_deref()).map_err(|source| netlink(what, source))?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(netlink(what, io::Error::other("no socket")));
        };
        let out = f(conn);
        if matches!(out, Err(RulesError::Netlink { .. })) {
            *guard = None;
        }
        out
    }

    /// Applies `changes` to the `inet` table `table` in one transaction:
    /// all of it, or (refused) none of it, with the first refused element
    /// named in the error.
    pub(crate) fn change(
        &self,
        table: &str,
        changes: &[SetChange],
        what: &str,
    ) -> Result<(), RulesError> {
        if changes.iter().all(|c| c.nets.is_empty()) {
            return Ok(());
        }
        self.with(what, |conn| {
            let batch = message::batch(table, changes, conn.seq)
                .map_err(|e| netlink(what, io::Error::new(io::ErrorKind::InvalidInput, e)))?;
            conn.seq = conn.seq.wrapping_add(batch.seqs_used());
            if batch.bytes.len() > DEFAULT_SEND_BUFFER {
                setsockopt(&conn.socket, sockopt::SndBufForce, &batch.bytes.len())
                    .map_err(|e| netlink(what, e.into()))?;
            }
            send(&conn.socket, &batch.bytes).map_err(|e| netlink(what, e))?;
            match acknowledged(&conn.socket, &batch).map_err(|e| netlink(what, e))? {
                None => Ok(()),
                Some(refusal) => Err(refused(what, &batch, refusal)),
            }
        })
    }

    /// The element `key` of the set `set` (in an interval set: the range
    /// holding `key`); `None` when the set, or the table, holds none.
    pub(crate) fn get(
        &self,
        table: &str,
        set: &str,
        key: IpAddr,
        what: &str,
    ) -> Result<Option<Found>, RulesError> {
        self.with(what, |conn| {
            let seq = conn.take_seq();
            let request = message::get(table, set, key, seq)
                .map_err(|e| netlink(what, io::Error::new(io::ErrorKind::InvalidInput, e)))?;
            send(&conn.socket, &request).map_err(|e| netlink(what, e))?;
            answer(&conn.socket, seq).map_err(|e| netlink(what, e))
        })
    }

    /// Every element of the set `set`, read in one dump (many datagrams
    /// for a large set, each a round trip on this socket, no process
    /// started); `None` when the set, or the table, is not there. Read
    /// again (a few times) when a transaction was committed while it was
    /// read: the kernel walks the set anew for each part, skipping as many
    /// elements as it sent before, so a commit in between makes it skip
    /// elements or send them twice (seen on Linux 6.18). The kernel does
    /// not mark such a dump `NLM_F_DUMP_INTR` (it is honoured all the
    /// same), but each part carries the ruleset's generation (its low 16
    /// bits, in `nfgenmsg`'s resource id): parts of two generations are a
    /// dump to read again. Without any commit, a walk can still repeat
    /// (and so skip) elements: the first dump of a hash set just filled
    /// with 100 000 hosts repeated about 16 000 of them (measured, Linux
    /// 6.18; the table being resized), and the packet path adds to the
    /// meters meanwhile. A key sent twice is therefore a dump to read
    /// again too. All of it within 5 s, each datagram within
    /// [`ANSWER_WITHIN`].
    pub(crate) fn dump(
        &self,
        table: &str,
        set: &str,
        what: &str,
    ) -> Result<Option<Vec<Found>>, RulesError> {
        self.with(what, |conn| {
            dump::dump_set(conn, table, set, &mut |_| {}).map_err(|e| netlink(what, e))
        })
    }
}

/// A socket that asks for extended acknowledgements (where the refused
/// attribute is) without the echo of our message, and gives up waiting
/// after [`ANSWER_WITHIN`].
fn connect(netns: Option<&str>) -> io::Result<Conn> {
    let socket = open(netns)?;
    socket.set_ext_ack(true)?;
    socket.set_cap_ack(true)?;
    let within = TimeVal::new(
        i64::try_from(ANSWER_WITHIN.as_secs()).unwrap_or(i64::MAX),
        0,
    );
    setsockopt(&socket, sockopt::ReceiveTimeout, &within)?;
    Ok(Conn { socket, seq: 1 })
}

fn send(socket: &Socket, bytes: &[u8]) -> io::Result<()> {
    let sent = socket.send(bytes, 0)?;
    if sent == bytes.len() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the kernel took {sent} of {} bytes",
            bytes.len()
        )))
    }
}

/// One netlink message of a datagram: type, flags, sequence, payload.
struct Received<'a> {
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &'a [u8],
}

/// Reads datagrams, handing each message to `each` until it says done.
/// Room for one datagram. The kernel sizes a dump's datagrams by the
/// largest buffer its reader has offered, up to 32 KiB: offered only what
/// the last one held (as `recv_from_full` does), it keeps to about 4 KiB,
/// and since it walks a set from the start for each datagram (skipping
/// what it sent), a dump of 100 000 elements in 4 KiB parts took a second
/// of its time (measured, Linux 6.18). Acknowledgements and lookups are
/// far smaller.
const DATAGRAM_ROOM: usize = 64 * 1024;

fn read(socket: &Socket, mut each: impl FnMut(Received<'_>) -> bool) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(DATAGRAM_ROOM);
    loop {
        buf.clear();
        let len = socket.recv(&mut buf, nix::libc::MSG_TRUNC).map_err(|e| {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer from the kernel within {ANSWER_WITHIN:?}"),
                )
            } else {
                e
            }
        })?;
        if len > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a datagram of {len} bytes, more than the {DATAGRAM_ROOM} bytes read"),
            ));
        }
        let mut rest = &buf[..];
        while rest.len() >= NLMSG_HDR_LEN {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            if len < NLMSG_HDR_LEN || len > rest.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a netlink message longer than its datagram",
                ));
            }
            let msg = Received {
                kind: u16::from_ne_bytes([rest[4], rest[5]]),
                flags: u16::from_ne_bytes([rest[6], rest[7]]),
                seq: u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]),
                payload: &rest[NLMSG_HDR_LEN..len],
            };
            if each(msg) {
                return Ok(());
            }
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
    }
}

/// An error message's code (0: an acknowledgement), the sequence number
/// of the message it answers, and its extended-ack attributes.
fn error_of<'a>(msg: &Received<'a>) -> Option<(i32, u32, &'a [u8])> {
    let p = msg.payload;
    let code = i32::from_ne_bytes(p.get(..4)?.try_into().ok()?);
    let seq = u32::from_ne_bytes(p.get(12..16)?.try_into().ok()?);
    // With NETLINK_CAP_ACK the kernel echoes our header only.
    let tlvs = if msg.flags & NLM_F_ACK_TLVS != 0 {
        p.get(4 + NLMSG_HDR_LEN..).unwrap_or_default()
    } else {
        &[]
    };
    Some((code, seq, tlvs))
}

/// Waits for the kernel's answer to every element message of `batch`;
/// the first refusal, if any. A batch the kernel refuses as a whole (its
/// commit failed) is answered on the batch's first sequence number.
fn acknowledged(socket: &Socket, batch: &Batch) -> io::Result<Option<Refusal>> {
    let mut waiting: Vec<u32> = batch.messages.iter().map(|m| m.seq).collect();
    let mut first: Option<Refusal> = None;
    read(socket, |msg| {
        if msg.kind != NLMSG_ERROR {
            return false;
        }
        let Some((code, seq, tlvs)) = error_of(&msg) else {
            return false;
        };
        let whole = seq == batch.begin_seq && code != 0;
        let ours = waiting.iter().position(|s| *s == seq);
        if let Some(i) = ours {
            waiting.swap_remove(i);
        }
        if (ours.is_some() || whole) && code != 0 && first.is_none() {
            let mut refusal = Refusal {
                seq,
                errno: -code,
                offset: None,
                message: None,
            };
            for (kind, value) in crate::dump::attributes(tlvs) {
                match kind {
                    ERR_ATTR_OFFS => {
                        refusal.offset = value
                            .try_into()
                            .ok()
                            .map(|b| u32::from_ne_bytes(b) as usize)
                    }
                    ERR_ATTR_MSG => refusal.message = Some(kernel_words(value)),
                    _ => {}
                }
            }
            first = Some(refusal);
        }
        whole || waiting.is_empty()
    })?;
    Ok(first)
}

/// The answer to the lookup numbered `seq`: the element, or `None` when
/// the kernel says there is none.
fn answer(socket: &Socket, seq: u32) -> io::Result<Option<Found>> {
    let mut out = Ok(None);
    read(socket, |msg| {
        if msg.seq != seq {
            return false; // a late answer to an earlier call
        }
        if msg.kind == NLMSG_ERROR {
            out = match error_of(&msg) {
                Some((0, _, _)) => Ok(None),
                Some((code, _, _)) if -code == nix::libc::ENOENT => Ok(None),
                Some((code, _, _)) => Err(io::Error::from_raw_os_error(-code)),
                None => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a netlink error message cut short",
                )),
            };
            return true;
        }
        if msg.kind == message::msg_type(NEWSETELEM) {
            out = Ok(found::found(msg.payload));
            return true;
        }
        false
    })?;
    out
}

/// The kernel's explanation, bounded and with control characters escaped.
fn kernel_words(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value.split(|b| *b == 0).next().unwrap_or_default());
    text.chars()
        .take(KERNEL_MESSAGE_MAX)
        .flat_map(char::escape_debug)
        .collect()
}

fn netlink(what: &str, source: io::Error) -> RulesError {
    RulesError::Netlink {
        what: what.to_owned(),
        source,
    }
}

/// The error for a refused batch, naming the element refused.
fn refused(what: &str, batch: &Batch, refusal: Refusal) -> RulesError {
    let sent: Option<&Sent> = batch.messages.iter().find(|m| m.seq == refusal.seq);
    let element = match (sent, refusal.offset) {
        (Some(sent), Some(offset)) => match sent.element_at(offset) {
            Some(Some(net)) => nft_text(&net),
            Some(None) => "the interval set's zero end element".to_owned(),
            None => "an element".to_owned(),
        },
        (Some(sent), None) => format!("one of {} elements", sent.elements.len()),
        (None, _) => "the transaction".to_owned(),
    };
    let (op, set) = sent.map_or(("apply", "the table"), |s| (s.op.verb(), s.set.as_str()));
    let op_is_delete = sent.is_some_and(|s| s.op == Op::Delete);
    RulesError::ElementRefused(Box::new(ElementRefusal {
        what: what.to_owned(),
        op: op.to_owned(),
        element,
        set: set.to_owned(),
        reason: reason(refusal.errno, op_is_delete, refusal.message.as_deref()),
        source: io::Error::from_raw_os_error(refusal.errno),
    }))
}

/// What an errno means for an element change, and what to do about it.
fn reason(errno: i32, deleting: bool, kernel: Option<&str>) -> String {
    use nix::libc;
    let why = match errno {
        libc::ENOENT if deleting => "it is not in the set",
        libc::ENOENT => "the table or the set is missing (reinstall the ruleset)",
        libc::EEXIST | libc::ENOTEMPTY => "it overlaps an element already in the set",
        libc::EINVAL => "the set does not take this element (wrong family or set type)",
        libc::ENFILE | libc::ENOSPC => "the set is full (raise its size)",
        libc::EPERM => "cordond lacks CAP_NET_ADMIN in this namespace",
        libc::EBUSY => "the element is in use",
        _ => "the kernel refused it",
    };
    match kernel {
        Some(words) if !words.is_empty() => format!("{why}; the kernel says: {words}"),
        _ => why.to_owned(),
    }
}

mod dump;
#[cfg(test)]
mod dump_tests;
