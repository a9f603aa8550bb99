//! nf_tables over netlink, spoken by hand: the definition dumps of
//! [`crate::dump`] and the set-element changes, lookups and dumps of
//! [`elements`] (the kernel's answers read in [`found`]).
//!
//! Why by hand: no maintained MIT/Apache crate covers nf_tables (the
//! pure-Rust one, `rustables`, is GPL; the others wrap the GPL `libnftnl`),
//! and `netlink-packet-netfilter` knows conntrack and NFLOG but not the
//! nf_tables subsystem. What Cordon needs is small: a few message types
//! whose attributes are fixed by `linux/netfilter/nf_tables.h`, written on
//! `netlink-sys`'s socket. The encoding ([`message`]) is pure and tested
//! byte for byte against what `nft` sends for the same change; the socket
//! side ([`elements`]) is tested against the kernel in a namespace.

use std::io;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

pub(crate) mod elements;
pub(crate) mod found;
pub(crate) mod message;
#[cfg(test)]
mod read_back;
#[cfg(test)]
mod tests;

/// The nf_tables subsystem of nfnetlink (`NFNL_SUBSYS_NFTABLES`).
pub(crate) const SUBSYS_NFTABLES: u16 = 10;
/// `NFPROTO_INET`: Cordon's table is an `inet` table.
pub(crate) const NFPROTO_INET: u8 = 1;
/// `struct nfgenmsg`: family, version, resource id.
pub(crate) const NFGENMSG_LEN: usize = 4;
/// `struct nlmsghdr`.
pub(crate) const NLMSG_HDR_LEN: usize = 16;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
/// An answer in several parts (a dump), ended by `NLMSG_DONE`.
pub(crate) const NLM_F_MULTI: u16 = 0x2;
pub(crate) const NLM_F_ACK: u16 = 0x4;
/// The kernel's mark on a dump that the ruleset changed under.
pub(crate) const NLM_F_DUMP_INTR: u16 = 0x10;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
/// On an error message: extended-ack attributes follow.
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
/// The attribute type without the nested and byte-order bits.
pub(crate) const NLA_TYPE_MASK: u16 = 0x3fff;

/// A netlink socket for netfilter, opened in `netns` when one is named: a
/// thread of ours enters the namespace only to open it (a socket stays in
/// the namespace it was made in).
pub(crate) fn open(netns: Option<&str>) -> io::Result<Socket> {
    let make = || -> io::Result<Socket> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(socket)
    };
    let Some(name) = netns else {
        return make();
    };
    let path = format!("/run/netns/{name}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(&path)?;
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            make()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the thread opening the socket panicked")))
    })
}
