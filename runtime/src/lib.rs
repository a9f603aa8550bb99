//! What both daemons (`cordond` and `cordon-portal`) share at run time,
//! beside the messages themselves (those are `cordon-proto`, which stays
//! free of any runtime so the pure policy can use its types):
//!
//! - [`frame`]: one JSON document per length-delimited frame on a Unix
//!   socket, with the size cap both sides enforce.
//! - [`limits`]: raising the descriptor limit, and the backoff and log
//!   throttle for accept loops that run out of descriptors.
//! - [`log`]: the tracing field formatter that escapes control characters.
//! - [`metrics`]: the Prometheus endpoint (GET/HEAD `/metrics` only).

#![forbid(unsafe_code)]

pub mod frame;
pub mod limits;
pub mod log;
pub mod metrics;

pub use frame::{FrameError, Framed, framed};
