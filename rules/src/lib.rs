//! Cordon's nftables ruleset.
//!
//! - [`render`] turns a config (and the elements to carry) into the complete
//!   table in `nft -f` syntax: pure, unit-tested, what `cordon rules` prints.
//! - `plan` decides, without touching the kernel, what an install or an
//!   element change does (an `nft -f` script, or the element changes sent
//!   over netlink) from the live table's layout and set members: pure,
//!   unit-tested.
//! - [`Kernel`] executes those plans: it reads what a plan needs from the
//!   live table, runs the plan in one atomic transaction, and reads sets
//!   back — never touching any other table.
//! - [`Shape`] is what the kernel says about the table's chains, rules and
//!   set definitions (read over netlink, without elements): recorded after
//!   an install and compared with later ones, it tells whether someone
//!   changed the table ([`Difference`]).
//! - [`names`] holds the set and chain names that tests and operators see.
//!
//! - [`netlink`] speaks nf_tables' netlink messages by hand for what
//!   happens often: the table's definition read for comparison, and set
//!   elements changed (one batch transaction per change), looked up one
//!   at a time and read whole (one dump per set), from the calling
//!   process, without starting `nft`.
//!
//! Why the table itself goes in as `nft` syntax: it is installed once per
//! start or reload, and `nft` compiles the rules (set statements carrying
//! stateful expressions, such as `update @smtp_recent_v4 { ip saddr
//! counter }`, are how Cordon counts per host in the kernel). Elements are
//! the frequent work: an `nft` process costs milliseconds, a netlink round
//! trip tens of microseconds.

#![forbid(unsafe_code)]

mod drift;
mod dump;
mod elements;
mod error;
mod kernel;
mod layout;
pub mod names;
mod netlink;
mod nft;
mod plan;
mod render;

pub use drift::{Difference, Shape};
pub use dump::names_table;
pub use elements::{Carried, SmtpSeen};
pub use error::{ElementRefusal, RulesError};
pub use kernel::{Installed, Kernel};
pub use nft::NftCommand;
pub use render::render;
