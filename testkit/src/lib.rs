//! What the crates' tests share, written once. Test infrastructure only
//! (the crates' dev-dependency; a normal one of the lab and the
//! benchmarks, themselves test tools): nothing here is fit for a daemon.
//! Most of it panics where a test should fail; the `try_` forms and the
//! [`netns`] functions return errors for the lab and the benchmarks.
//!
//! - [`Netns`]: a network namespace of the test's own, with a unique
//!   `cl-` name, removed (and everything started in it killed) on drop,
//!   even when the test panics.
//! - [`eventually`] and [`poll_until`]: ask again until something holds,
//!   with a deadline, instead of sleeping to synchronise.
//! - [`chromium`]: Debian's headless Chromium for the browser tests (a
//!   phone-sized session's capabilities, chromedriver's guard).
//! - [`command`]: an external program run with a deadline, its output
//!   collected (errors, not panics: the lab reports them as its own).
//! - [`pg::PgServer`]: a real PostgreSQL server on a Unix socket in a
//!   temporary directory, stopped and removed on drop.
//! - [`tls::Issued`]: a CA and a server certificate made by the test, for
//!   TLS with verification on (the PostgreSQL fixture's
//!   [`pg::PgServer::start_tls`]).
//! - [`Fixture`]: the smallest valid config, as a builder each test
//!   changes only where its assertions depend on the value ([`MINIMAL`]
//!   is its text, for tests of the loader's own messages).

pub mod chromium;
pub mod command;
mod fixture;
pub mod netns;
pub mod pg;
mod poll;
pub mod tls;

pub use fixture::{Fixture, MINIMAL};
pub use netns::{Netns, NetnsError};
pub use poll::{TimedOut, eventually, poll_until, try_poll_until};
