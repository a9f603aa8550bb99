//! Hearing the table change: nftables announces every change on the
//! netfilter netlink multicast group `NFNLGRP_NFTABLES` (what `nft monitor`
//! reads), so a rule flushed by hand is noticed at once instead of at the
//! next reconcile.
//!
//! Why so little parsing: cordond only needs "something in table `inet
//! NAME` changed"; the comparison with what it installed decides whether
//! that something matters (see `cordon_rules::Shape`). So a message is read
//! as far as its type, its family and its table-name attribute. Set element
//! messages are skipped by type, before anything else: cordond's own
//! quarantines and releases produce them by the thousand, and they are not
//! changes of the table's shape. So are the end-of-transaction (`NEWGEN`)
//! messages every commit sends. Bursts (a flush deletes rules one message
//! each) are gathered into one notice.

use std::io;
use std::time::Duration;

use cordon_rules::names_table;
use netlink_packet_core::NetlinkBuffer;
use netlink_sys::protocols::NETLINK_NETFILTER;
use netlink_sys::{AsyncSocket, AsyncSocketExt, TokioSocket};

/// `NFNLGRP_NFTABLES` (linux/netfilter/nfnetlink.h).
const NFNLGRP_NFTABLES: u32 = 7;
/// `NFNL_SUBSYS_NFTABLES`: the high byte of an nftables message's type.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFT_MSG_NEWSETELEM`, `NFT_MSG_GETSETELEM`, `NFT_MSG_DELSETELEM`,
/// `NFT_MSG_NEWGEN`, `NFT_MSG_GETGEN`, `NFT_MSG_TRACE`, and (Linux 6.3+)
/// `NFT_MSG_DESTROYSETELEM`: nothing of the table's shape.
const NOT_SHAPE: [u16; 7] = [12, 13, 14, 15, 16, 17, 30];
// Which table a message is about: `cordon_rules::names_table`, the same
// reading the table comparison's dump uses.

/// Quiet needed after a change before it is reported: a flush of a chain
/// arrives as one message per rule, within microseconds.
const SETTLE: Duration = Duration::from_millis(20);
/// Longest a burst delays its report, so a steady stream of changes is
/// still reported (and compared) several times a second.
const BURST_MAX: Duration = Duration::from_millis(200);
/// The receive buffer asked for: cordond's own batches of set elements
/// arrive here too, and a burst of them must not hide a rule change (if it
/// does, the kernel says ENOBUFS and the table is compared anyway).
const RECEIVE_BUFFER: usize = 4 << 20;
/// Largest datagram read at once (the kernel's notifications are at most
/// a page or two).
const DATAGRAM_MAX: usize = 64 << 10;

/// Why the table should be compared now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Our table changed (by cordond or by someone else).
    Changed,
    /// The socket overflowed (ENOBUFS): changes may have been missed.
    Overflowed,
}

/// The multicast socket, open in cordond's network namespace.
pub struct TableEvents {
    socket: TokioSocket,
    table: String,
    buf: Vec<u8>,
}

impl std::fmt::Debug for TableEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableEvents")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// Opens the socket and joins the nftables group. Must be called inside a
/// tokio runtime.
pub fn watch_table(table: &str) -> io::Result<TableEvents> {
    let mut socket = TokioSocket::new(NETLINK_NETFILTER)?;
    {
        let s = socket.socket_mut();
        s.bind_auto()?;
        cordon_detect::nflog::size_receive_buffer(s, RECEIVE_BUFFER);
        s.add_membership(NFNLGRP_NFTABLES)?;
    }
    Ok(TableEvents {
        socket,
        table: table.to_owned(),
        buf: Vec::with_capacity(DATAGRAM_MAX),
    })
}

impl TableEvents {
    /// Waits for a change of our table, then for the burst it belongs to
    /// to settle (see [`SETTLE`], [`BURST_MAX`]). An error other than
    /// ENOBUFS is the socket's end: the caller stops listening.
    pub async fn next(&mut self) -> io::Result<Notice> {
        loop {
            match self.receive().await? {
                Some(Notice::Changed) => break,
                Some(Notice::Overflowed) => return Ok(Notice::Overflowed),
                None => {}
            }
        }
        let deadline = tokio::time::Instant::now() + BURST_MAX;
        loop {
            let settle = (tokio::time::Instant::now() + SETTLE).min(deadline);
            match tokio::time::timeout_at(settle, self.receive()).await {
                Err(_elapsed) => return Ok(Notice::Changed),
                Ok(Ok(Some(Notice::Overflowed))) => return Ok(Notice::Overflowed),
                Ok(Ok(_)) if tokio::time::Instant::now() >= deadline => {
                    return Ok(Notice::Changed);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    /// One datagram: `Some` when it concerns our table's shape.
    async fn receive(&mut self) -> io::Result<Option<Notice>> {
        self.buf.clear();
        match self.socket.recv(&mut self.buf).await {
            Ok(_) => Ok(concerns(&self.buf, &self.table).then_some(Notice::Changed)),
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => Ok(Some(Notice::Overflowed)),
            Err(e) => Err(e),
        }
    }
}

/// Whether a datagram of nftables notifications holds a change to the
/// shape of table `inet table`. Element and generation messages are
/// skipped by their type alone; a malformed message ends the walk (the
/// kernel does not send them; a truncated one is compared anyway).
pub(crate) fn concerns(datagram: &[u8], table: &str) -> bool {
    let mut rest = datagram;
    while !rest.is_empty() {
        let Ok(msg) = NetlinkBuffer::new_checked(rest) else {
            return true;
        };
        let len = usize::try_from(msg.length()).unwrap_or(usize::MAX);
        let ty = msg.message_type();
        if ty >> 8 == NFNL_SUBSYS_NFTABLES
            && !NOT_SHAPE.contains(&(ty & 0xff))
            && names_table(msg.payload(), table)
        {
            return true;
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    false
}

#[cfg(test)]
mod tests;
