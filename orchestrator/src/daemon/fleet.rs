//! Following the fleet: a gateway enforces what any gateway decided, for
//! the subscribers and addresses it serves.
//!
//! Every write to the shared store moves its change feed; the database
//! says so (`NOTIFY`), and this task reads what changed since the last
//! position it applied and hands the records to the core, which adopts
//! them (`Input::Stored`): the kernel follows, nothing is written again.
//! A notification can be lost (the listening connection dropped): when the
//! connection comes back the task reads everything again from position 0,
//! as a start does; and it also asks once a second whatever it was told,
//! so a gateway is never more than about a second behind even if the
//! database never said a word.
//!
//! While this gateway's own decisions wait in the outbox (the database was
//! away), it does not adopt: the database may still hold what those
//! decisions replace, and adopting it would free someone this gateway
//! just walled in. The outbox is replayed first; the store's conflict rule
//! then decides, and the next read brings back the winner.

use std::sync::Arc;
use std::time::Duration;

use cordon_config::Config;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::core::CoreHandle;
use crate::store::feed::{Feed, Position};

/// Rows read per question: a full reconcile of 100 000 records is a few
/// dozen reads, none of them holding megabytes.
const PAGE: u32 = 5_000;

/// The longest this gateway goes without asking the feed.
const POLL: Duration = Duration::from_secs(1);

/// Whether this gateway's own decisions are still waiting to reach the
/// store (the outbox is not empty); a follower then waits.
pub trait Pending: Send + Sync {
    /// Whether anything waits.
    fn pending(&self) -> bool;

    /// Keeps what the follower adopted in the local snapshot a start
    /// uses when the store is away (the outbox's); nothing by default.
    fn remember(&self, _hosts: Vec<cordon_policy::lifecycle::Host>) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Follows `feed` from `after` (the position the start's load reached)
/// until cancelled.
pub async fn follow(
    feed: Arc<dyn Feed>,
    core: CoreHandle,
    config: watch::Receiver<Arc<Config>>,
    pending: Arc<dyn Pending>,
    mut after: Position,
    cancel: CancellationToken,
) {
    let mut signal = feed.signal();
    let mut connection = signal.borrow().connection;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            changed = signal.changed() => if changed.is_err() { return },
            _ = poll.tick() => {}
        }
        let now = *signal.borrow_and_update();
        if now.connection != connection {
            connection = now.connection;
            info!(
                gateway = feed.gateway(),
                "listening to the fleet again; reading every record, as at start"
            );
            after = 0;
        }
        if pending.pending() {
            continue;
        }
        match catch_up(feed.as_ref(), &core, &config, pending.as_ref(), after).await {
            Ok(upto) => {
                if failing {
                    info!("the fleet's store answers again");
                }
                failing = false;
                after = upto;
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "reading what the fleet decided failed; enforcing what is known and retrying every second");
                }
                failing = true;
            }
        }
    }
}

/// Reads every change after `after`, page by page, and hands each page to
/// the core; returns the position reached.
async fn catch_up(
    feed: &dyn Feed,
    core: &CoreHandle,
    config: &watch::Receiver<Arc<Config>>,
    pending: &dyn Pending,
    mut after: Position,
) -> Result<Position, crate::store::StoreError> {
    loop {
        let changes = feed.changes(after, PAGE).await?;
        let rows = changes.hosts.len() + changes.subscribers.len();
        let upto = changes.upto;
        let config = config.borrow().clone();
        let (hosts, elsewhere) = changes.into_hosts(&config);
        if !hosts.is_empty() {
            debug!(
                records = hosts.len(),
                elsewhere, upto, "adopting what the fleet decided"
            );
            if !core.stored(hosts.clone()).await {
                return Ok(after);
            }
            pending.remember(hosts).await;
        }
        after = upto.max(after);
        if rows < PAGE as usize {
            return Ok(after);
        }
    }
}

/// How often this gateway tells the fleet it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Registers this gateway and beats its heartbeat until cancelled; a
/// failure is said once, and again when it recovers.
pub async fn heartbeat(
    feed: Arc<dyn Feed>,
    clock: Arc<dyn cordon_proto::time::Clock>,
    cancel: CancellationToken,
) {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return,
            _ = every.tick() => {}
        }
        match feed.heartbeat(clock.now()).await {
            Ok(()) if failing => {
                info!(
                    gateway = feed.gateway(),
                    "heartbeat reaches the fleet's store again"
                );
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                warn!(gateway = feed.gateway(), error = %e, "heartbeat failed; retrying");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// Starts this gateway's part in the fleet: the outbox's gauges and
/// replay, the follower, the heartbeat, and a wake-up of the replay
/// whenever the listening connection comes back (the store is back).
pub fn spawn(
    fleet: &crate::store::Fleet,
    core: &CoreHandle,
    config: &watch::Receiver<Arc<Config>>,
    metrics: &crate::metrics::Metrics,
    clock: Arc<dyn cordon_proto::time::Clock>,
    cancel: &CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) {
    let outbox = fleet.outbox.clone();
    outbox.report_to(metrics);
    outbox.spawn_replayer(Duration::from_secs(1), cancel.clone());
    let pending: Arc<dyn Pending> = outbox.clone();
    tracker.spawn(follow(
        fleet.feed.clone(),
        core.clone(),
        config.clone(),
        pending,
        fleet.feed.start(),
        cancel.clone(),
    ));
    tracker.spawn(heartbeat(fleet.feed.clone(), clock, cancel.clone()));
    let (mut signal, stop) = (fleet.feed.signal(), cancel.clone());
    tracker.spawn(async move {
        let mut connection = signal.borrow().connection;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                changed = signal.changed() => if changed.is_err() { return },
            }
            let now = signal.borrow_and_update().connection;
            if now != connection {
                connection = now;
                outbox.wake();
            }
        }
    });
}

impl Pending for crate::store::outbox::Outbox {
    fn pending(&self) -> bool {
        self.state().queued > 0
    }

    fn remember(&self, hosts: Vec<cordon_policy::lifecycle::Host>) -> BoxFuture<'_, ()> {
        Box::pin(crate::store::outbox::Outbox::remember(self, hosts))
    }
}

#[cfg(test)]
mod tests;
