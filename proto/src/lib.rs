//! The messages that cross `cordond`'s Unix sockets, and how they are framed.
//!
//! Two sockets, two vocabularies: the portal socket ([`portal`]) can only ask
//! about one address and request its self-release, so a compromised portal
//! cannot quarantine or list anybody; the control socket (operators, `cordon`)
//! carries everything else. Each message is one JSON document in a
//! length-delimited frame (`tokio_util::codec::LengthDelimitedCodec`).
//!
//! Also what both daemons share beyond the sockets: descriptor limits and
//! backoff ([`limits`]), log escaping ([`log`]) and the Prometheus endpoint
//! ([`metrics`]).

#![forbid(unsafe_code)]

pub mod control;
pub mod frame;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod portal;
pub mod text;

pub use frame::{FrameError, Framed, framed};
