//! Why a datagram was not taken as accounting: one variant per reason, each
//! message saying what the operator (or the client's admin) should do. The
//! listener logs them (they are already printable: attribute text in them
//! is escaped) and answers nothing, as RFC 2866 §2 asks of a request that
//! cannot be verified.

use std::net::IpAddr;

use ipnet::IpNet;

/// A refused Accounting-Request, or a refused client configuration.
#[derive(Debug, thiserror::Error)]
pub enum RadiusError {
    /// Shorter than the 20-octet header.
    #[error(
        "a datagram of {len} bytes is too short for RADIUS (at least 20); the sender does not speak RADIUS accounting, or its packets are cut on the way: check what sends to this port"
    )]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// Longer than RADIUS allows (RFC 2865 §3: 4096 octets).
    #[error(
        "a datagram of {len} bytes is longer than RADIUS allows (4096); it was not read: check what sends to this port"
    )]
    TooLong {
        /// Bytes received (at least).
        len: usize,
    },
    /// Not an Accounting-Request (code 4).
    #[error(
        "RADIUS code {code} is not an Accounting-Request (4); only accounting is taken here: send Access-Requests to the authentication server, and only accounting to this port"
    )]
    WrongCode {
        /// The code received.
        code: u8,
    },
    /// The header's Length does not fit the datagram.
    #[error(
        "the RADIUS header says {declared} bytes but {received} arrived (a valid packet says 20..=4096 and at most what arrived); the packet is corrupt or cut: check the client's MTU and what sits between it and cordond"
    )]
    BadLength {
        /// The header's Length.
        declared: usize,
        /// Bytes that arrived.
        received: usize,
    },
    /// The shared secret may not be empty (RFC 2865 §3).
    #[error("an empty shared secret is not allowed: give each RADIUS client a secret")]
    EmptySecret,
    /// The request authenticator does not verify with the secret.
    #[error(
        "the request authenticator does not match: the client signed with another shared secret (or the packet was altered); check the shared secret configured for this client on both sides"
    )]
    WrongAuthenticator,
    /// An attribute's length runs past the packet or below its 2-octet
    /// header, or its value does not have the shape its type requires.
    #[error(
        "attribute {attribute} ({name}) at byte {offset} is malformed: {problem}; the client sends broken accounting: check its software or dictionary"
    )]
    BadAttribute {
        /// Its type number.
        attribute: u8,
        /// Its name, or "unknown".
        name: &'static str,
        /// Where it starts in the packet.
        offset: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A single-valued attribute appears twice (RFC 2866 §5.13 allows it
    /// at most once), so which one holds is unclear.
    #[error(
        "attribute {name} appears more than once, so it is unclear which holds; check the client's accounting configuration"
    )]
    Duplicate {
        /// Its name.
        name: &'static str,
    },
    /// Acct-Status-Type is required in every Accounting-Request.
    #[error(
        "the Accounting-Request has no Acct-Status-Type, which RFC 2866 requires; check the client's accounting configuration"
    )]
    MissingStatus,
    /// An identity attribute (User-Name, Acct-Session-Id) is not UTF-8 or
    /// holds control characters: it names a subscriber in the store and in
    /// logs, where an escaped copy could collide with a real name.
    #[error(
        "{name} is not plain text ({shown}); it names a subscriber, so it is refused rather than altered: check what the client puts in {name}"
    )]
    NotText {
        /// The attribute's name.
        name: &'static str,
        /// The value, escaped for a log line.
        shown: String,
    },
    /// A value too long for one attribute (253 octets) was to be encoded.
    #[error("{name} is {len} bytes long; one RADIUS attribute holds at most 253: shorten it")]
    ValueTooLong {
        /// The attribute's name.
        name: &'static str,
        /// Its length.
        len: usize,
    },
    /// The attributes do not fit in one packet (4096 octets).
    #[error("the attributes take {len} bytes; one RADIUS packet holds at most 4096: send fewer")]
    PacketTooLong {
        /// Bytes the packet would take.
        len: usize,
    },
    /// No configured client covers the source address.
    #[error(
        "{address} is not a configured RADIUS accounting client; add it (with its shared secret) to the accounting clients, or check where the accounting is sent from"
    )]
    UnknownClient {
        /// The sender.
        address: IpAddr,
    },
    /// The same client network is configured twice.
    #[error("RADIUS client {net} is configured twice; keep one entry with one secret")]
    ClientTwice {
        /// The network.
        net: IpNet,
    },
    /// A request from a configured client was refused.
    #[error("accounting from {address} (client {client}): {source}")]
    FromClient {
        /// The sender.
        address: IpAddr,
        /// The configured client it matched.
        client: IpNet,
        /// Why it was refused.
        #[source]
        source: Box<RadiusError>,
    },
}
