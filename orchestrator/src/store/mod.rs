//! The store: every quarantine record, the append-only audit trail and the
//! outside reports. It is the truth: the kernel's sets are rebuilt from it.
//!
//! - [`Backend`]: what a store must guarantee, whatever holds it; this is
//!   the seam a second backend (a server database) implements.
//! - [`Store`]: the handle the daemon holds, cheap to clone, over any
//!   backend; it bounds what it hands out (see [`Store::history`]).
//! - The backend-neutral values: [`Write`] (what a commit carries),
//!   [`StoredHost`] and [`Record`] (a host row), [`StoredReport`],
//!   [`Loaded`] (what a start reads), and history entries
//!   ([`AuditEntry`], newest first, at most a `limit` of them).
//! - [`StoreError`]: every failure, each variant naming the operator's
//!   remedy and keeping the backend's error as its source.
//! - [`sqlite`]: the first backend, one SQLite file (WAL, a writer thread
//!   that group-commits, schema migrations, private file modes).
//! - `battery`: the tests every backend runs (see [`Backend`]).

mod error;
mod handle;
mod records;
pub mod sqlite;

#[cfg(any(test, feature = "test-battery"))]
pub mod battery;

use std::path::Path;

pub use cordon_proto::control::AuditEntry;
use futures::future::BoxFuture;

pub use error::{Shared, Source, StoreError};
pub use handle::Store;
pub use records::{Loaded, Record, StoredHost, StoredReport, Write};

/// What a store backend must do and guarantee. The battery
/// (`store::battery`, built for tests and under the `test-battery` feature)
/// checks each of these against a real instance; a new backend implements
/// this trait and runs the battery (`cordon_orchestrator::store_battery!`).
///
/// - **Durable before `Ok`:** [`commit`](Backend::commit) returns `Ok` only
///   once the writes survive a power cut (SQLite: WAL with
///   `synchronous = FULL`), because cordond changes the kernel and answers
///   the operator right after.
/// - **A batch is all-or-nothing:** the writes of one `commit` call are one
///   transaction. A backend may group concurrent calls into one transaction
///   (SQLite does: one fsync for many quarantines); if the group fails,
///   every call in it gets the error and nothing of any of them is stored.
///   Calls may come concurrently from many tasks.
/// - **Migrations from the first version:** opening a store written by any
///   earlier cordond migrates it forward and keeps every record; a store
///   written by a newer cordond is refused ([`StoreError::TooNew`]), and an
///   unreadable or damaged one too ([`StoreError::Unreadable`],
///   [`StoreError::Corrupt`]): cordond never starts empty over it, because
///   that would forget every quarantine. Opening is the backend's own
///   constructor, so it is not part of this trait.
/// - **Retention purge** ([`Write::Purge`] `{ before }`): deletes audit
///   entries with `at < before`, reports with `received_at < before`, and
///   the records of *clean* hosts last written before `before`; a
///   quarantined or probation record stays whatever its age (it is still
///   in force). Nothing else ever deletes or edits the audit trail.
/// - **Ordering:** history is newest first (in the order written, not by
///   `at`), filtered by address when asked, at most `limit` entries;
///   [`reports`](Backend::reports) is every report oldest first (the
///   order they were written, so the ledger rebuilds as it was built);
///   [`recent_reports`](Backend::recent_reports) is one unit's latest,
///   newest first.
///
/// The methods return boxed futures rather than being `async fn` so the
/// trait is object-safe: the backend is chosen at run time from the config,
/// and the daemon holds one [`Store`] type whatever it is, instead of a
/// type parameter spreading through every type that holds the store. One
/// allocation per call is nothing beside an fsync or a round trip.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// The store, for messages and logs: its file, or for a server backend
    /// its address without credentials.
    fn location(&self) -> &Path;

    /// Every host record, and every report oldest first.
    fn load(&self) -> BoxFuture<'_, Result<Loaded, StoreError>>;

    /// Commits `writes` (never empty) as one all-or-nothing transaction,
    /// durable before `Ok`.
    fn commit(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The audit trail, newest first, for one address (as stored) or all,
    /// at most `limit` entries.
    fn history(
        &self,
        address: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>>;

    /// Every report, oldest first.
    fn reports(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;

    /// The latest `limit` reports counted against `unit`, newest first.
    fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;
}
