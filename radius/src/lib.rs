//! RADIUS accounting (RFC 2866) as cordond takes it from BNGs and
//! FreeRADIUS: who holds which addresses. Pure: no sockets, no clock, no
//! disk; the listener in cordond owns the socket and passes the time in.
//!
//! # Contents
//!
//! | item | what it is for |
//! |---|---|
//! | [`decode`] | an Accounting-Request's bytes and its client's secret to a verified [`Accounting`], or the [`RadiusError`] that says why not |
//! | [`response`], [`Accounting::response`] | the Accounting-Response (code 5, no attributes) with its authenticator |
//! | [`Accounting`], [`Status`] | what Cordon reads of a request: status, subscriber, session, IPv4 address, IPv6 prefixes, line, NAS |
//! | [`Accounting::to_request`] | a request as a client sends it (tests, load generators) |
//! | [`Replays`], [`ReplayKey`], [`Replay`] | retransmissions answered again, applied once; bounded in entries and age |
//! | [`Clients`], [`Client`] | which sender (address or network) has which shared secret; [`Clients::decode`] names the client in errors |
//! | `cordon-radius-responder` (`src/bin/responder.rs`) | the smallest listener on this crate: the integration test's server under real `radclient`, and the benchmark's trivial responder |
//!
//! The listener's round, per datagram: [`Clients::decode`] (drop and log on
//! error: RFC 2866 says an unverifiable request gets no answer), then
//! [`Replays::admit`] with the sender, identifier and authenticator:
//! `Answered` → send those bytes again; `InFlight` → drop; `New` → apply,
//! [`Accounting::response`], send, [`Replays::remember`]. Read into a
//! buffer of [`MAX_PACKET`]` + 1` bytes so an oversized datagram is seen.
//!
//! # Why no RADIUS crate
//!
//! Written on `md-5` (RustCrypto) because none of the crates fit (looked
//! at in November 2026):
//! - `radius` 0.4 (moznion/radius-rs, MIT) does verify accounting
//!   request authenticators (`Packet::is_authentic_request`) and signs an
//!   Accounting-Response right (`make_response_packet` + `encode`), but:
//!   it is an async client/server framework whose core brings tokio with
//!   every feature, chrono, rand 0.8, thiserror 1, async-trait, num_enum
//!   and log into what must stay a pure crate; its IPv6-prefix accessors
//!   (`lookup_delegated_ipv6_prefix`, `encode_ipv6_prefix`) return the
//!   prefix octets without the prefix-length octet, so the /56 that
//!   `radclient` sends as 16 octets cannot be told from a /128 (we would
//!   re-parse the raw value ourselves); its authenticator comparison is
//!   not constant-time; `Packet::decode` takes any code; and its
//!   `is_authentic_request` answers a bare bool, so the refusal reasons
//!   operators need would be ours anyway.
//! - `radius-parser` 0.5 (rusticata, MIT/Apache) only parses (nom): no
//!   authenticator computation or check, no response encoding, so the
//!   security-relevant half would be ours anyway.
//! - `radius-rust` 0.4 (MIT) loads a dictionary file at run time, has one
//!   secret per server and its `verify_request` only parses: it does not
//!   check the accounting request authenticator at all.
//!
//! What is left is small (two MD5 sums over the packet, a TLV walk, ten
//! attribute shapes), and written here against RFC 2865/2866/3162/4818
//! with captured `radclient` packets as test vectors.

mod attrs;
mod clients;
mod error;
mod packet;
mod replay;

pub use attrs::MAX_VALUE;
pub use clients::{Client, Clients};
pub use error::RadiusError;
pub use packet::{
    ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE, Accounting, HEADER, MAX_PACKET, Status, decode,
    response,
};
pub use replay::{DEFAULT_CAPACITY, DEFAULT_TTL, Replay, ReplayKey, Replays};
