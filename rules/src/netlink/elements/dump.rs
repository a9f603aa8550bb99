//! Whole sets read over netlink: one dump per set, read again when a
//! commit came between its parts (see [`super::ElementSocket::dump`]).

use std::io;
use std::time::{Duration, Instant};

use netlink_sys::Socket;

use super::super::found::{self, Found};
use super::super::message::{self, NEWSETELEM};
use super::super::{NFGENMSG_LEN, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR};
use super::{ANSWER_WITHIN, Conn, error_of, read, send};
use crate::dump::CHANGED_RETRIES;

/// How one dump of a set ended.
#[derive(Debug)]
enum Dumped {
    /// The elements, and the generation they were read in.
    Complete(Vec<Found>, Option<[u8; 2]>),
    /// No such set (or table).
    Missing,
    /// The kernel marked it interrupted: read it again.
    Changed,
}

/// A dump's parts, all of them, arrive within this long: bounded even
/// when the set keeps changing under it (each change makes the kernel
/// walk on, and a dump could run on for as long as changes come).
const DUMP_WITHIN: Duration = ANSWER_WITHIN;

/// The dump of [`ElementSocket::dump`], started again when a commit came
/// between its parts. `between_parts` runs after each part is read (its
/// number in this dump, from 1): nothing in use, a transaction committed
/// mid-dump in the tests.
pub(super) fn dump_set(
    conn: &mut Conn,
    table: &str,
    set: &str,
    between_parts: &mut dyn FnMut(usize),
) -> io::Result<Option<Vec<Found>>> {
    for _ in 0..=CHANGED_RETRIES {
        let seq = conn.take_seq();
        let request = message::dump(table, set, seq)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        send(&conn.socket, &request)?;
        let (elements, read_at) = match parts(&conn.socket, seq, set, between_parts)? {
            Dumped::Complete(elements, read_at) => (elements, read_at),
            Dumped::Missing => return Ok(None),
            Dumped::Changed => continue,
        };
        // The kernel walks the set once more after the last part, to find
        // nothing left: a commit before that walk shows only here.
        if read_at.is_some_and(|g| generation(conn).is_ok_and(|now| now != g)) {
            continue;
        }
        return Ok(Some(elements));
    }
    Err(io::Error::new(
        io::ErrorKind::Interrupted,
        format!(
            "the set {set} kept changing while it was read ({} tries); the next reading asks again",
            CHANGED_RETRIES + 1
        ),
    ))
}

/// The ruleset's generation now (its low 16 bits).
fn generation(conn: &mut Conn) -> io::Result<[u8; 2]> {
    let seq = conn.take_seq();
    let request =
        message::generation(seq).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    send(&conn.socket, &request)?;
    let mut out = Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "no generation in the kernel's answer",
    ));
    read(&conn.socket, |msg| {
        if msg.seq != seq {
            return false;
        }
        if msg.kind == message::msg_type(message::NEWGEN) {
            if let Some(g) = generation_of(msg.payload) {
                out = Ok(g);
            }
        } else if let Some((code, _, _)) = error_of(&msg).filter(|_| msg.kind == NLMSG_ERROR) {
            out = Err(io::Error::from_raw_os_error(-code));
        }
        true
    })?;
    out
}

/// The generation a message was made in: `nfgenmsg`'s resource id.
fn generation_of(payload: &[u8]) -> Option<[u8; 2]> {
    payload.get(2..NFGENMSG_LEN)?.try_into().ok()
}

/// Reads the parts of the dump numbered `seq` until `NLMSG_DONE`, within
/// [`DUMP_WITHIN`]; with the elements, the generation they were read in
/// (`None`: no part, an empty set). Messages of other numbers are late
/// answers to earlier calls, skipped.
fn parts(
    socket: &Socket,
    seq: u32,
    set: &str,
    between_parts: &mut dyn FnMut(usize),
) -> io::Result<Dumped> {
    let deadline = Instant::now() + DUMP_WITHIN;
    let mut elements: Vec<Found> = Vec::new();
    let mut changed = false;
    let mut read_at: Option<[u8; 2]> = None;
    let mut part = 0;
    let mut out = Ok(Dumped::Missing);
    read(socket, |msg| {
        if msg.seq != seq {
            return false;
        }
        changed |= msg.flags & NLM_F_DUMP_INTR != 0;
        match msg.kind {
            NLMSG_DONE => {
                // The dump's own error, if it failed part way.
                let code = msg
                    .payload
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, i32::from_ne_bytes);
                out = if code < 0 {
                    Err(io::Error::from_raw_os_error(-code))
                } else if changed {
                    Ok(Dumped::Changed)
                } else {
                    let mut all = std::mem::take(&mut elements);
                    all.sort_unstable_by_key(|f| (f.key, f.end));
                    let sent = all.len();
                    all.dedup_by_key(|f| (f.key, f.end));
                    if all.len() < sent {
                        // A set holds each element once: the kernel's walk
                        // was not one pass (its hash table was resized under
                        // it, or the packet path added to it), and what it
                        // repeated stands for what it skipped.
                        Ok(Dumped::Changed)
                    } else {
                        Ok(Dumped::Complete(all, read_at))
                    }
                };
                true
            }
            NLMSG_ERROR => {
                out = match error_of(&msg) {
                    Some((code, _, _)) if -code == nix::libc::ENOENT => Ok(Dumped::Missing),
                    Some((0, _, _)) => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the kernel acknowledged a dump instead of sending it",
                    )),
                    Some((code, _, _)) => Err(io::Error::from_raw_os_error(-code)),
                    None => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a netlink error message cut short",
                    )),
                };
                true
            }
            kind if kind == message::msg_type(NEWSETELEM) => {
                let made_in = generation_of(msg.payload);
                changed |= read_at.is_some_and(|g| Some(g) != made_in);
                read_at = read_at.or(made_in);
                if changed {
                    elements = Vec::new(); // to be read again: drained, not kept
                } else {
                    elements.extend(found::every(msg.payload));
                }
                part += 1;
                between_parts(part);
                if Instant::now() > deadline {
                    // The socket is left mid-dump: the error closes it.
                    out = Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the set {set} was still being sent after {DUMP_WITHIN:?} (it kept changing?)"
                        ),
                    ));
                    return true;
                }
                false
            }
            _ => false,
        }
    })?;
    out
}
