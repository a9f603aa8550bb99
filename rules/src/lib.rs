//! Cordon's nftables ruleset.
//!
//! - [`render`] turns a config (and the elements to carry) into the complete
//!   table in `nft -f` syntax: pure, unit-tested, what `cordon rules` prints.
//! - `plan` decides, without touching the kernel, what an install or an
//!   element change tells `nft` (an `nft -f` script or a JSON batch) from
//!   the live table's layout and set members: pure, unit-tested.
//! - [`Kernel`] executes those plans: it reads what a plan needs from the
//!   live table, runs the plan in one atomic transaction, and reads sets
//!   back — never touching any other table.
//! - [`Shape`] is what the kernel says about the table's chains, rules and
//!   set definitions (read over netlink, without elements): recorded after
//!   an install and compared with later ones, it tells whether someone
//!   changed the table ([`Difference`]).
//! - [`names`] holds the set and chain names that tests and operators see.
//!
//! Why the table itself goes in as `nft` syntax while element changes use the
//! JSON API: the `nftables` crate's schema (0.6) cannot express a set
//! statement carrying a stateful expression (`update @smtp_recent_v4 { ip
//! saddr counter }`, or `limit rate over`), which is exactly how Cordon counts
//! per host in the kernel. The table is installed once per start or reload;
//! the frequent work (quarantine, release, reading sets) is typed JSON.

#![forbid(unsafe_code)]

mod drift;
mod dump;
mod elements;
mod error;
mod kernel;
mod layout;
pub mod names;
mod nft;
mod plan;
mod render;

pub use drift::{Difference, Shape};
pub use dump::names_table;
pub use elements::{Carried, SmtpSeen};
pub use error::RulesError;
pub use kernel::{Installed, Kernel};
pub use nft::NftCommand;
pub use render::render;
