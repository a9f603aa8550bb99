//! Cordon's configuration: one YAML file, read into typed and validated structs.
//!
//! Everything an operator can set lives here, so that every part of Cordon (the
//! daemon, the ruleset, the portal, the lab) reads the same types. Values are
//! parsed into address, prefix, duration and interface-name types at load time:
//! nothing downstream ever re-parses a string from the config.
//!
//! Errors name the file, the line and the column, and say what was expected
//! ([`ConfigError`]).

#![forbid(unsafe_code)]

mod addr;
mod check;
pub mod duration;
mod error;
mod limits;
mod load;
mod locate;
mod model;
mod overlap;
mod portal_values;
mod types;

pub use addr::{AddrError, SubscriberAddr};
pub use error::{ConfigError, ConfigErrors};
pub use load::{load_file, load_str};
pub use model::*;
pub use portal_values::{PortalUser, PublicUrl};
pub use types::{Destination, DnsName, IfName, Prefix};
