//! `cordond` and `cordon`: the quarantine lifecycle, its store, the kernel
//! edge, the daemon that ties them together, and the operators' CLI.
//!
//! - [`lifecycle`]: the pure state machine (events in, actions out).
//! - [`store`]: SQLite records and the append-only audit trail.
//! - [`kernel`]: the edge to nftables, conntrack and the neighbour table,
//!   behind the [`kernel::Enforcer`] trait.
//! - [`daemon`]: `cordond` — executes actions, serves the sockets, reconciles.
//! - [`detection`]: kernel crossings, outside reports and DNS block lists
//!   turned into decisions.
//! - [`metrics`]: the Prometheus endpoint.
//! - [`cli`]: `cordon`, the operators' command line.

#![forbid(unsafe_code)]

pub mod cli;
pub mod daemon;
pub mod detection;
pub mod kernel;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod store;
