//! The store: every quarantine record, the append-only audit trail and the
//! outside reports. It is the truth: the kernel's sets are rebuilt from it.
//!
//! - [`Backend`]: what a store must guarantee, whatever holds it; this is
//!   the seam a second backend (a server database) implements.
//! - [`Store`]: the handle the daemon holds, cheap to clone, over any
//!   backend; it bounds what it hands out (see [`Store::history`]).
//! - The backend-neutral values: [`Write`] (what a commit carries),
//!   [`StoredHost`] and [`Record`] (a host row), [`StoredReport`],
//!   [`SessionRecord`] (who held which address when), [`Loaded`] (what a
//!   start reads), and history entries ([`AuditEntry`], newest first, at
//!   most a `limit` of them).
//! - [`StoreError`]: every failure, each variant naming the operator's
//!   remedy and keeping the backend's error as its source.
//! - [`feed`]: what a store shared by a fleet adds: the change feed a
//!   gateway follows to enforce what others decided.
//! - [`outbox`]: a decorator over a server backend that queues decisions
//!   in a local SQLite file while the server cannot be reached, and
//!   replays them, once each ([`Write::Mark`]), when it can.
//! - [`sqlite`]: the first backend, one SQLite file (WAL, a writer thread
//!   that group-commits, schema migrations, private file modes).
//! - [`postgres`]: the fleet's backend, one PostgreSQL database (a pool,
//!   group commit, refinery migrations, a change feed by `seq` and NOTIFY).
//! - `battery`: the tests every backend runs (see [`Backend`]).

mod error;
#[cfg(test)]
pub(crate) mod faulty;
pub mod feed;
mod handle;
pub mod outbox;
pub mod postgres;
mod queue;
mod records;
pub mod sqlite;

#[cfg(any(test, feature = "test-battery"))]
pub mod battery;

use std::path::Path;

use cordon_policy::lifecycle::Unix;
pub use cordon_proto::control::AuditEntry;
pub use cordon_proto::subscriber::SessionRecord;
use futures::future::BoxFuture;

pub use error::{Shared, Source, StoreError};
pub use handle::{Fleet, Opened, Store};
pub use outbox::{Outbox, OutboxState};
pub use records::{
    Loaded, Outgoing, Parts, QueuedWebhook, Record, StoredHost, StoredReport, StoredSubscriber,
    WebhookQueue, Write,
};

/// What a store backend must do and guarantee. The battery
/// (`store::battery`, built for tests and under the `test-battery` feature)
/// checks each of these against a real instance; a new backend implements
/// this trait and runs the battery (`cordon_orchestrator::store_battery!`).
///
/// - **Durable before `Ok`:** [`commit`](Backend::commit) returns `Ok` only
///   once the writes survive a power cut (SQLite: WAL with
///   `synchronous = FULL`; PostgreSQL: the server's `synchronous_commit`,
///   on by default), because cordond changes the kernel and answers
///   the operator right after.
/// - **Unreachable is its own failure:** a server backend answers a
///   connection-level failure (refused, timed out, the server gone) with
///   [`StoreError::Unreachable`], never [`StoreError::Io`]: it is the one
///   failure a gateway's [`Outbox`] queues through rather than refuses.
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
/// - **Sessions:** [`Write::SessionBegan`] adds an open row (`ended`
///   absent, whatever the record said); [`Write::SessionEnded`] closes
///   every open row of that subscriber and address at `ended` (never
///   before the row's own start, so no row ends before it began), and
///   closing none is not an error (the start may predate the store, a
///   Stop may come twice). A closed row is never reopened or changed.
/// - **Retention purge** ([`Write::Purge`] `{ before }`): deletes audit
///   entries with `at < before`, marks applied before `before`, reports with `received_at < before`,
///   sessions that *ended* before `before`, and the records of *clean*
///   hosts last written before `before`; a quarantined or probation record
///   stays whatever its age (it is still in force), and so does an open
///   session (the address is still held). Nothing else ever deletes or
///   edits the audit trail or the session history. These are personal
///   data, so they go with the rest.
/// - **Marks** ([`Write::Mark`] `{ gateway, seq }`): a call carrying a
///   mark that is already applied stores nothing of that call and returns
///   `Ok`; otherwise its writes and the mark are stored in one
///   transaction. Only the marked call is skipped, never others grouped
///   with it; of concurrent calls with one mark, exactly one applies (a
///   server backend: the mark's primary key, `ON CONFLICT DO NOTHING`, and
///   the call's writes only when the insert took). This is what makes a
///   gateway's outbox replay (`store::outbox`) harmless when a batch
///   reached the store but its answer did not. A call without a mark
///   behaves as ever. Marks are kept until the retention purge removes
///   those applied (by the store's own clock) before its horizon: a batch
///   is sent again only while it waits in a gateway's outbox, so a replay
///   could repeat a batch only after the gateway had been cut off from the
///   store for longer than the retention period, and by then the purge
///   has removed that batch's audit entries and reports too.
/// - **Webhooks** ([`Write::Webhook`]): a queued event is a row numbered
///   in the order committed; [`webhooks_due`](Backend::webhooks_due)
///   reads one gateway's rows for one hook oldest first;
///   [`Write::WebhooksDone`] deletes that gateway's rows for the hook up
///   to a number, [`Write::WebhooksTrim`] all but the newest `keep`, and
///   the retention purge those whose event is older than its horizon
///   (they are personal data too). Keeping them
///   forever would grow the table by a row per commit without end.
/// - **Ordering:** history is newest first (in the order written, not by
///   `at`), filtered by address when asked, at most `limit` entries;
///   [`reports`](Backend::reports) is every report oldest first (the
///   order they were written, so the ledger rebuilds as it was built);
///   [`recent_reports`](Backend::recent_reports) is one unit's latest,
///   newest first; [`sessions`](Backend::sessions) is newest first by
///   `started`, then by the order written, for one subscriber or all, at
///   most `limit` rows; [`Loaded::sessions`] is every open session, oldest
///   first.
/// - **Who held an address when** ([`holder_at`](Backend::holder_at)): a
///   row holds its address at `t` when `started <= t` and it is open or
///   `ended > t` (a handover at `t` belongs to the new holder). The
///   answer is an index look-up, not a scan, because every report and
///   block-list hit asks it.
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

    /// Every host record, every report oldest first, and every open
    /// session.
    fn load(&self) -> BoxFuture<'_, Result<Loaded, StoreError>>;

    /// Commits `writes` (never empty) as one all-or-nothing transaction,
    /// durable before `Ok`.
    fn commit(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The audit trail, newest first, for one address (as stored), one
    /// subscriber, or all, at most `limit` entries.
    fn history(
        &self,
        address: Option<String>,
        subscriber: Option<String>,
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

    /// [`holder_at`](Backend::holder_at) for many questions at once, in
    /// one read (a `cordon import` of a feed asks one per report).
    fn holders_at(
        &self,
        questions: Vec<(Vec<String>, Unix)>,
    ) -> BoxFuture<'_, Result<Vec<Option<String>>, StoreError>>;

    /// The latest `limit` reports counted against a subscriber, newest
    /// first.
    fn recent_subscriber_reports(
        &self,
        subscriber: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>>;

    /// The session history, newest first (by `started`, then the order
    /// written), of one subscriber or everyone, at most `limit` rows.
    fn sessions(
        &self,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionRecord>, StoreError>>;

    /// The subscriber whose holding of any of `addresses` (texts as stored,
    /// matched exactly: the caller passes a unit and every wider prefix that
    /// could contain it) covers `at`; of several, the one that started
    /// latest. `None` when nobody held them then.
    fn holder_at(
        &self,
        addresses: Vec<String>,
        at: Unix,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>>;

    /// The oldest `limit` events `gateway` queued for `hook`, oldest first
    /// (in the order queued), and how many it queued in all.
    fn webhooks_due(
        &self,
        gateway: String,
        hook: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<WebhookQueue, StoreError>>;

    /// The local outbox in front of the store, when there is one
    /// ([`Outbox`]): since when the store has not answered, and how many
    /// batches wait. `None` for a store without one (SQLite: it is local,
    /// so there is nothing to wait for).
    fn outbox(&self) -> Option<OutboxState> {
        None
    }
}
