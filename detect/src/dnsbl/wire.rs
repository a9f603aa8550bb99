//! The DNS messages of a block-list question: the reversed name, the A
//! query, and the reading of an answer as RFC 5782 says. Pure: no socket, no
//! clock; apart so that the fuzz tests and the checker share one reader.

use std::net::{IpAddr, Ipv4Addr};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

/// The name to ask: the address reversed (octets for IPv4, nibbles for
/// IPv6, RFC 5782) under the zone.
pub fn query_name(address: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len() + 1);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0xf, byte >> 4] {
                    name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    name.push('.');
                }
            }
            name.push_str(zone);
            name
        }
    }
}

/// What a block list said about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Listed, with the return codes (127.0.0.x).
    Listed(Vec<Ipv4Addr>),
    /// Not listed (NXDOMAIN, or no A record in 127.0.0.0/8).
    NotListed,
    /// The list answered with an error code (127.255.255.x), e.g. it
    /// refuses queries through this resolver. Not a listing.
    ListError(Vec<Ipv4Addr>),
    /// The server could not answer (SERVFAIL, REFUSED, ...). It is
    /// reachable; the zone is not answered this time.
    ServerError(String),
}

/// Why a datagram is not the answer to our question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotOurs {
    /// Not a DNS message.
    #[error("not a DNS message: {0}")]
    Malformed(String),
    /// Another id, no response flag, or another question: a late answer to
    /// an earlier query, or spoofing. Ignored.
    #[error("answer to another query")]
    Mismatch,
}

/// Reads a response to the query `id` for `qname`. Pure.
pub fn interpret(response: &[u8], id: u16, qname: &str) -> Result<Answer, NotOurs> {
    let packet = Packet::parse(response).map_err(|e| NotOurs::Malformed(e.to_string()))?;
    let same_question = packet.questions.len() == 1
        && packet
            .questions
            .first()
            .is_some_and(|q| q.qname.to_string().eq_ignore_ascii_case(qname));
    if packet.id() != id || !packet.has_flags(PacketFlag::RESPONSE) || !same_question {
        return Err(NotOurs::Mismatch);
    }
    match packet.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Ok(Answer::NotListed),
        other => return Ok(Answer::ServerError(format!("{other:?}"))),
    }
    let mut listed = Vec::new();
    let mut errors = Vec::new();
    for rr in &packet.answers {
        if let RData::A(a) = &rr.rdata {
            let ip = Ipv4Addr::from(a.address);
            let [first, second, third, _] = ip.octets();
            if first != 127 {
                continue;
            }
            if second == 255 && third == 255 {
                errors.push(ip);
            } else {
                listed.push(ip);
            }
        }
    }
    Ok(if !listed.is_empty() {
        Answer::Listed(listed)
    } else if !errors.is_empty() {
        Answer::ListError(errors)
    } else {
        Answer::NotListed
    })
}

/// Builds the A query for `qname` with recursion desired (the configured
/// servers are usually the ISP's resolvers).
pub fn build_query(id: u16, qname: &str) -> Result<Vec<u8>, String> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let name = Name::new(qname).map_err(|e| e.to_string())?;
    packet.questions.push(Question::new(
        name,
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::A;

    #[test]
    fn query_names_reverse_octets_and_nibbles() {
        assert_eq!(
            query_name("100.64.1.7".parse().unwrap(), "xbl.example.org."),
            "7.1.64.100.xbl.example.org"
        );
        assert_eq!(
            query_name("2001:db8::1".parse().unwrap(), "zen.example"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.example"
        );
    }

    fn reply(id: u16, qname: &str, rcode: RCODE, answers: &[Ipv4Addr]) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        *p.rcode_mut() = rcode;
        p.questions.push(Question::new(
            Name::new(qname).unwrap(),
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        for a in answers {
            p.answers.push(ResourceRecord::new(
                Name::new(qname).unwrap(),
                CLASS::IN,
                60,
                RData::A(A::from(*a)),
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn interprets_rfc5782_answers() {
        let q = "7.1.64.100.xbl.example";
        let l = Ipv4Addr::new(127, 0, 0, 4);
        assert_eq!(
            interpret(&reply(9, q, RCODE::NoError, &[l]), 9, q),
            Ok(Answer::Listed(vec![l]))
        );
        assert_eq!(
            interpret(&reply(9, q, RCODE::NameError, &[]), 9, q),
            Ok(Answer::NotListed)
        );
        assert_eq!(
            interpret(
                &reply(9, q, RCODE::NoError, &[Ipv4Addr::new(192, 0, 2, 1)]),
                9,
                q
            ),
            Ok(Answer::NotListed)
        );
        let e = Ipv4Addr::new(127, 255, 255, 254);
        assert_eq!(
            interpret(&reply(9, q, RCODE::NoError, &[e]), 9, q),
            Ok(Answer::ListError(vec![e]))
        );
        assert!(matches!(
            interpret(&reply(9, q, RCODE::ServerFailure, &[]), 9, q),
            Ok(Answer::ServerError(_))
        ));
        assert_eq!(
            interpret(&reply(8, q, RCODE::NoError, &[l]), 9, q),
            Err(NotOurs::Mismatch)
        );
        assert_eq!(
            interpret(
                &reply(9, "8.1.64.100.xbl.example", RCODE::NoError, &[l]),
                9,
                q
            ),
            Err(NotOurs::Mismatch)
        );
        assert!(matches!(
            interpret(b"\x00", 9, q),
            Err(NotOurs::Malformed(_))
        ));
        // Our own query is not an answer.
        assert_eq!(
            interpret(&build_query(9, q).unwrap(), 9, q),
            Err(NotOurs::Mismatch)
        );
    }
}
