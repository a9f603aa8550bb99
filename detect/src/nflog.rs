//! The kernel's threshold crossings, read from one NFLOG group.
//!
//! # Why NFLOG
//!
//! Cordon counts SMTP attempts and destinations in the kernel (nftables
//! meters and dynamic sets). Userspace has to learn *at once* when a host
//! crosses a threshold, and must never wake up for ordinary traffic. The
//! candidates were:
//!
//! - **Polling the sets** (`nft list set`): the cost grows with the number of
//!   subscribers, not with the number of events, and listing a set of a
//!   BNG's hundreds of thousands of hosts takes seconds. The latency is the
//!   polling period. Rejected.
//! - **Conntrack events** (`NFNLGRP_CONNTRACK_NEW`): one wake-up per *new
//!   connection* of every subscriber, the threshold logic moved back into
//!   userspace. That is per-packet work at BNG scale. Rejected.
//! - **NFLOG** (`log group G` in the rule that notices the crossing): the
//!   kernel sends exactly one message when a host crosses a threshold (the
//!   rule adds the host to `alerted_v4/v6`, which suppresses repeats for the
//!   set's timeout). Userspace wakes once per *event*. Chosen.
//!
//! NFLOG batches by default (up to a second, or until a page fills). Cordon
//! sets the group's queue threshold to 1 (and the rule carries
//! `queue-threshold 1` too) so each crossing is sent at once, and a small
//! flush timeout as a backstop. The socket's receive buffer is sized
//! generously (`SO_RCVBUFFORCE`, which CAP_NET_ADMIN allows past
//! `rmem_max`): a burst of crossings must not be dropped. If it still
//! overflows, the kernel reports `ENOBUFS`; events were lost, so the
//! subscriber yields [`NflogEvent::Resync`] and the caller re-reads the
//! kernel's state (the `alerted` sets) instead of trusting the stream.
//!
//! The packet copy is limited to the first bytes (`copy_range`, 80 like the
//! rule's `snaplen`): only the IP header's source address is needed.
//!
//! The same group carries one more kind of event when DNS block lists are
//! configured: a sender's first SMTP attempt within the DNSBL interval
//! ([`NflogEvent::Sender`], prefix [`PREFIX_SMTP_SENDER`]), so block lists
//! are asked about senders as they appear rather than by listing them.
//!
//! The source address is the packet's, as sent. For IPv6 the caller widens
//! it to the subscriber's prefix (`Config::subscriber_of`), which also
//! refuses never-quarantine and non-subscriber addresses.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    ConfigCmd, ConfigMode, ConfigNla, PacketNla, Timeout, ULogMessage, config_request,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_proto::ConnectionHandle;
use netlink_proto::sys::{AsyncSocket, SocketAddr, protocols::NETLINK_NETFILTER};
use tokio::task::JoinHandle;

use crate::error::DetectError;

/// The log prefix the ruleset gives a sender's first SMTP attempt within the
/// DNSBL interval (only when block lists are configured).
pub const PREFIX_SMTP_SENDER: &str = "cordon smtp_sender ";

pub use cordon_policy::signal::{PREFIX_SMTP_ATTEMPTS, PREFIX_SMTP_DESTINATIONS, SignalKind};

/// A host crossed a kernel-counted threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crossing {
    /// Which threshold.
    pub signal: SignalKind,
    /// The packet's source address (not yet widened to a subscriber unit).
    pub source: IpAddr,
    /// When userspace received it (with queue threshold 1 this is within
    /// a millisecond of the packet).
    pub observed_at: SystemTime,
}

/// What the subscriber yields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NflogEvent {
    /// A host crossed a threshold.
    Crossing(Crossing),
    /// A host made its first SMTP attempt within the DNSBL interval: the
    /// block lists are to be asked about it. Its packet's source address.
    Sender(IpAddr),
    /// The socket overflowed (`ENOBUFS`): some crossings were lost. Re-read
    /// the kernel's state (the `alerted` sets) to find them.
    Resync,
}

/// How to open the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NflogConfig {
    /// The NFLOG group (`detection.nflog_group`).
    pub group: u16,
    /// Bytes of each packet copied to userspace. 80 covers an IPv6 header
    /// (40) plus TCP's ports; only the source address is read.
    pub copy_range: u16,
    /// The kernel's flush timeout, a backstop behind queue threshold 1
    /// (NFLOG's unit is 10 ms; 0 means the kernel's default of one second).
    pub flush_timeout: Duration,
    /// Receive buffer in bytes. 4 MiB holds thousands of crossings, which
    /// at one message per host per 10 s is a very large burst.
    pub receive_buffer: usize,
}

impl NflogConfig {
    /// The defaults for `group`.
    pub fn new(group: u16) -> Self {
        NflogConfig {
            group,
            copy_range: 80,
            flush_timeout: Duration::from_millis(10),
            receive_buffer: 4 << 20,
        }
    }
}

/// An open NFLOG group. Dropping it closes the socket, which releases the
/// group in the kernel.
#[derive(Debug)]
pub struct NflogSubscriber {
    group: u16,
    messages: UnboundedReceiver<(NetlinkMessage<NetfilterMessage>, SocketAddr)>,
    // Kept so the connection keeps running; requests are only sent at open.
    _handle: ConnectionHandle<NetfilterMessage>,
    task: JoinHandle<()>,
}

impl NflogSubscriber {
    /// Opens the socket in the calling thread's network namespace, binds
    /// `config.group`, and configures it (copy mode, queue threshold 1,
    /// flush timeout). Must be called inside a tokio runtime.
    pub async fn open(config: NflogConfig) -> Result<Self, DetectError> {
        let sock_err = |what| move |source| DetectError::NflogSocket { what, source };
        let (mut conn, handle, messages) =
            netlink_proto::new_connection::<NetfilterMessage>(NETLINK_NETFILTER)
                .map_err(sock_err("socket"))?;
        {
            let socket = conn.socket_mut().socket_mut();
            size_receive_buffer(socket, config.receive_buffer);
            socket.bind_auto().map_err(sock_err("bind"))?;
        }
        // Acks are how the kernel says "configured"; without them a
        // request's response stream just ends, as it does when the
        // connection dies.
        conn.set_forward_ack(true);
        let task = tokio::spawn(conn);
        let group = config.group;

        // PF_BIND/PF_UNBIND are not sent: they are no-ops since Linux 3.17,
        // and nftables needs far newer kernels anyway.
        let steps: [(&'static str, Vec<ConfigNla>); 3] = [
            ("bind", vec![ConfigCmd::Bind.into()]),
            (
                "copy mode",
                vec![ConfigMode::new_packet(u32::from(config.copy_range)).into()],
            ),
            (
                "queue threshold and flush timeout",
                vec![
                    ConfigNla::QThresh(1),
                    Timeout::from(config.flush_timeout).into(),
                ],
            ),
        ];
        for (what, nlas) in steps {
            let request = config_request(NetfilterProtoFamily::Unspec, group, nlas);
            let mut responses = handle
                .request(request, SocketAddr::new(0, 0))
                .map_err(|_| DetectError::NflogClosed { group })?;
            let mut acked = false;
            while let Some(msg) = responses.next().await {
                if let NetlinkPayload::Error(e) = msg.payload {
                    if e.code.is_some() {
                        task.abort();
                        return Err(DetectError::NflogBind {
                            group,
                            what,
                            source: e.to_io(),
                        });
                    }
                    acked = true;
                }
            }
            if !acked {
                task.abort();
                return Err(DetectError::NflogClosed { group });
            }
        }
        tracing::info!(group, "listening for threshold crossings on NFLOG");
        Ok(NflogSubscriber {
            group,
            messages,
            _handle: handle,
            task,
        })
    }

    /// The next event. `None` when the socket is gone (the connection
    /// task ended); the caller should reopen it and resynchronise.
    pub async fn next(&mut self) -> Option<NflogEvent> {
        while let Some((msg, _from)) = self.messages.next().await {
            match event_from_message(&msg, SystemTime::now()) {
                Ok(NflogEvent::Resync) => {
                    tracing::warn!(
                        group = self.group,
                        "NFLOG socket overflowed (ENOBUFS): crossings were lost; resynchronising from the kernel's sets"
                    );
                    return Some(NflogEvent::Resync);
                }
                Ok(event) => {
                    tracing::debug!(?event, "NFLOG event");
                    return Some(event);
                }
                Err(Skip::NotPacket) => {
                    tracing::trace!(payload = ?msg.payload, "ignoring netlink message");
                }
                Err(skip) => {
                    tracing::debug!(group = self.group, %skip, "ignoring NFLOG packet");
                }
            }
        }
        tracing::warn!(group = self.group, "NFLOG connection closed");
        None
    }
}

impl Drop for NflogSubscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asks for a large receive buffer: first with `SO_RCVBUFFORCE` (allowed
/// with CAP_NET_ADMIN, ignores `net.core.rmem_max`), then with `SO_RCVBUF`
/// (capped by `rmem_max`). Failure is logged, not fatal: a small buffer
/// only makes `Resync` likelier. Also sizes cordond's nftables monitor.
pub fn size_receive_buffer(socket: &netlink_sys::Socket, bytes: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    if let Err(forced) = setsockopt(socket, sockopt::RcvBufForce, &bytes) {
        if let Err(plain) = socket.set_rx_buf_sz(bytes) {
            tracing::warn!(%forced, %plain, bytes, "cannot size a netlink receive buffer");
        } else {
            tracing::info!(%forced, "SO_RCVBUFFORCE refused; receive buffer capped by net.core.rmem_max");
        }
    }
}

/// Why a packet message is not a crossing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Skip {
    /// No prefix, or one Cordon's ruleset does not use.
    #[error("log prefix {0:?} is not one of Cordon's")]
    Prefix(Option<String>),
    /// The payload is not an IPv4 or IPv6 header.
    #[error("payload is not an IP header ({0} bytes)")]
    Payload(usize),
    /// The netlink message is not an NFLOG packet (an ack, a config echo).
    #[error("not an NFLOG packet message")]
    NotPacket,
}

/// Reads one netlink message from the NFLOG group: a lost-events notice
/// ([`NflogEvent::Resync`]), an event, or why it is skipped. Pure: the
/// subscriber's loop logs and returns what this says, and the property
/// tests feed it whatever the netlink parser makes of arbitrary bytes.
pub fn event_from_message(
    msg: &NetlinkMessage<NetfilterMessage>,
    observed_at: SystemTime,
) -> Result<NflogEvent, Skip> {
    match &msg.payload {
        NetlinkPayload::Overrun(_) => Ok(NflogEvent::Resync),
        NetlinkPayload::InnerMessage(NetfilterMessage {
            inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
            ..
        }) => event_from_nlas(nlas, observed_at),
        _ => Err(Skip::NotPacket),
    }
}

/// Reads one NFLOG packet message into an event: a new sender, or a
/// crossing. Pure.
pub fn event_from_nlas(nlas: &[PacketNla], observed_at: SystemTime) -> Result<NflogEvent, Skip> {
    let mut prefix = None;
    let mut payload: &[u8] = &[];
    for nla in nlas {
        match nla {
            PacketNla::Prefix(p) => prefix = Some(p.to_string_lossy().into_owned()),
            PacketNla::Payload(p) => payload = p,
            _ => {}
        }
    }
    let sender = prefix.as_deref().map(str::trim) == Some(PREFIX_SMTP_SENDER.trim());
    let signal = prefix.as_deref().and_then(SignalKind::from_prefix);
    if !sender && signal.is_none() {
        return Err(Skip::Prefix(prefix));
    }
    let source = source_address(payload).ok_or(Skip::Payload(payload.len()))?;
    Ok(match signal {
        Some(signal) => NflogEvent::Crossing(Crossing {
            signal,
            source,
            observed_at,
        }),
        None => NflogEvent::Sender(source),
    })
}

/// The source address of an IP packet's header, which NFLOG hands over
/// starting at the network header. `etherparse` checks the header's
/// version and length; the rest of the packet may be cut off by the copy
/// range, which is why only the header is parsed.
pub fn source_address(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => etherparse::Ipv4HeaderSlice::from_slice(packet)
            .ok()
            .map(|h| IpAddr::V4(h.source_addr())),
        6 => etherparse::Ipv6HeaderSlice::from_slice(packet)
            .ok()
            .map(|h| IpAddr::V6(h.source_addr())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::ffi::CString;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn crossing(nlas: &[PacketNla]) -> Crossing {
        match event_from_nlas(nlas, SystemTime::UNIX_EPOCH) {
            Ok(NflogEvent::Crossing(c)) => c,
            other => panic!("not a crossing: {other:?}"),
        }
    }

    fn v4_packet(src: Ipv4Addr) -> Vec<u8> {
        let h = etherparse::Ipv4Header::new(
            20,
            64,
            etherparse::IpNumber::TCP,
            src.octets(),
            [192, 0, 2, 1],
        )
        .unwrap();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&[0u8; 20]);
        v
    }

    #[test]
    fn reads_ipv4_crossing() {
        let nlas = vec![
            PacketNla::Prefix(CString::new(PREFIX_SMTP_ATTEMPTS).unwrap()),
            PacketNla::Payload(v4_packet(Ipv4Addr::new(100, 64, 1, 7))),
        ];
        let c = crossing(&nlas);
        assert_eq!(c.signal, SignalKind::SmtpAttempts);
        assert_eq!(c.source, IpAddr::V4(Ipv4Addr::new(100, 64, 1, 7)));
    }

    #[test]
    fn reads_truncated_ipv6_crossing() {
        let h = etherparse::Ipv6Header {
            source: Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 5).octets(),
            destination: Ipv6Addr::LOCALHOST.octets(),
            next_header: etherparse::IpNumber::TCP,
            payload_length: 40,
            hop_limit: 64,
            ..Default::default()
        };
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&[0u8; 8]); // cut by the copy range
        let nlas = vec![
            PacketNla::Prefix(CString::new("cordon smtp_destinations").unwrap()),
            PacketNla::Payload(v),
        ];
        let c = crossing(&nlas);
        assert_eq!(c.signal, SignalKind::SmtpDestinations);
        assert_eq!(c.source, "2001:db8:1:2::5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_new_sender_is_its_own_event() {
        let src = Ipv4Addr::new(100, 64, 1, 2);
        let nlas = vec![
            PacketNla::Prefix(CString::new(PREFIX_SMTP_SENDER).unwrap()),
            PacketNla::Payload(v4_packet(src)),
        ];
        assert_eq!(
            event_from_nlas(&nlas, SystemTime::UNIX_EPOCH),
            Ok(NflogEvent::Sender(IpAddr::V4(src)))
        );
        let nlas = vec![
            PacketNla::Prefix(CString::new(PREFIX_SMTP_ATTEMPTS).unwrap()),
            PacketNla::Payload(v4_packet(src)),
        ];
        assert!(matches!(
            event_from_nlas(&nlas, SystemTime::UNIX_EPOCH),
            Ok(NflogEvent::Crossing(c)) if c.signal == SignalKind::SmtpAttempts
        ));
        let nlas = vec![PacketNla::Prefix(CString::new(PREFIX_SMTP_SENDER).unwrap())];
        assert_eq!(
            event_from_nlas(&nlas, SystemTime::UNIX_EPOCH),
            Err(Skip::Payload(0))
        );
    }

    #[test]
    fn skips_foreign_prefix_and_garbage() {
        let nlas = vec![
            PacketNla::Prefix(CString::new("someone else ").unwrap()),
            PacketNla::Payload(v4_packet(Ipv4Addr::LOCALHOST)),
        ];
        assert!(matches!(
            event_from_nlas(&nlas, SystemTime::UNIX_EPOCH),
            Err(Skip::Prefix(_))
        ));
        let nlas = vec![
            PacketNla::Prefix(CString::new(PREFIX_SMTP_ATTEMPTS).unwrap()),
            PacketNla::Payload(vec![0x45, 0, 0]),
        ];
        assert_eq!(
            event_from_nlas(&nlas, SystemTime::UNIX_EPOCH),
            Err(Skip::Payload(3))
        );
        assert_eq!(source_address(&[]), None);
        assert_eq!(source_address(&[0x20; 40]), None);
    }

    #[test]
    fn prefixes_round_trip() {
        for s in [SignalKind::SmtpAttempts, SignalKind::SmtpDestinations] {
            assert_eq!(SignalKind::from_prefix(s.prefix()), Some(s));
        }
    }
}
