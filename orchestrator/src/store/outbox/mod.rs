//! The outbox: enforcement never waits on a remote store. [`Outbox`] is a
//! [`Backend`] in front of a server backend (PostgreSQL) that keeps
//! acknowledging decisions while that server cannot be reached, by queueing
//! them in a local SQLite file of its own, and replays them, oldest first
//! and each once, when the server answers again.
//!
//! What is durable when:
//!
//! - A commit takes the next batch number (`seq`) of this gateway. While
//!   nothing is queued it goes straight to the store as
//!   `[Mark { gateway, seq }, ..writes]`, and `Ok` means the store has it.
//! - If the store is unreachable ([`StoreError::is_unreachable`]) or has
//!   not answered within the time bound (it may still commit later), the
//!   batch is appended to the outbox file (`synchronous = FULL`) and `Ok`
//!   means it is on the local disk. Any other error is returned as is: the
//!   store refused the batch, and queueing it would only delay the refusal.
//! - While anything is queued, every commit is appended behind it, even if
//!   the store is back: a later decision never overtakes an earlier one.
//! - [`Outbox::replay`] sends the oldest batch with its mark and deletes it
//!   only after the store acknowledged it. A crash between the two, or an
//!   answer lost on the way, sends it again, which the mark makes harmless
//!   (the store skips a batch whose mark it has).
//! - A batch the store refuses for its data ([`StoreError::Refused`]: a
//!   constraint, a value it cannot hold) would be refused again at every
//!   try, holding up every batch behind it and, with them, the fleet's
//!   follower (it waits for an empty outbox) for ever. It is moved, in one
//!   local transaction, to the file's `refused` table with the store's
//!   answer, logged, counted (`cordon_store_outbox_refused`, `cordon
//!   status`), and the replay goes on. Nothing is deleted: the operator
//!   reads it there (`sqlite3 FILE 'SELECT * FROM refused'`). So is a
//!   batch whose JSON this cordond cannot parse. Any other failure (the
//!   server's own, such as permissions or a full disk; a batch queued by a
//!   newer cordond; an address the config no longer admits) may pass, or
//!   names its remedy: it stays queued and blocks the ones behind it.
//! - Batch numbers are never reused, across restarts and even if the outbox
//!   file is lost: a number is at least the microseconds since the epoch at
//!   open, and the file keeps a ceiling reserved in blocks (one fsync per
//!   65 536 commits), so a clock stepped back does not reuse one either.
//!
//! Who replays: [`Outbox::spawn_replayer`] runs a task that replays on a
//! timer and at once when woken ([`Outbox::wake`]: a batch was queued, or
//! the daemon saw the store come back, such as a `LISTEN` connection
//! reconnecting); `replay` may also be called directly. Reads go to the
//! store under the same time bound and fail with
//! [`StoreError::Unreachable`] when it is away: the daemon decides what to
//! do (its own state is in memory; a `cordon history` says the store is
//! away). [`Outbox::state`] says since when the store has not answered and
//! how many batches wait (`cordon status`, the metrics).
//!
//! Only a server backend is wrapped: a SQLite store is on the local disk
//! already. The daemon wraps the PostgreSQL backend when `store.backend` is
//! `postgres` (the outbox file beside the store's state,
//! [`DEFAULT_PATH`]).

mod backend;
mod local;
mod snapshot;
mod start;
mod wire;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cordon_config::Config;
use futures::future::BoxFuture;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Backend, StoreError, Write};
use local::Local;
use snapshot::Snapshot;

/// Where the outbox file lives by default: beside the SQLite store's
/// default place, with the gateway's other state.
pub const DEFAULT_PATH: &str = "/var/lib/cordon/outbox.db";

/// How long a call to the store may take before it counts as unreachable
/// (as a PostgreSQL connect timeout would): long enough for a busy server,
/// short enough that a quarantine is acknowledged within seconds.
pub const DEFAULT_BOUND: Duration = Duration::from_secs(5);

/// Batch numbers reserved per fsync of the ceiling.
const RESERVE: u64 = 1 << 16;

/// The outbox at a glance, for `cordon status` and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxState {
    /// Since when the store has not answered; `None` while it does (or
    /// nothing has been asked of it since the outbox opened).
    pub unreachable_since: Option<SystemTime>,
    /// Batches waiting to be replayed.
    pub queued: u64,
    /// Batches the store refused, kept aside in the outbox file.
    pub refused: u64,
}

/// The next batch number, and the reserved ceiling it must stay under.
#[derive(Debug)]
struct Seqs {
    next: u64,
    reserved: u64,
}

/// The metrics the outbox keeps current.
#[derive(Debug, Clone)]
struct Gauges {
    queued: Gauge,
    reachable: Gauge,
    refused: Gauge,
}

/// A [`Backend`] decorator that queues commits locally while the store it
/// wraps cannot be reached (see the module's documentation).
#[derive(Debug)]
pub struct Outbox {
    remote: Arc<dyn Backend>,
    local: Arc<Local>,
    snapshot: Arc<Snapshot>,
    gateway: String,
    config: Config,
    bound: Duration,
    seqs: tokio::sync::Mutex<Seqs>,
    state: Mutex<OutboxState>,
    replaying: tokio::sync::Mutex<()>,
    wake: Notify,
    gauges: OnceLock<Gauges>,
}

/// Microseconds since the epoch (0 if the clock is before it).
fn micros_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Unix seconds now.
fn unix_now() -> i64 {
    i64::try_from(micros_now() / 1_000_000).unwrap_or(i64::MAX)
}

impl Outbox {
    /// Opens (or creates) the outbox file at `path` in front of `remote`,
    /// for this `gateway` (its name in the fleet, which marks its batches).
    /// `config` reads queued batches back (their addresses are checked as
    /// the store's are at start); `bound` is how long a call to the store
    /// may take ([`DEFAULT_BOUND`]). Blocks on the file, like opening the
    /// store: call it at start.
    pub fn open(
        remote: Arc<dyn Backend>,
        path: &Path,
        gateway: impl Into<String>,
        config: Config,
        bound: Duration,
    ) -> Result<Outbox, StoreError> {
        let local = Local::open(path)?;
        let snapshot = Snapshot::open(path)?;
        let (queued, ceiling) = local.count_and_ceiling()?;
        let refused = local.refused()?;
        let next = ceiling.max(micros_now()).max(1);
        Ok(Outbox {
            remote,
            local: Arc::new(local),
            snapshot: Arc::new(snapshot),
            gateway: gateway.into(),
            config,
            bound,
            seqs: tokio::sync::Mutex::new(Seqs {
                next,
                reserved: next,
            }),
            state: Mutex::new(OutboxState {
                unreachable_since: None,
                queued,
                refused,
            }),
            replaying: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            gauges: OnceLock::new(),
        })
    }

    /// Keeps `cordon_store_outbox_batches` (batches waiting),
    /// `cordon_store_reachable` (1 while the store answers, 0 while it does
    /// not) and `cordon_store_outbox_refused` (batches kept aside) of
    /// `metrics` current from now on. Only the first call counts: the
    /// metrics are registered once.
    pub fn report_to(&self, metrics: &crate::metrics::Metrics) {
        let gauges = Gauges {
            queued: metrics.store_outbox_batches.clone(),
            reachable: metrics.store_reachable.clone(),
            refused: metrics.store_outbox_refused.clone(),
        };
        if self.gauges.set(gauges).is_ok() {
            self.publish(&self.state());
        }
    }

    /// The outbox file.
    pub fn path(&self) -> &Path {
        self.local.path()
    }

    /// Since when the store has not answered, and how many batches wait.
    pub fn state(&self) -> OutboxState {
        match self.state.lock() {
            Ok(s) => *s,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Asks the replay task ([`Outbox::spawn_replayer`]) to try now rather
    /// than at its next tick: the daemon calls it when it sees the store
    /// come back.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn update(&self, f: impl FnOnce(&mut OutboxState)) {
        let now = {
            let mut s = match self.state.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            let was = s.unreachable_since;
            f(&mut s);
            if was.is_none() && s.unreachable_since.is_some() {
                tracing::warn!(
                    store = %self.remote.location().display(),
                    queued = s.queued,
                    "the store cannot be reached: decisions are queued in the outbox until it answers"
                );
            } else if was.is_some() && s.unreachable_since.is_none() {
                tracing::info!(
                    store = %self.remote.location().display(),
                    queued = s.queued,
                    "the store answers again"
                );
            }
            *s
        };
        self.publish(&now);
    }

    fn publish(&self, s: &OutboxState) {
        if let Some(g) = self.gauges.get() {
            g.queued.set(i64::try_from(s.queued).unwrap_or(i64::MAX));
            g.reachable.set(i64::from(s.unreachable_since.is_none()));
            g.refused.set(i64::try_from(s.refused).unwrap_or(i64::MAX));
        }
    }

    /// Notes what a call to the store said about its reachability.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        match result {
            // A refusal is an answer: the store is there.
            Ok(_) | Err(StoreError::Refused { .. }) => {
                self.update(|s| s.unreachable_since = None);
            }
            Err(e) if e.is_unreachable() => self.update(|s| {
                s.unreachable_since.get_or_insert_with(SystemTime::now);
            }),
            Err(_) => {}
        }
    }

    /// A call to the store, bounded in time; one that has not answered
    /// within the bound counts as unreachable.
    async fn bounded<T>(
        &self,
        call: BoxFuture<'_, Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.bound, call).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::unreachable(
                self.remote.location().display().to_string(),
                format!("no answer within {:?}", self.bound),
            )),
        };
        self.observe(&result);
        result
    }

    /// Runs a call on the outbox file off the async threads.
    async fn on_file<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Local) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let local = Arc::clone(&self.local);
        tokio::task::spawn_blocking(move || f(&local))
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    /// The next batch number, reserving a block durably when the last one
    /// is used up.
    async fn next_seq(&self) -> Result<u64, StoreError> {
        let mut seqs = self.seqs.lock().await;
        if seqs.next >= seqs.reserved {
            let ceiling = seqs.next.saturating_add(RESERVE);
            self.on_file(move |l| l.reserve(ceiling)).await?;
            seqs.reserved = ceiling;
        }
        let seq = seqs.next;
        seqs.next += 1;
        Ok(seq)
    }

    fn mark(&self, seq: u64) -> Write {
        Write::Mark {
            gateway: self.gateway.clone(),
            seq,
        }
    }

    /// Appends a batch to the outbox file (durable on return) and wakes the
    /// replay task.
    async fn enqueue(&self, seq: u64, writes: &[Write]) -> Result<(), StoreError> {
        let body = wire::encode(writes).map_err(|e| StoreError::BadRecord {
            path: self.path().to_owned(),
            what: format!("batch {seq} on its way into the outbox"),
            source: Box::new(e),
        })?;
        let now = unix_now();
        self.on_file(move |l| l.append(seq, &body, now)).await?;
        self.update(|s| s.queued += 1);
        self.wake();
        Ok(())
    }

    async fn commit_or_queue(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let seq = self.next_seq().await?;
        if self.state().queued == 0 {
            let mut batch = Vec::with_capacity(writes.len() + 1);
            batch.push(self.mark(seq));
            batch.extend(writes.iter().cloned());
            match self.bounded(self.remote.commit(batch)).await {
                Ok(()) => {
                    self.keep_in_snapshot(writes).await;
                    return Ok(());
                }
                Err(e) if e.is_unreachable() => {
                    tracing::debug!(seq, error = %e, "queued in the outbox");
                }
                Err(e) => return Err(e),
            }
        }
        self.enqueue(seq, &writes).await?;
        self.keep_in_snapshot(writes).await;
        Ok(())
    }

    /// Sends the queued batches to the store, oldest first, each with its
    /// mark, deleting each only once the store acknowledged it; returns
    /// how many it sent. A batch the store refuses for its data, or whose
    /// JSON cannot be parsed, is moved aside (see the module's
    /// documentation) and the replay goes on. Stops at any other failure,
    /// and the batch stays queued: [`StoreError::Unreachable`] when the
    /// store is still away; a failure of the store's own, or a batch this
    /// cordond cannot read back ([`StoreError::BadRecord`], saying why and
    /// what to do), blocks the ones behind it (they must not overtake it).
    /// One replay runs at a time.
    pub async fn replay(&self) -> Result<u64, StoreError> {
        let _one = self.replaying.lock().await;
        let mut sent = 0;
        while let Some((seq, body)) = self.on_file(Local::oldest).await? {
            let writes = match wire::decode(&body, &self.config) {
                Ok(writes) => writes,
                Err(e @ wire::Unreadable::Json(_)) => {
                    self.set_aside(seq, &format!("cannot be read back: {e}"))
                        .await?;
                    continue;
                }
                Err(e) => {
                    return Err(StoreError::BadRecord {
                        path: self.path().to_owned(),
                        what: format!("queued batch {seq}"),
                        source: Box::new(e),
                    });
                }
            };
            let mut batch = Vec::with_capacity(writes.len() + 1);
            batch.push(self.mark(seq));
            batch.extend(writes);
            match self.bounded(self.remote.commit(batch)).await {
                Ok(()) => {}
                Err(StoreError::Refused { source, .. }) => {
                    self.set_aside(seq, &source.to_string()).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.on_file(move |l| l.delete(seq)).await?;
            self.update(|s| s.queued = s.queued.saturating_sub(1));
            sent += 1;
        }
        Ok(sent)
    }

    /// Moves queued batch `seq` to the `refused` table with `why`, and
    /// says so in the log (escaped: the store's answer may quote the
    /// batch's words, which came from outside).
    async fn set_aside(&self, seq: u64, why: &str) -> Result<(), StoreError> {
        let (text, now) = (why.to_owned(), unix_now());
        self.on_file(move |l| l.refuse(seq, &text, now)).await?;
        self.update(|s| {
            s.queued = s.queued.saturating_sub(1);
            s.refused += 1;
        });
        tracing::error!(
            seq,
            error = %cordon_proto::text::printable(why),
            outbox = %self.path().display(),
            "the store refused a queued batch of decisions; it is kept in the outbox file's `refused` table (sqlite3 FILE 'SELECT * FROM refused') and the batches behind it go on"
        );
        Ok(())
    }

    /// Starts the replay task: it replays whenever batches wait, every
    /// `every` and at once when woken ([`Outbox::wake`]), until `stop`.
    /// It logs that the store came back, and a failure other than the
    /// store being away once each time it changes (not once a tick).
    pub fn spawn_replayer(
        self: &Arc<Self>,
        every: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let outbox = Arc::clone(self);
        tokio::spawn(async move {
            let mut last_refusal: Option<String> = None;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = outbox.wake.notified() => {}
                    () = tokio::time::sleep(every) => {}
                }
                if outbox.state().queued == 0 {
                    continue;
                }
                match outbox.replay().await {
                    Ok(sent) => {
                        last_refusal = None;
                        tracing::info!(batches = sent, "the outbox replayed its queued decisions");
                    }
                    Err(e) if e.is_unreachable() => {}
                    Err(e) => {
                        let text = e.to_string();
                        if last_refusal.as_ref() != Some(&text) {
                            tracing::error!(error = %text, outbox = %outbox.path().display(), "the outbox cannot replay its oldest batch; it and the ones behind it stay queued");
                            last_refusal = Some(text);
                        }
                    }
                }
            }
        })
    }
}
