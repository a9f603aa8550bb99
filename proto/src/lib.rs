//! The messages that cross `cordond`'s Unix sockets, and the small types
//! every part shares.
//!
//! Two sockets, two vocabularies: the portal socket ([`portal`]) can only ask
//! about one address and request its self-release, so a compromised portal
//! cannot quarantine or list anybody; the control socket (operators, `cordon`)
//! carries everything else. Each message is one JSON document in a
//! length-delimited frame (the framing is `cordon-runtime`'s).
//!
//! Also: [`subscriber`], who a subscriber is and where the news of its
//! sessions came from, [`text`], what may reach a terminal or a log, [`time`], Unix
//! seconds and the one clock, and [`expiring`], the time-limited map the
//! caches share (time passed in). This crate has no runtime (no tokio, no
//! hyper), so the pure policy crate can speak in its types.

#![forbid(unsafe_code)]

pub mod control;
pub mod expiring;
pub mod portal;
pub mod subscriber;
pub mod text;
pub mod time;
