//! The lab's DNS resolver at 192.0.2.53 (UDP and TCP 53): every name's A is
//! the web server 192.0.2.80 and its AAAA 2001:db8:0:1::80, so any URL a
//! test opens lands on the real site. Names under `.invalid`, and reversed
//! address look-ups as DNS block lists use (four numeric labels first), are
//! NXDOMAIN: nothing is "listed" unless a test brings its own list.
//!
//! Messages are read and written with `simple-dns`; this module also holds
//! the small client tests use to ask it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use simple_dns::rdata::{A, AAAA, RData};
use simple_dns::{
    CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, ResourceRecord, TYPE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::Shared;
use crate::addresses::{WEB_V4, WEB_V6};
use crate::error::LabError;

const TTL: u32 = 60;

/// The record types the lab asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
}

/// What a DNS query came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsOutcome {
    /// The resolver answered.
    Answer {
        /// True for NXDOMAIN.
        nxdomain: bool,
        /// Addresses in the answer section.
        addresses: Vec<IpAddr>,
    },
    /// No answer within the timeout (dropped on the way).
    TimedOut,
}

impl DnsOutcome {
    /// True when the resolver answered at all.
    pub fn answered(&self) -> bool {
        matches!(self, DnsOutcome::Answer { .. })
    }

    /// The addresses answered (empty for NXDOMAIN or a timeout).
    pub fn addresses(&self) -> &[IpAddr] {
        match self {
            DnsOutcome::Answer { addresses, .. } => addresses,
            DnsOutcome::TimedOut => &[],
        }
    }
}

/// The responder's answer to one query message; `None` for what is not a
/// query at all (nothing is sent back).
pub(crate) fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    if q.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let mut reply = Packet::new_reply(q.id());
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE);
    if q.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    for question in &q.questions {
        let name = question.qname.to_string().to_ascii_lowercase();
        if nonexistent(&name) {
            *reply.rcode_mut() = RCODE::NameError;
        } else {
            let rdata = match question.qtype {
                QTYPE::TYPE(TYPE::A) | QTYPE::ANY => Some(RData::A(A::from(WEB_V4))),
                QTYPE::TYPE(TYPE::AAAA) => Some(RData::AAAA(AAAA::from(WEB_V6))),
                _ => None,
            };
            if let Some(rdata) = rdata {
                reply.answers.push(ResourceRecord::new(
                    question.qname.clone(),
                    CLASS::IN,
                    TTL,
                    rdata,
                ));
            }
        }
        reply.questions.push(question.clone());
    }
    reply.build_bytes_vec().ok()
}

fn nonexistent(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    let labels: Vec<&str> = name.split('.').collect();
    name.ends_with(".invalid")
        || name == "invalid"
        || (labels.len() > 4 && labels[..4].iter().all(|l| l.parse::<u8>().is_ok()))
}

/// Answers UDP queries until the socket fails.
pub(crate) async fn serve_udp(socket: UdpSocket, stats: Shared) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            return;
        };
        if let Some(reply) = answer(&buf[..n]) {
            count(&stats, peer);
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// Answers queries on one TCP connection (length-prefixed, RFC 1035 4.2.2).
pub(crate) async fn serve_tcp(mut stream: TcpStream, peer: SocketAddr, stats: Shared) {
    loop {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len)).await;
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut msg).await.is_err() {
            return;
        }
        let Some(reply) = answer(&msg) else { return };
        count(&stats, peer);
        let Ok(rlen) = u16::try_from(reply.len()) else {
            return;
        };
        if stream.write_all(&rlen.to_be_bytes()).await.is_err()
            || stream.write_all(&reply).await.is_err()
        {
            return;
        }
    }
}

fn count(stats: &Shared, peer: SocketAddr) {
    let mut s = stats.lock();
    s.dns.queries += 1;
    *s.dns.by_source.entry(peer.ip().to_canonical()).or_default() += 1;
}

/// A query message for `name`.
pub(crate) fn query(id: u16, name: &str, rtype: RecordType) -> Result<Vec<u8>, LabError> {
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let qname = Name::new(name).map_err(|e| LabError::Dns(format!("bad name `{name}`: {e}")))?;
    let qtype = match rtype {
        RecordType::A => TYPE::A,
        RecordType::Aaaa => TYPE::AAAA,
    };
    p.questions.push(Question::new(
        qname,
        QTYPE::TYPE(qtype),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.build_bytes_vec()
        .map_err(|e| LabError::Dns(format!("building a query: {e}")))
}

/// Reads a reply to query `id`.
pub(crate) fn read_reply(id: u16, msg: &[u8]) -> Result<DnsOutcome, LabError> {
    let p = Packet::parse(msg).map_err(|e| LabError::Dns(format!("unreadable reply: {e}")))?;
    if p.id() != id {
        return Err(LabError::Dns(format!("reply id {} for query {id}", p.id())));
    }
    let addresses = p
        .answers
        .iter()
        .filter_map(|rr| match &rr.rdata {
            RData::A(a) => Some(IpAddr::V4(a.clone().into())),
            RData::AAAA(a) => Some(IpAddr::V6(a.clone().into())),
            _ => None,
        })
        .collect();
    Ok(DnsOutcome::Answer {
        nxdomain: p.rcode() == RCODE::NameError,
        addresses,
    })
}

/// Asks `server` over UDP, from whatever namespace the calling thread is in.
pub fn ask(
    server: IpAddr,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<DnsOutcome, LabError> {
    let id = u16::try_from(std::process::id() & 0xffff).unwrap_or(1) ^ 0x5a5a;
    let msg = query(id, name, rtype)?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket =
        std::net::UdpSocket::bind(bind).map_err(LabError::io("binding a UDP socket for DNS"))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(LabError::io("setting the DNS timeout"))?;
    if let Err(e) = socket.send_to(&msg, (server, 53)) {
        // An unreachable resolver (no route, ICMP prohibited) is not an answer.
        return match e.kind() {
            std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => {
                Ok(DnsOutcome::TimedOut)
            }
            _ => Err(LabError::io(format!("sending a DNS query to {server}"))(e)),
        };
    }
    let mut buf = [0u8; 4096];
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from.ip().to_canonical() == server => {
                return read_reply(id, &buf[..n]);
            }
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(DnsOutcome::TimedOut);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Ok(DnsOutcome::TimedOut);
            }
            Err(e) => {
                return Err(LabError::io(format!("reading a DNS reply from {server}"))(
                    e,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_points_at_the_web_server() {
        let q = query(7, "www.example.com", RecordType::A).unwrap();
        let r = read_reply(7, &answer(&q).unwrap()).unwrap();
        assert_eq!(
            r,
            DnsOutcome::Answer {
                nxdomain: false,
                addresses: vec![IpAddr::V4(WEB_V4)]
            }
        );
        let q = query(8, "www.example.com", RecordType::Aaaa).unwrap();
        let r = read_reply(8, &answer(&q).unwrap()).unwrap();
        assert_eq!(r.addresses(), [IpAddr::V6(WEB_V6)]);
    }

    #[test]
    fn invalid_names_and_block_list_lookups_do_not_exist() {
        for name in ["nothing.invalid", "2.1.64.100.xbl.dnsbl.example.org"] {
            let q = query(9, name, RecordType::A).unwrap();
            let r = read_reply(9, &answer(&q).unwrap()).unwrap();
            assert_eq!(
                r,
                DnsOutcome::Answer {
                    nxdomain: true,
                    addresses: vec![]
                },
                "{name}"
            );
        }
    }

    #[test]
    fn replies_are_not_answered() {
        let q = query(1, "a.example", RecordType::A).unwrap();
        let reply = answer(&q).unwrap();
        assert!(answer(&reply).is_none());
        assert!(answer(b"garbage").is_none());
    }
}
