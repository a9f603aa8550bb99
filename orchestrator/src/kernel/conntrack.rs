//! Deleting a host's conntrack entries over netlink (ctnetlink).
//!
//! Why this shape: `netlink-packet-netfilter` (MIT, the same rust-netlink
//! stack as `rtnetlink`) has carried conntrack messages since 0.4, so we build
//! the dump and delete messages with its types and send them on a blocking
//! `netlink-sys` socket — no shell-out to `conntrack -D`, no GPL library.
//! The kernel has no "delete every entry of this prefix" request, so we dump
//! the family's table, pick the entries whose original or reply tuple names an
//! address inside the quarantine unit (the reply side catches NAT), and delete
//! each by its original tuple. This runs on quarantine and release only, from
//! a blocking thread, never per packet.

use std::io;

use ipnet::IpNet;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_netfilter::conntrack::{ConntrackAttribute, ConntrackMessage, IPTuple, Tuple};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

/// Deletes every conntrack entry to or from an address inside `net`;
/// returns how many were deleted.
pub fn flush(net: IpNet) -> io::Result<usize> {
    let family = match net {
        IpNet::V4(_) => NetfilterProtoFamily::IPv4,
        IpNet::V6(_) => NetfilterProtoFamily::IPv6,
    };
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut seq = 1;
    send(
        &socket,
        family,
        ConntrackMessage::Get(Vec::new()),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )?;
    let mut doomed: Vec<Vec<Tuple>> = Vec::new();
    receive(&socket, |msg| {
        if let NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)) = msg.inner {
            let touches = attrs.iter().any(|a| match a {
                ConntrackAttribute::CtaTupleOrig(t) | ConntrackAttribute::CtaTupleReply(t) => {
                    addresses(t).any(|ip| net.contains(&ip))
                }
                _ => false,
            });
            if touches
                && let Some(orig) = attrs.into_iter().find_map(|a| match a {
                    ConntrackAttribute::CtaTupleOrig(t) => Some(t),
                    _ => None,
                })
            {
                doomed.push(orig);
            }
        }
    })?;
    let mut deleted = 0;
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
    Ok(deleted)
}

fn libc_enoent() -> i32 {
    nix::errno::Errno::ENOENT as i32
}

fn addresses(tuple: &[Tuple]) -> impl Iterator<Item = std::net::IpAddr> + '_ {
    tuple.iter().flat_map(|t| match t {
        Tuple::Ip(ips) => ips
            .iter()
            .filter_map(|ip| match ip {
                IPTuple::SourceAddress(a) | IPTuple::DestinationAddress(a) => Some(*a),
                _ => None,
            })
            .collect::<Vec<_>>(),
        _ => Vec::new(),
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

/// Reads answers until the dump's end or the request's acknowledgement,
/// handing each conntrack message to `each`.
fn receive(socket: &Socket, mut each: impl FnMut(NetfilterMessage)) -> io::Result<()> {
    loop {
        let (buf, _) = socket.recv_from_full()?;
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
