//! The core: the one task that carries out `cordon-policy`'s decisions.
//!
//! Everything that changes a record comes here as a [`Command`] through a
//! [`CoreHandle`]. Requests that arrive together are one batch (`batch`):
//! the policy's [`Engine`] decides it and returns a plan, which the core
//! carries out in order — store first, then the kernel, then conntrack —
//! and only then answers (`apply`), except that detection's crossings are
//! enforced before they are recorded (`first`). The store's commit runs
//! while the core decides the next batches, which go together into the
//! next commit (`pipeline`); the conntrack flush runs beside the core too
//! (`flush`). Time passes
//! through `timers`; the table is installed and reloaded by `install` and
//! kept as installed by `repair`.
//!
//! The core depends on the policy, the store, the kernel and the metrics;
//! nothing here knows about sockets or detection's tasks (they hold a
//! handle).

mod apply;
mod batch;
mod first;
mod flush;
mod handle;
mod install;
mod net;
mod pipeline;
mod repair;
mod timers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pg;

#[cfg(test)]
mod many_tests;

#[cfg(test)]
mod first_tests;

#[cfg(test)]
mod pipeline_tests;

use std::sync::Arc;
use std::time::Duration;

use cordon_config::Config;
use cordon_policy::{Engine, Input};
use cordon_proto::time::{Clock, SystemClock};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::kernel::{Enforcer, KernelError, NetKernel};
use crate::metrics::Metrics;
use crate::store::{Loaded, Store};

use apply::Waiting;

pub use cordon_policy::View;
pub use handle::{
    Applied, AppliedMany, Command, CoreHandle, Counts, Failure, ReloadError, SessionApplied,
    SubscriberNow, Taken,
};
pub use repair::Asked;

/// The core's state.
#[derive(Debug)]
pub struct Core {
    config: Arc<Config>,
    config_tx: watch::Sender<Arc<Config>>,
    engine: Engine,
    store: Store,
    kernel: Arc<dyn Enforcer>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    last_reconcile: Option<i64>,
    /// What the last repair of the table could not undo.
    table_unrepaired: Vec<cordon_rules::Difference>,
    /// Conntrack flushes and the answers waiting on them (started on
    /// first use, inside the runtime).
    flusher: Option<flush::Flusher>,
    /// This gateway's name, on the webhook events it queues.
    gateway: String,
    /// Rung after a commit that queued webhook events (the senders wait on
    /// it).
    webhook_wake: Arc<tokio::sync::Notify>,
    /// The commit under way and the batches decided behind it.
    pipeline: pipeline::Pipeline,
}

/// Wires a core: the one way `cordond` and the tests build one. The kernel,
/// the metrics and the clock default to the real ones.
#[derive(Debug)]
pub struct Builder {
    config: Arc<Config>,
    store: Store,
    kernel: Option<Arc<dyn Enforcer>>,
    metrics: Option<Arc<Metrics>>,
    clock: Option<Arc<dyn Clock>>,
    webhooks: Option<(String, Arc<tokio::sync::Notify>)>,
}

/// A core built over what the store held.
#[derive(Debug)]
pub struct Built {
    /// The core, before its table is installed ([`Core::install`]).
    pub core: Core,
    /// The config in force, as it changes with reloads.
    pub config: watch::Receiver<Arc<Config>>,
    /// Stored records the config no longer admits, with why: kept in the
    /// store, not enforced (the caller says so loudly).
    pub rejected: Vec<(String, String)>,
    /// How many stored reports rebuilt the ledger.
    pub reports: usize,
}

impl Builder {
    /// The kernel edge (default: nftables, conntrack and the neighbour
    /// table for real).
    pub fn kernel(mut self, kernel: Arc<dyn Enforcer>) -> Self {
        self.kernel = Some(kernel);
        self
    }

    /// The metrics (default: a fresh registry).
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The clock (default: the system's).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// This gateway's name and the webhook senders' wake-up (default: the
    /// name `gateway` and a wake-up nobody waits on).
    pub fn webhooks(mut self, gateway: String, wake: Arc<tokio::sync::Notify>) -> Self {
        self.webhooks = Some((gateway, wake));
        self
    }

    /// The core over the records and reports the store loaded.
    pub fn build(self, mut loaded: Loaded) -> Built {
        let config = self.config;
        let reports = std::mem::take(&mut loaded.reports);
        let (hosts, open, rejected) = loaded.into_parts(&config);
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let mut engine = Engine::new(&config, hosts, open);
        engine.rebuild_reports(&config, &reports, clock.now());
        let (config_tx, config_rx) = watch::channel(config.clone());
        let kernel = self
            .kernel
            .unwrap_or_else(|| Arc::new(NetKernel::new(&config)));
        let (gateway, webhook_wake) = self
            .webhooks
            .unwrap_or_else(|| ("gateway".into(), Arc::default()));
        Built {
            core: Core {
                config,
                config_tx,
                engine,
                store: self.store,
                kernel,
                metrics: self.metrics.unwrap_or_default(),
                clock,
                last_reconcile: None,
                table_unrepaired: Vec::new(),
                flusher: None,
                gateway,
                webhook_wake,
                pipeline: pipeline::Pipeline::default(),
            },
            config: config_rx,
            rejected,
            reports: reports.len(),
        }
    }
}

/// Runs a blocking kernel call off the core's thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KernelError> + Send + 'static,
) -> Result<T, KernelError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(KernelError::Netlink {
            what: "run a kernel task".into(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

impl Core {
    /// Starts wiring a core for `config` over `store`.
    pub fn builder(config: Arc<Config>, store: Store) -> Builder {
        Builder {
            config,
            store,
            kernel: None,
            metrics: None,
            clock: None,
            webhooks: None,
        }
    }

    /// The kernel edge the core drives.
    pub fn kernel(&self) -> Arc<dyn Enforcer> {
        self.kernel.clone()
    }

    /// The metrics the core counts into.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    fn flusher(&mut self) -> &flush::Flusher {
        let (kernel, metrics) = (self.kernel.clone(), self.metrics.clone());
        self.flusher
            .get_or_insert_with(|| flush::Flusher::spawn(kernel, metrics))
    }

    fn update_gauges(&self) {
        self.metrics.set_hosts(self.engine.tally());
    }

    /// How often the quiet test and the timers are checked: a fraction of
    /// the quiet period, between 1 s and 30 s.
    fn check_every(&self) -> Duration {
        (self.engine.quiet_period() / 30).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// Runs until cancelled.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        reconcile_every: Duration,
        cancel: CancellationToken,
    ) {
        let mut checks = tokio::time::interval(self.check_every());
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reconciles = tokio::time::interval(reconcile_every);
        reconciles.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reconciles.reset();
        let mut purges = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                result = self.pipeline.committed() => self.after_commit(result).await,
                first = commands.recv() => {
                    let Some(first) = first else { break };
                    let batch = batch::gather(&mut commands, first);
                    self.commands(batch).await;
                }
                _ = checks.tick() => self.timers().await,
                _ = reconciles.tick() => {
                    self.drain().await;
                    if let Err(e) = self.reconcile().await {
                        warn!(error = %e, "reconcile failed; retrying at the next one");
                    }
                }
                _ = purges.tick() => {
                    self.drain().await;
                    self.purge().await;
                }
            }
        }
        // What was decided is carried out and answered before the core
        // goes.
        self.drain().await;
    }

    /// Answers what only reads at once; decides the rest as one batch.
    async fn commands(&mut self, batch: Vec<Command>) {
        let mut inputs = Vec::new();
        let mut waiting = Vec::new();
        let mut check = None;
        for cmd in batch {
            match cmd {
                Command::Apply(event, reply) => {
                    inputs.push(Input::Event(event));
                    waiting.push(Waiting::Event(reply));
                }
                Command::ApplyMany(events, reply) => {
                    waiting.push(Waiting::Events(reply, events.len()));
                    inputs.extend(events.into_iter().map(Input::Event));
                }
                Command::Report(incoming, reply) => {
                    waiting.push(Waiting::Reports(reply, incoming.len()));
                    inputs.extend(incoming.into_iter().map(Input::Report));
                }
                Command::Session(event, reply) => {
                    inputs.push(Input::Session(event));
                    waiting.push(Waiting::Session(reply));
                }
                Command::View(addrs, reply) => {
                    let now = self.clock.now();
                    let _ = reply.send(addrs.iter().map(|a| self.engine.view(a, now)).collect());
                }
                Command::ViewSubscriber(id, reply) => {
                    let _ = reply.send(self.engine.view_subscriber(&id, self.clock.now()));
                }
                Command::List(reply) => {
                    let _ = reply.send(self.engine.list(self.clock.now()));
                }
                Command::Counts(reply) => {
                    let t = self.engine.tally();
                    let _ = reply.send(Counts {
                        quarantined: u64::try_from(t.quarantined).unwrap_or(u64::MAX),
                        noticed: u64::try_from(t.noticed).unwrap_or(u64::MAX),
                        probation: u64::try_from(t.probation).unwrap_or(u64::MAX),
                        last_reconcile: self.last_reconcile,
                        table_unrepaired: self.unrepaired(),
                    });
                }
                Command::Reload(config, reply) => {
                    self.drain().await;
                    let _ = reply.send(self.reload(config).await);
                }
                Command::CheckTable(asked) => check = check.max(Some(asked)),
                Command::Stored(hosts) => {
                    waiting.extend(hosts.iter().map(|_| Waiting::Nobody));
                    inputs.extend(hosts.into_iter().map(Input::Stored));
                }
                Command::Suspect {
                    unit,
                    signal,
                    action,
                    at,
                } => self.engine.suspect(unit, &signal, action, at),
            }
        }
        for (run, askers) in first::runs(inputs, waiting) {
            self.decide(run, askers).await;
        }
        if let Some(asked) = check {
            self.drain().await;
            if let Err(e) = self.repair_table(asked).await {
                warn!(error = %e, "comparing the table failed; the next reconcile retries");
            }
        }
    }
}

/// Starts the core task; returns its handle.
pub fn spawn(
    core: Core,
    reconcile_every: Duration,
    cancel: CancellationToken,
    tracker: &tokio_util::task::TaskTracker,
) -> CoreHandle {
    let (tx, rx) = mpsc::channel(4096);
    tracker.spawn(core.run(rx, reconcile_every, cancel));
    CoreHandle(tx)
}
