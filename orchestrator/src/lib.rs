//! `cordond` and `cordon`: the store, the kernel edge, the daemon that
//! carries out `cordon-policy`'s decisions, and the operators' CLI.
//!
//! - [`store`]: SQLite records and the append-only audit trail.
//! - [`kernel`]: the edge to nftables, conntrack and the neighbour table,
//!   behind the [`kernel::Enforcer`] trait.
//! - [`core`]: the one task that carries out the policy's plans (store,
//!   then kernel, then conntrack), its timers, reload and table repair.
//! - [`daemon`]: `cordond` — starts everything, serves the sockets.
//! - [`detection`]: kernel crossings, outside reports and DNS block lists
//!   turned into decisions.
//! - [`metrics`]: the Prometheus endpoint.
//! - [`webhook`]: every transition POSTed, signed, to the configured
//!   hooks from a durable queue in the store.
//! - [`cli`]: `cordon`, the operators' command line.

#![forbid(unsafe_code)]

pub mod cli;
pub mod core;
pub mod daemon;
pub mod detection;
pub mod kernel;
pub mod logging;
pub mod metrics;
pub mod store;
pub mod tls;
pub mod webhook;
