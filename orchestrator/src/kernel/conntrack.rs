//! Deleting quarantined hosts' conntrack entries over netlink (ctnetlink).
//!
//! Why this shape: `netlink-packet-netfilter` (MIT, the same rust-netlink
//! stack as `rtnetlink`) has carried conntrack messages since 0.4, so we build
//! the dump and delete messages with its types and send them on a blocking
//! `netlink-sys` socket — no shell-out to `conntrack -D`, no GPL library.
//! The kernel has no "delete every entry of this prefix" request, so we dump
//! the family's table, pick the entries whose original or reply tuple names an
//! address inside one of the quarantine units (the reply side catches NAT),
//! and delete each by its original tuple. A dump walks every bucket of the
//! machine's table whatever the namespace (some 10 ms at 262 144 buckets),
//! so it is done once per address family for a whole batch of quarantines
//! and releases, not once per host: the units are indexed so that each dumped
//! entry costs a few binary searches however many hosts the batch holds. This
//! runs on quarantine and release only, from a blocking thread, never per
//! packet.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

/// Deletes every conntrack entry to or from an address inside one of
/// `nets`, except those translated to the local port `spare` (the portal's
/// captive listener, `portal.captive_port`); returns how many were deleted.
///
/// The captive listener's connections are a quarantined host's own
/// connections to the portal. Its self-release is asked on one, and cordond
/// answers only after this flush: deleting the entry would send the answer
/// out untranslated (from the captive port, which the host never asked),
/// so the host would lose it and see its press fail. Kept, they end as
/// every connection ends; the portal no longer takes the kernel's word on
/// one older than a second.
pub fn flush(nets: &[IpNet], spare: Option<u16>) -> io::Result<usize> {
    let units = Units::new(nets, spare);
    let families = [
        (NetfilterProtoFamily::IPv4, !units.v4.is_empty()),
        (NetfilterProtoFamily::IPv6, !units.v6.is_empty()),
    ];
    if families.iter().all(|(_, wanted)| !wanted) {
        return Ok(0);
    }
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut seq = 0;
    let mut deleted = 0;
    for (family, _) in families.into_iter().filter(|(_, wanted)| *wanted) {
        seq += 1;
        send(
            &socket,
            family,
            ConntrackMessage::Get(Vec::new()),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
        )?;
        // Collected first: deleting while the dump is still being read would
        // interleave the acknowledgements with the dump's messages.
        let mut doomed: Vec<Vec<Tuple>> = Vec::new();
        receive(&socket, |msg| {
            if let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = msg.inner
                && let Some(orig) = units.doomed(attrs)
            {
                doomed.push(orig);
            }
        })?;
        for tuple in doomed {
            seq += 1;
            let del = ConntrackMessage::Delete(vec![ConntrackAttribute::CtaTupleOrig(tuple)]);
            send(&socket, family, del, NLM_F_REQUEST | NLM_F_ACK, seq)?;
            match receive(&socket, |_| {}) {
                Ok(()) => deleted += 1,
                // Gone meanwhile (the connection closed): nothing to do.
                Err(e) if e.raw_os_error() == Some(libc_enoent()) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// The quarantine units of one flush, grouped by prefix length, each group's
/// network addresses sorted. An address is looked up with one binary search
/// per length present: one or two in practice (/32 and the IPv6 quarantine
/// prefix, plus any operator ranges), so a dump of the whole table costs the
/// same for one host as for thousands.
#[derive(Debug, Default)]
struct Units {
    v4: Vec<(u8, Vec<u32>)>,
    v6: Vec<(u8, Vec<u128>)>,
    /// Entries translated to this local port are kept (see [`flush`]).
    spare: Option<u16>,
}

impl Units {
    fn new(nets: &[IpNet], spare: Option<u16>) -> Self {
        let mut v4: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
        let mut v6: BTreeMap<u8, Vec<u128>> = BTreeMap::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4
                    .entry(n.prefix_len())
                    .or_default()
                    .push(u32::from(n.network())),
                IpNet::V6(n) => v6
                    .entry(n.prefix_len())
                    .or_default()
                    .push(u128::from(n.network())),
            }
        }
        Units {
            v4: sorted(v4),
            v6: sorted(v6),
            spare,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|(len, networks)| {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                    networks.binary_search(&(a & mask)).is_ok()
                })
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|(len, networks)| {
                    let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
                    networks.binary_search(&(a & mask)).is_ok()
                })
            }
        }
    }

    /// The original tuple of a dumped entry, if a unit is party to it on
    /// either side: a connection translated towards a subscriber (DNAT)
    /// names it only in the reply tuple, and the kernel deletes by the
    /// original one.
    fn doomed(&self, attrs: Vec<ConntrackAttribute>) -> Option<Vec<Tuple>> {
        let touches = attrs.iter().any(|a| match a {
            ConntrackAttribute::CtaTupleOrig(t) | ConntrackAttribute::CtaTupleReply(t) => {
                addresses(t).any(|ip| self.contains(ip))
            }
            _ => false,
        });
        if !touches || self.spared(&attrs) {
            return None;
        }
        attrs.into_iter().find_map(|a| match a {
            ConntrackAttribute::CtaTupleOrig(t) => Some(t),
            _ => None,
        })
    }
}

impl Units {
    /// An entry the kernel translated to the spared port: its reply comes
    /// from that port, which its original destination was not.
    fn spared(&self, attrs: &[ConntrackAttribute]) -> bool {
        let Some(spare) = self.spare else {
            return false;
        };
        let (mut asked, mut answers) = (None, None);
        for a in attrs {
            match a {
                ConntrackAttribute::CtaTupleOrig(t) => asked = port(t, false),
                ConntrackAttribute::CtaTupleReply(t) => answers = port(t, true),
                _ => {}
            }
        }
        answers == Some(spare) && asked.is_some_and(|p| p != spare)
    }
}

/// The tuple's source or destination port.
fn port(tuple: &[Tuple], source: bool) -> Option<u16> {
    tuple
        .iter()
        .filter_map(|t| match t {
            Tuple::Proto(ps) => Some(ps),
            _ => None,
        })
        .flatten()
        .find_map(|p| match (p, source) {
            (ProtoTuple::SourcePort(n), true) | (ProtoTuple::DestinationPort(n), false) => Some(*n),
            _ => None,
        })
}

/// Each length's networks sorted and deduplicated, for binary search.
fn sorted<T: Ord>(by_len: BTreeMap<u8, Vec<T>>) -> Vec<(u8, Vec<T>)> {
    by_len
        .into_iter()
        .map(|(len, mut networks)| {
            networks.sort_unstable();
            networks.dedup();
            (len, networks)
        })
        .collect()
}

fn libc_enoent() -> i32 {
    nix::errno::Errno::ENOENT as i32
}

fn addresses(tuple: &[Tuple]) -> impl Iterator<Item = IpAddr> + '_ {
    tuple
        .iter()
        .filter_map(|t| match t {
            Tuple::Ip(ips) => Some(ips),
            _ => None,
        })
        .flatten()
        .filter_map(|ip| match ip {
            IPTuple::SourceAddress(a) | IPTuple::DestinationAddress(a) => Some(*a),
            _ => None,
        })
}

fn send(
    socket: &Socket,
    family: NetfilterProtoFamily,
    msg: ConntrackMessage,
    flags: u16,
    seq: u32,
) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut nl = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(NetfilterMessage::new(
            NetfilterHeader::new(family, 0, 0),
            msg,
        )),
    );
    nl.finalize();
    let mut buf = vec![0; nl.buffer_len()];
    nl.serialize(&mut buf);
    socket.send(&buf, 0)?;
    Ok(())
}

/// Room for one datagram. The kernel sizes a dump's datagrams by the
/// largest buffer its reader has offered (up to 32 KiB); offered only what
/// the last datagram held, as `recv_from_full` does, it keeps to about
/// 4 KiB, and every datagram is a walk resumed under the table's locks.
/// (Measured: this did not change the detection benchmark's p99, which a
/// dump of the whole table beside the crossings still sets; see
/// BENCHMARKS.md.)
const DATAGRAM_ROOM: usize = 64 * 1024;

/// Reads answers until the dump's end or the request's acknowledgement,
/// handing each conntrack message to `each`.
fn receive(socket: &Socket, mut each: impl FnMut(NetfilterMessage)) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(DATAGRAM_ROOM);
    loop {
        buf.clear();
        let len = socket.recv(&mut buf, nix::libc::MSG_TRUNC)?;
        if len > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a datagram of {len} bytes, more than the {DATAGRAM_ROOM} bytes read"),
            ));
        }
        let buf = &buf[..len];
        let mut offset = 0;
        while offset < buf.len() {
            let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&buf[offset..])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = usize::try_from(msg.header.length).unwrap_or(buf.len());
            if len == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "empty netlink message",
                ));
            }
            offset += (len + 3) & !3;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(()),
                        Some(_) => Err(e.to_io()),
                    };
                }
                NetlinkPayload::InnerMessage(m) => each(m),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tuple(src: &str, dst: &str) -> Vec<Tuple> {
        vec![Tuple::Ip(vec![
            IPTuple::SourceAddress(src.parse().unwrap()),
            IPTuple::DestinationAddress(dst.parse().unwrap()),
        ])]
    }

    /// A dumped entry: the original tuple and the reply tuple.
    fn entry(orig: (&str, &str), reply: (&str, &str)) -> Vec<ConntrackAttribute> {
        vec![
            ConntrackAttribute::CtaTupleOrig(tuple(orig.0, orig.1)),
            ConntrackAttribute::CtaTupleReply(tuple(reply.0, reply.1)),
            ConntrackAttribute::CtaMark(0),
        ]
    }

    fn units(nets: &[&str]) -> Units {
        let nets: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
        Units::new(&nets, None)
    }

    #[test]
    fn every_unit_of_the_batch_is_matched_in_both_families() {
        let u = units(&[
            "100.64.1.7/32",
            "100.64.9.1/32",
            "100.64.3.0/24",
            "2001:db8:1:2::/64",
            "2001:db8:7::/48",
            // The same unit twice in one batch (quarantined, then released).
            "100.64.1.7/32",
        ]);
        for yes in [
            "100.64.1.7",
            "100.64.9.1",
            "100.64.3.0",
            "100.64.3.255",
            "2001:db8:1:2::5",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:db8:7:ab::1",
        ] {
            assert!(u.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in [
            "100.64.1.6",
            "100.64.1.8",
            "100.64.9.0",
            "100.64.4.0",
            "2001:db8:1:3::5",
            "2001:db8:8::1",
            // The families do not mix.
            "::ffff:100.64.1.7",
        ] {
            assert!(!u.contains(no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn many_hosts_are_each_found() {
        let nets: Vec<IpNet> = (0..5000u32)
            .map(|i| IpNet::from(IpAddr::from(std::net::Ipv4Addr::from(0x6440_0100 + 2 * i))))
            .collect();
        let u = Units::new(&nets, None);
        assert_eq!(u.v4.len(), 1);
        for i in 0..5000u32 {
            let ip = |n: u32| IpAddr::from(std::net::Ipv4Addr::from(n));
            assert!(u.contains(ip(0x6440_0100 + 2 * i)));
            assert!(!u.contains(ip(0x6440_0100 + 2 * i + 1)));
        }
    }

    #[test]
    fn an_entry_is_doomed_by_either_tuple() {
        let u = units(&["100.64.1.7/32", "2001:db8:1:2::/64"]);
        // The subscriber opened it: original source.
        let out = entry(
            ("100.64.1.7", "198.51.100.80"),
            ("198.51.100.80", "100.64.1.7"),
        );
        assert_eq!(u.doomed(out), Some(tuple("100.64.1.7", "198.51.100.80")));
        // Translated (here a connection from outside forwarded to the
        // subscriber by DNAT): only the reply tuple names the subscriber, and
        // the entry is still deleted by its original tuple.
        let nat = entry(("203.0.113.9", "192.0.2.1"), ("100.64.1.7", "203.0.113.9"));
        assert_eq!(u.doomed(nat), Some(tuple("203.0.113.9", "192.0.2.1")));
        let v6 = entry(
            ("2001:db8:1:2::5", "2001:db8:ff::80"),
            ("2001:db8:ff::80", "2001:db8:1:2::5"),
        );
        assert_eq!(
            u.doomed(v6),
            Some(tuple("2001:db8:1:2::5", "2001:db8:ff::80"))
        );
        // Someone else's flow stays.
        let other = entry(
            ("100.64.1.8", "198.51.100.80"),
            ("198.51.100.80", "100.64.1.8"),
        );
        assert_eq!(u.doomed(other), None);
        // Nothing to delete by: no original tuple.
        let odd = vec![ConntrackAttribute::CtaTupleReply(tuple(
            "198.51.100.80",
            "100.64.1.7",
        ))];
        assert_eq!(u.doomed(odd), None);
    }

    /// A TCP tuple: addresses and ports.
    fn tcp(src: (&str, u16), dst: (&str, u16)) -> Vec<Tuple> {
        let mut t = tuple(src.0, dst.0);
        t.push(Tuple::Proto(vec![
            ProtoTuple::SourcePort(src.1),
            ProtoTuple::DestinationPort(dst.1),
        ]));
        t
    }

    /// The host's own connection to the portal, translated to the captive
    /// port, is kept; its `http://` elsewhere, translated to the redirect
    /// port, and a connection made to the captive port as such are not.
    #[test]
    fn connections_translated_to_the_captive_port_are_kept() {
        let host: IpNet = "100.64.1.7/32".parse().unwrap();
        let u = Units::new(&[host], Some(8083));
        let attrs = |orig: Vec<Tuple>, reply: Vec<Tuple>| {
            vec![
                ConntrackAttribute::CtaTupleOrig(orig),
                ConntrackAttribute::CtaTupleReply(reply),
            ]
        };
        let captive = attrs(
            tcp(("100.64.1.7", 40000), ("100.64.0.1", 8080)),
            tcp(("100.64.1.254", 8083), ("100.64.1.7", 40000)),
        );
        assert_eq!(u.doomed(captive.clone()), None);
        let redirected = attrs(
            tcp(("100.64.1.7", 40001), ("198.51.100.80", 80)),
            tcp(("100.64.1.254", 8081), ("100.64.1.7", 40001)),
        );
        assert!(u.doomed(redirected).is_some());
        let direct = attrs(
            tcp(("100.64.1.7", 40002), ("100.64.1.254", 8083)),
            tcp(("100.64.1.254", 8083), ("100.64.1.7", 40002)),
        );
        assert!(u.doomed(direct).is_some());
        // Without a spared port every entry of the host goes.
        assert!(Units::new(&[host], None).doomed(captive).is_some());
    }

    #[test]
    fn an_empty_batch_asks_the_kernel_nothing() {
        // No socket is opened, so this passes without CAP_NET_ADMIN.
        assert_eq!(flush(&[], Some(8083)).unwrap(), 0);
    }
}
