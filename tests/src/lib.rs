//! Cordon's network-namespace lab: a gateway, subscribers and an "internet"
//! built from real namespaces, veth links and kernel routing, so that the
//! end-to-end tests drive the real binaries against the real kernel.
//!
//! A test builds a lab with a unique name, uses its hosts, and lets the guard
//! remove everything (also when the test fails or panics):
//!
//! ```no_run
//! use std::time::Duration;
//! use cordon_lab::{Lab, unique_name};
//!
//! let lab = Lab::builder(&unique_name("web")).up()?;
//! let web = lab.internet().web(lab.subscriber(0).ipv4().into());
//! let reply = lab.subscriber(0).curl(&cordon_lab::url(web, 80, "/"), &[])?;
//! assert!(reply.from_real_site());
//! # Ok::<(), cordon_lab::LabError>(())
//! ```
//!
//! The topology and addresses are fixed ([`addresses`]); the cordond config
//! each lab writes is in [`config`].

#![forbid(unsafe_code)]

// What a lab is made of.
pub mod addresses;
pub mod config;
mod names;
pub mod netns;
mod wiring;

// Running things in it.
pub mod daemons;
pub mod demo;
pub mod dhcp;
mod exe;
pub mod hooks;
pub mod internet;
pub mod postgres;
pub mod probe;
mod process;
pub mod reports;
pub mod tools;

// The API tests use.
mod builder;
mod host;
mod lab;
mod operator;
pub mod plan;
mod poll;
mod roles;
mod teardown;

mod error;

pub use builder::{DEFAULT_GATEWAYS, DEFAULT_SUBSCRIBERS, LabBuilder};
pub use error::LabError;
pub use host::{CurlReply, Host, SwaksReply, url};
pub use internet::dns::{DnsOutcome, RecordType};
pub use internet::stats::{Counts, InternetStats, PortStats};
pub use lab::Lab;
pub use names::{LabName, NETNS_PREFIX, RUN_ROOT, gateway_name, unique_name};
pub use netns::in_netns;
pub use operator::Held;
pub use plan::{Plan, StorePlan};
pub use poll::{poll_until, wait_for};
pub use probe::TcpOutcome;
pub use roles::{Gateway, Internet};
pub use teardown::{Removed, existing_labs, teardown};
