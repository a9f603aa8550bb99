//! Accounting-Request in, Accounting-Response out (RFC 2866 §3, §4.1,
//! §4.2), with the two MD5 authenticators that tie each to the shared
//! secret.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv6Net;
use md5::{Digest, Md5};
use serde::Serialize;

use crate::RadiusError;
use crate::attrs::{self, bad};

/// The RADIUS header: code, identifier, length, authenticator.
pub const HEADER: usize = 20;
/// The longest RADIUS packet (RFC 2865 §3). A listener reads into a buffer
/// one byte longer, so a longer datagram is seen as such, not cut.
pub const MAX_PACKET: usize = 4096;
/// Accounting-Request.
pub const ACCOUNTING_REQUEST: u8 = 4;
/// Accounting-Response.
pub const ACCOUNTING_RESPONSE: u8 = 5;

/// Acct-Status-Type (RFC 2866 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// 1: a session began.
    Start,
    /// 2: a session ended.
    Stop,
    /// 3: a session goes on (sent periodically, and when its addresses change).
    InterimUpdate,
    /// 7: the NAS came up: none of its earlier sessions is open any more.
    AccountingOn,
    /// 8: the NAS goes down: all of its sessions end.
    AccountingOff,
    /// Any other value (Tunnel-Start, Failed, ...): taken and answered,
    /// not acted on.
    Other(u32),
}

impl Status {
    fn from_u32(v: u32) -> Status {
        match v {
            1 => Status::Start,
            2 => Status::Stop,
            3 => Status::InterimUpdate,
            7 => Status::AccountingOn,
            8 => Status::AccountingOff,
            v => Status::Other(v),
        }
    }

    fn to_u32(self) -> u32 {
        match self {
            Status::Start => 1,
            Status::Stop => 2,
            Status::InterimUpdate => 3,
            Status::AccountingOn => 7,
            Status::AccountingOff => 8,
            Status::Other(v) => v,
        }
    }
}

/// A verified Accounting-Request: what Cordon needs of it. Attributes not
/// named here are skipped (their framing still checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Acct-Status-Type.
    pub status: Status,
    /// The request's identifier (the response repeats it).
    pub identifier: u8,
    /// The request authenticator (the response's is computed over it).
    #[serde(skip)]
    pub authenticator: [u8; 16],
    /// User-Name: the subscriber. Plain text (see [`RadiusError::NotText`]).
    pub user_name: Option<String>,
    /// Acct-Session-Id: the NAS's name for the session. Plain text.
    pub acct_session_id: Option<String>,
    /// Framed-IP-Address: the subscriber's IPv4 address.
    pub framed_ip: Option<Ipv4Addr>,
    /// Framed-IPv6-Prefix: on-link prefixes (often one /64).
    pub framed_ipv6_prefix: Vec<Ipv6Net>,
    /// Delegated-IPv6-Prefix: prefixes delegated by DHCPv6-PD (often a /56).
    pub delegated_ipv6_prefix: Vec<Ipv6Net>,
    /// Calling-Station-Id: usually the subscriber's MAC or line; escaped.
    pub calling_station_id: Option<String>,
    /// NAS-Identifier: which BNG sent it; escaped.
    pub nas_identifier: Option<String>,
    /// NAS-IP-Address or NAS-IPv6-Address (the last one given).
    pub nas_ip: Option<IpAddr>,
}

impl Accounting {
    /// An Accounting-Request with `status` and nothing else, for building
    /// requests in tests and benchmarks.
    pub fn new(status: Status, identifier: u8) -> Accounting {
        Accounting {
            status,
            identifier,
            authenticator: [0; 16],
            user_name: None,
            acct_session_id: None,
            framed_ip: None,
            framed_ipv6_prefix: Vec::new(),
            delegated_ipv6_prefix: Vec::new(),
            calling_station_id: None,
            nas_identifier: None,
            nas_ip: None,
        }
    }

    /// The Accounting-Response to this request.
    pub fn response(&self, secret: &[u8]) -> Vec<u8> {
        response(self.identifier, &self.authenticator, secret)
    }

    /// This request as a client sends it, signed with `secret` (its
    /// `authenticator` field is ignored: the packet's is computed). For
    /// tests and load generators; cordond only decodes.
    pub fn to_request(&self, secret: &[u8]) -> Result<Vec<u8>, RadiusError> {
        let mut p = vec![ACCOUNTING_REQUEST, self.identifier, 0, 0];
        p.extend_from_slice(&[0; 16]);
        attrs::put(
            &mut p,
            attrs::ACCT_STATUS_TYPE,
            &self.status.to_u32().to_be_bytes(),
        )?;
        let text = [
            (attrs::USER_NAME, &self.user_name),
            (attrs::ACCT_SESSION_ID, &self.acct_session_id),
            (attrs::CALLING_STATION_ID, &self.calling_station_id),
            (attrs::NAS_IDENTIFIER, &self.nas_identifier),
        ];
        for (t, v) in text {
            if let Some(v) = v {
                attrs::put(&mut p, t, v.as_bytes())?;
            }
        }
        if let Some(ip) = self.framed_ip {
            attrs::put(&mut p, attrs::FRAMED_IP_ADDRESS, &ip.octets())?;
        }
        for net in &self.framed_ipv6_prefix {
            attrs::put(&mut p, attrs::FRAMED_IPV6_PREFIX, &attrs::prefix_value(net))?;
        }
        for net in &self.delegated_ipv6_prefix {
            let v = attrs::prefix_value(net);
            attrs::put(&mut p, attrs::DELEGATED_IPV6_PREFIX, &v)?;
        }
        match self.nas_ip {
            Some(IpAddr::V4(ip)) => attrs::put(&mut p, attrs::NAS_IP_ADDRESS, &ip.octets())?,
            Some(IpAddr::V6(ip)) => attrs::put(&mut p, attrs::NAS_IPV6_ADDRESS, &ip.octets())?,
            None => {}
        }
        let len = u16::try_from(p.len())
            .ok()
            .filter(|_| p.len() <= MAX_PACKET)
            .ok_or(RadiusError::PacketTooLong { len: p.len() })?;
        p[2..4].copy_from_slice(&len.to_be_bytes());
        let auth = request_authenticator(&p, secret);
        p[4..HEADER].copy_from_slice(&auth);
        Ok(p)
    }
}

/// RFC 2866 §3: MD5(Code + Identifier + Length + 16 zero octets +
/// Attributes + Secret), over `packet` as far as its header's Length.
fn request_authenticator(packet: &[u8], secret: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update(&packet[..4])
        .chain_update([0u8; 16])
        .chain_update(&packet[HEADER..])
        .chain_update(secret)
        .finalize()
        .into()
}

/// Equal, taking the same time whatever the first differing byte: a
/// timing oracle on the comparison would let a sender forge an
/// authenticator byte by byte. (The `subtle` crate does this too, but is
/// BSD-3-Clause, outside the project's MIT/Apache licences.)
fn same(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Reads and verifies an Accounting-Request signed with `secret`.
///
/// Checked in this order, each failure its own [`RadiusError`]: the size
/// (20..=4096 bytes), the code (4 only), the header's Length (octets past
/// it are padding and ignored, RFC 2865 §3), the request authenticator,
/// then the attributes (framing, value shapes, single ones not repeated,
/// Acct-Status-Type present, identities plain text). Verifying before
/// reading attributes means an unverified packet's content is never
/// looked at.
pub fn decode(packet: &[u8], secret: &[u8]) -> Result<Accounting, RadiusError> {
    if packet.len() < HEADER {
        return Err(RadiusError::TooShort { len: packet.len() });
    }
    if packet.len() > MAX_PACKET {
        return Err(RadiusError::TooLong { len: packet.len() });
    }
    if packet[0] != ACCOUNTING_REQUEST {
        return Err(RadiusError::WrongCode { code: packet[0] });
    }
    let declared = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if declared < HEADER || declared > packet.len() {
        return Err(RadiusError::BadLength {
            declared,
            received: packet.len(),
        });
    }
    if secret.is_empty() {
        return Err(RadiusError::EmptySecret);
    }
    let packet = &packet[..declared];
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&packet[4..HEADER]);
    if !same(&request_authenticator(packet, secret), &authenticator) {
        return Err(RadiusError::WrongAuthenticator);
    }
    let mut status = None;
    let mut a = Accounting::new(Status::Other(0), packet[1]);
    a.authenticator = authenticator;
    let mut at = HEADER;
    while at < packet.len() {
        let t = packet[at];
        let len = packet.get(at + 1).map_or(0, |l| usize::from(*l));
        if len < 2 || at + len > packet.len() {
            return Err(bad(
                t,
                at,
                format!(
                    "its length {len} is below 2 or runs past the packet's end at {}",
                    packet.len()
                ),
            ));
        }
        let v = &packet[at + 2..at + len];
        match t {
            attrs::ACCT_STATUS_TYPE => once(&mut status, t, attrs::integer(t, at, v)?)?,
            attrs::USER_NAME => once(&mut a.user_name, t, attrs::identity(t, v)?)?,
            attrs::ACCT_SESSION_ID => once(&mut a.acct_session_id, t, attrs::identity(t, v)?)?,
            attrs::FRAMED_IP_ADDRESS => once(&mut a.framed_ip, t, attrs::ipv4(t, at, v)?)?,
            attrs::CALLING_STATION_ID => once(&mut a.calling_station_id, t, attrs::description(v))?,
            attrs::NAS_IDENTIFIER => once(&mut a.nas_identifier, t, attrs::description(v))?,
            attrs::NAS_IP_ADDRESS => a.nas_ip = Some(attrs::ipv4(t, at, v)?.into()),
            attrs::NAS_IPV6_ADDRESS => a.nas_ip = Some(attrs::ipv6(t, at, v)?.into()),
            attrs::FRAMED_IPV6_PREFIX => a.framed_ipv6_prefix.push(attrs::ipv6_prefix(t, at, v)?),
            attrs::DELEGATED_IPV6_PREFIX => {
                a.delegated_ipv6_prefix.push(attrs::ipv6_prefix(t, at, v)?);
            }
            _ => {}
        }
        at += len;
    }
    a.status = Status::from_u32(status.ok_or(RadiusError::MissingStatus)?);
    Ok(a)
}

/// Sets a single-valued attribute, refusing a second one.
fn once<T>(slot: &mut Option<T>, t: u8, v: T) -> Result<(), RadiusError> {
    if slot.is_some() {
        return Err(RadiusError::Duplicate {
            name: attrs::name(t),
        });
    }
    *slot = Some(v);
    Ok(())
}

/// The Accounting-Response (code 5, no attributes) to the request with
/// `identifier` and `request_authenticator`: its authenticator is
/// MD5(Code + Identifier + Length + Request Authenticator + Attributes +
/// Secret) (RFC 2866 §3), which the client checks.
pub fn response(identifier: u8, request_authenticator: &[u8; 16], secret: &[u8]) -> Vec<u8> {
    let mut p = vec![ACCOUNTING_RESPONSE, identifier, 0, HEADER as u8];
    let auth: [u8; 16] = Md5::new()
        .chain_update(&p)
        .chain_update(request_authenticator)
        .chain_update(secret)
        .finalize()
        .into();
    p.extend_from_slice(&auth);
    p
}
