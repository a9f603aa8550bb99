//! Cordon's detection signals, turned into typed events.
//!
//! This crate owns one job: noticing. It turns what the kernel, the abuse
//! desk and the DNS block lists say into typed values, and decides nothing.
//! `cordond` applies the policy (observe, notice, enforce; never-quarantine;
//! the ladder) to what comes out of here.
//!
//! | module | what it owns |
//! |---|---|
//! | [`nflog`] | the async NFLOG subscriber: kernel threshold crossings as [`nflog::Crossing`] events, [`nflog::NflogEvent::Resync`] after a lost event |
//! | [`reports`] | the [`Report`] type and `import` of CSV and ARF (RFC 5965) feeds, bad lines listed by number |
//! | [`dnsbl`] | the async DNS block-list checker with its cache, query budget and server health |
//!
//! The report ledger and the signal decision are `cordon-policy`'s; this
//! crate hands it [`Report`]s and crossings.
//!
//! Pure logic (parsing, the token bucket, server health, the
//! cache) takes time as an argument and is tested without sockets or
//! sleeps; the async shells around it are tested for real in network
//! namespaces.

#![forbid(unsafe_code)]

pub mod dnsbl;
mod error;
pub mod nflog;
pub mod reports;

pub use error::DetectError;
pub use reports::{
    FeedMeta, ImportResult, LineError, Report, import, import_for, parse_for, stream_feed,
    stream_for,
};
