//! What the crates' tests share, written once. A dev-dependency only:
//! nothing here is fit for a daemon (it panics where a test should fail).
//!
//! - [`Netns`]: a network namespace of the test's own, with a unique
//!   `cl-` name, removed (and everything started in it killed) on drop,
//!   even when the test panics.
//! - [`eventually`] and [`poll_until`]: ask again until something holds,
//!   with a deadline, instead of sleeping to synchronise.
//! - [`Fixture`]: the smallest valid config, as a builder each test
//!   changes only where its assertions depend on the value ([`MINIMAL`]
//!   is its text, for tests of the loader's own messages).

mod fixture;
mod netns;
mod poll;

pub use fixture::{Fixture, MINIMAL};
pub use netns::Netns;
pub use poll::{eventually, poll_until};
