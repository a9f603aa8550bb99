//! The core task: the one owner of the lifecycle. It turns events into
//! actions and carries them out — store first, then the kernel, then
//! conntrack — and only then answers. Requests that arrive together are
//! handled as one batch: one store commit, one nft transaction, one
//! conntrack dump per address family.
//!
//! It also owns detection's memory ([`Book`]: the report ledger and the
//! suspects), so a report that reaches the score and the quarantine it
//! causes are decided in one place, in order.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cordon_config::{Action as SignalAction, Config, SubscriberAddr};
use cordon_proto::control::{ReportOutcome, Suspicion};
use cordon_proto::portal::HostState;
use ipnet::IpNet;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use cordon_policy::Book;
use cordon_proto::time::system_time;

use crate::detection::Incoming;
use crate::kernel::{Enforcer, KernelError};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, StoredReport, Write};
use cordon_policy::lifecycle::{
    Action, Event, Host, Lifecycle, Policy, QuarantineRequest, Refusal, State, Unix,
};

use cordon_policy::quiet::{BeforeQuarantine, Due, Quietness, Seen};

mod repair;

pub use repair::Asked;

/// Now, as Unix seconds.
pub fn now() -> Unix {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Why an event was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The lifecycle refused it (see [`Refusal`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The store could not write it; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored, but the kernel refused; the next reconcile retries.
    #[error(
        "the decision is stored, but the kernel refused it: {0}; cordond retries at its next reconcile (see its log)"
    )]
    Kernel(KernelError),
    /// cordond is stopping.
    #[error("cordond is stopping; try again once it is back")]
    Stopping,
}

/// A snapshot of one address for answers.
#[derive(Debug, Clone)]
pub struct View {
    /// The address asked about, or the suspect's unit in a listing.
    pub addr: SubscriberAddr,
    /// The deciding record, if any.
    pub host: Option<Host>,
    /// Self-releases left now.
    pub self_releases_left: u32,
    /// What detection saw without quarantining (observe mode).
    pub suspect: Option<Suspicion>,
    /// The outside-report score now.
    pub report_score: u32,
}

/// Counts for `cordon status`.
#[derive(Debug, Clone)]
pub struct Counts {
    /// Quarantined hosts.
    pub quarantined: u64,
    /// Hosts on probation.
    pub probation: u64,
    /// The last reconcile.
    pub last_reconcile: Option<Unix>,
    /// How the table still differs from cordond's after a repair failed,
    /// in words (empty: no failed repair).
    pub table_unrepaired: Vec<String>,
}

type Reply<T> = oneshot::Sender<T>;

/// Where the outcome of an applied event goes (timers' events go nowhere).
type ApplyReply = Option<Reply<Result<Option<Host>, Failure>>>;

/// What the socket servers ask the core.
#[derive(Debug)]
pub enum Command {
    /// Carry out an event and answer with the host as it then stands.
    Apply(Event, Reply<Result<Option<Host>, Failure>>),
    /// The record deciding about an address.
    View(SubscriberAddr, Reply<View>),
    /// Every non-clean record.
    List(Reply<Vec<View>>),
    /// Counts.
    Counts(Reply<Counts>),
    /// A new config (already checked): install its table, then use it.
    Reload(Arc<Config>, Reply<Result<(), ReloadError>>),
    /// Outside reports, already checked: store, score, and act on the score.
    Report(Vec<Incoming>, Reply<Vec<ReportOutcome>>),
    /// Compare the live table with the installed one and repair it.
    CheckTable(Asked),
    /// A signal fired for a unit without quarantining it.
    Suspect {
        /// Whom.
        unit: SubscriberAddr,
        /// Which signal.
        signal: String,
        /// Its configured action (`observe`, `notice`).
        action: SignalAction,
        /// When.
        at: Unix,
    },
}

/// A handle to send commands to the core.
#[derive(Debug, Clone)]
pub struct CoreHandle(mpsc::Sender<Command>);

impl CoreHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.0.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Carries out an event.
    pub async fn apply(&self, event: Event) -> Result<Option<Host>, Failure> {
        self.ask(|r| Command::Apply(event, r))
            .await
            .unwrap_or(Err(Failure::Stopping))
    }

    /// One address.
    pub async fn view(&self, addr: SubscriberAddr) -> Option<View> {
        self.ask(|r| Command::View(addr, r)).await
    }

    /// All non-clean addresses.
    pub async fn list(&self) -> Option<Vec<View>> {
        self.ask(Command::List).await
    }

    /// Counts.
    pub async fn counts(&self) -> Option<Counts> {
        self.ask(Command::Counts).await
    }

    /// Reloads.
    pub async fn reload(&self, config: Arc<Config>) -> Option<Result<(), ReloadError>> {
        self.ask(|r| Command::Reload(config, r)).await
    }

    /// Takes outside reports; answers once they are stored and any
    /// quarantine they caused is in force.
    pub async fn report(&self, reports: Vec<Incoming>) -> Option<Vec<ReportOutcome>> {
        self.ask(|r| Command::Report(reports, r)).await
    }

    /// Asks for the table to be compared and repaired (no answer: the
    /// repair logs and counts itself).
    pub async fn check_table(&self, asked: Asked) -> bool {
        self.0.send(Command::CheckTable(asked)).await.is_ok()
    }

    /// Remembers a suspect (no answer: nothing waits on it).
    pub async fn suspect(
        &self,
        unit: SubscriberAddr,
        signal: &str,
        action: SignalAction,
        at: Unix,
    ) -> bool {
        self.0
            .send(Command::Suspect {
                unit,
                signal: signal.to_owned(),
                action,
                at,
            })
            .await
            .is_ok()
    }
}

/// The core's state.
#[derive(Debug)]
pub struct Core {
    config: Arc<Config>,
    config_tx: watch::Sender<Arc<Config>>,
    lifecycle: Lifecycle,
    store: Store,
    kernel: Arc<dyn Enforcer>,
    metrics: Arc<Metrics>,
    last_reconcile: Option<Unix>,
    book: Book,
    before: BeforeQuarantine,
    /// What the last repair of the table could not undo.
    table_unrepaired: Vec<cordon_rules::Difference>,
}

/// Why a new config was not applied on SIGHUP (the running one stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// A setting the running daemon is built around changed.
    #[error("`{0}` cannot change while cordond runs; restart cordond to apply it")]
    NeedsRestart(&'static str),
    /// The kernel refused the new ruleset.
    #[error("the kernel refused the new ruleset: {0}")]
    Kernel(#[from] KernelError),
}

/// Largest batch of requests handled together.
const BATCH: usize = 1024;
/// Longest wait for the rest of a batch (see [`gather`]).
const GATHER: Duration = Duration::from_millis(2);
/// Up to this many quarantines whose earlier attempts are unknown are looked
/// up one by one (an `nft` process each); more are read from one listing.
const POINT_LOOKUPS: usize = 16;

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
    /// A core over the loaded records.
    pub fn new(
        config: Arc<Config>,
        config_tx: watch::Sender<Arc<Config>>,
        hosts: Vec<Host>,
        store: Store,
        kernel: Arc<dyn Enforcer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let lifecycle = Lifecycle::new(Policy::from_config(&config.quarantine), hosts);
        let book = Book::new(&config);
        Core {
            book,
            config,
            config_tx,
            lifecycle,
            store,
            kernel,
            metrics,
            last_reconcile: None,
            before: BeforeQuarantine::default(),
            table_unrepaired: Vec::new(),
        }
    }

    /// Rebuilds the report ledger from the reports the store held at start.
    pub fn with_reports(mut self, stored: &[StoredReport]) -> Self {
        self.book.rebuild(&self.config, stored, SystemTime::now());
        self
    }

    /// Installs the table with the store's quarantines (the store is the
    /// truth), logging how the kernel differed if a table was there.
    pub async fn install(&mut self) -> Result<(), KernelError> {
        let desired = self.lifecycle.quarantined();
        let kernel = self.kernel.clone();
        let config = self.config.clone();
        let before = blocking(move || {
            let before = if kernel.exists()? {
                Some(kernel.quarantined()?)
            } else {
                None
            };
            kernel.install(&config, &desired)?;
            Ok(before)
        })
        .await?;
        match before {
            None => info!(
                quarantined = self.lifecycle.quarantined().len(),
                "table installed from the store"
            ),
            Some(before) => {
                self.log_diff(&before, "at start");
                info!(
                    quarantined = self.lifecycle.quarantined().len(),
                    "table replaced from the store"
                );
            }
        }
        self.last_reconcile = Some(now());
        self.update_gauges();
        Ok(())
    }

    fn update_gauges(&self) {
        let t = self.lifecycle.tally();
        self.metrics.set_hosts(t.quarantined, t.probation);
    }

    /// How often the quiet test and the timers are checked: a fraction of
    /// the quiet period, between 1 s and 30 s.
    fn check_every(&self) -> Duration {
        (self.lifecycle.policy().quiet_period / 30)
            .clamp(Duration::from_secs(1), Duration::from_secs(30))
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
        let mut last = 0;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                first = commands.recv() => {
                    let Some(first) = first else { break };
                    let batch = gather(&mut commands, first, last).await;
                    last = batch.len();
                    self.commands(batch).await;
                }
                _ = checks.tick() => self.timers().await,
                _ = reconciles.tick() => {
                    if let Err(e) = self.reconcile().await {
                        warn!(error = %e, "reconcile failed; retrying at the next one");
                    }
                }
                _ = purges.tick() => self.purge().await,
            }
        }
    }

    async fn commands(&mut self, batch: Vec<Command>) {
        let mut events = Vec::new();
        let mut reports = Vec::new();
        let mut check = None;
        for cmd in batch {
            match cmd {
                Command::Apply(event, reply) => events.push((event, Some(reply))),
                Command::View(addr, reply) => {
                    let _ = reply.send(self.view(&addr));
                }
                Command::List(reply) => {
                    let mut views: Vec<View> = self
                        .lifecycle
                        .hosts()
                        .filter(|h| !matches!(h.state, State::Clean))
                        .map(|h| self.view_of(h))
                        .collect();
                    // Suspects that are otherwise clean are listed too.
                    let suspects: Vec<SubscriberAddr> = self
                        .book
                        .suspects()
                        .map(|(u, _)| *u)
                        .filter(|u| self.state_of(u) == HostState::Clean)
                        .collect();
                    views.extend(suspects.iter().map(|u| self.view(u)));
                    let _ = reply.send(views);
                }
                Command::Counts(reply) => {
                    let t = self.lifecycle.tally();
                    let _ = reply.send(Counts {
                        quarantined: u64::try_from(t.quarantined).unwrap_or(u64::MAX),
                        probation: u64::try_from(t.probation).unwrap_or(u64::MAX),
                        last_reconcile: self.last_reconcile,
                        table_unrepaired: self.unrepaired(),
                    });
                }
                Command::Reload(config, reply) => {
                    let _ = reply.send(self.reload(config).await);
                }
                Command::Report(incoming, reply) => reports.push((incoming, reply)),
                Command::CheckTable(asked) => check = check.max(Some(asked)),
                Command::Suspect {
                    unit,
                    signal,
                    action,
                    at,
                } => self.book.suspect(unit, &signal, action, at),
            }
        }
        if !events.is_empty() {
            self.process(events).await;
        }
        if !reports.is_empty() {
            self.reports(reports).await;
        }
        if let Some(asked) = check
            && let Err(e) = self.repair_table(asked).await
        {
            warn!(error = %e, "comparing the table failed; the next reconcile retries");
        }
    }

    /// Stores reports with their audit entries, adds them to the ledger,
    /// and applies `detection.reports.action` to units that reach the
    /// score. Answers after the quarantines are in force.
    async fn reports(&mut self, batch: Vec<(Vec<Incoming>, Reply<Vec<ReportOutcome>>)>) {
        let now_unix = now();
        let now_sys = system_time(now_unix);
        let snapshot = self.book.clone();
        let action = self.config.detection.reports.action;
        let mut writes = Vec::new();
        let mut events = Vec::new();
        let mut answers = Vec::new();
        for (incoming, reply) in batch {
            let mut outcomes = Vec::new();
            for Incoming {
                unit,
                report,
                actor,
            } in incoming
            {
                let added = self.book.add_report(unit, report.clone(), now_sys);
                let state = self.state_of(&unit);
                let threshold = self.book.threshold();
                let span = info_span!("report", subscriber = %unit);
                let _entered = span.enter();
                info!(source = %report.source, weight = report.weight, counted = added.counted, score = added.score, threshold, evidence = %report.evidence, "outside report");
                self.metrics.report(added.counted);
                writes.push(Write::Report(crate::detection::stored(
                    unit,
                    &report,
                    now_unix,
                    added.counted,
                )));
                writes.push(Write::Audit(cordon_policy::lifecycle::Audit {
                    at: now_unix,
                    addr: unit,
                    from: state,
                    to: state,
                    actor: actor.clone(),
                    note: crate::detection::report_note(&report, &added, threshold),
                }));
                if let Some(reached) = &added.reached {
                    self.metrics
                        .detection("reports", crate::detection::action_name(action));
                    match action {
                        SignalAction::Enforce if state != HostState::Quarantined => {
                            info!(score = reached.score, "report score reached; quarantining");
                            events.push((crate::detection::report_quarantine(reached), None));
                        }
                        SignalAction::Enforce => {
                            tracing::debug!("report score reached; already quarantined");
                        }
                        SignalAction::Observe | SignalAction::Notice => {
                            info!(
                                score = reached.score,
                                action = crate::detection::action_name(action),
                                "report score reached; suspect (not quarantined)"
                            );
                            self.book.suspect(unit, "reports", action, now_unix);
                        }
                    }
                }
                outcomes.push(ReportOutcome {
                    address: unit.to_string(),
                    counted: added.counted,
                    score: added.score,
                    threshold,
                    state,
                    error: None,
                });
            }
            answers.push((outcomes, reply));
        }
        if let Err(e) = self.store.write(writes).await {
            warn!(error = %e, "store write failed; the reports were not taken");
            self.book = snapshot;
            for (outcomes, reply) in answers {
                let failed = outcomes
                    .into_iter()
                    .map(|mut o| {
                        o.counted = false;
                        o.error = Some(e.to_string());
                        o
                    })
                    .collect();
                let _ = reply.send(failed);
            }
            return;
        }
        if !events.is_empty() {
            self.process(events).await;
        }
        for (outcomes, reply) in answers {
            let outcomes = outcomes
                .into_iter()
                .map(|mut o| {
                    if let Ok(unit) = self.config.subscriber_addr(&o.address) {
                        o.state = self.state_of(&unit);
                    }
                    o
                })
                .collect();
            let _ = reply.send(outcomes);
        }
    }

    fn state_of(&self, unit: &SubscriberAddr) -> HostState {
        self.lifecycle
            .lookup(unit)
            .map_or(HostState::Clean, |h| h.state.kind())
    }

    fn view_of(&self, h: &Host) -> View {
        let now = now();
        View {
            addr: h.addr,
            self_releases_left: self.lifecycle.self_releases_left(h, now),
            host: Some(h.clone()),
            suspect: self.book.suspicion(&h.addr).cloned(),
            report_score: self.book.score(&h.addr, system_time(now)),
        }
    }

    fn view(&self, addr: &SubscriberAddr) -> View {
        match self.lifecycle.lookup(addr) {
            Some(h) => self.view_of(h),
            None => View {
                addr: *addr,
                host: None,
                self_releases_left: self.lifecycle.policy().self_release_count,
                suspect: self.book.suspicion(addr).cloned(),
                report_score: self.book.score(addr, system_time(now())),
            },
        }
    }

    async fn reload(&mut self, config: Arc<Config>) -> Result<(), ReloadError> {
        // The kernel handle, the stored IPv6 quarantines and the live sets
        // are all keyed by these; changing them under a running cordond
        // would leave quarantines in a table or a shape nobody reads.
        if config.table != self.config.table {
            return Err(ReloadError::NeedsRestart("table"));
        }
        if config.subscribers.ipv6_quarantine_prefix
            != self.config.subscribers.ipv6_quarantine_prefix
        {
            return Err(ReloadError::NeedsRestart(
                "subscribers.ipv6_quarantine_prefix",
            ));
        }
        let desired = self.lifecycle.quarantined();
        let kernel = self.kernel.clone();
        let new = config.clone();
        blocking(move || kernel.install(&new, &desired)).await?;
        self.lifecycle
            .set_policy(Policy::from_config(&config.quarantine));
        if config.detection.reports != self.config.detection.reports {
            // A new score or window: rebuild the ledger from the store.
            match self.store.reports().await {
                Ok(stored) => self.book.rebuild(&config, &stored, SystemTime::now()),
                Err(e) => {
                    warn!(error = %e, "cannot re-read the reports for the new score and window; the old ones apply until the next start")
                }
            }
        }
        self.config = config.clone();
        self.config_tx.send_replace(config);
        info!("config reloaded; the table now holds the new rules and the current quarantines");
        Ok(())
    }

    async fn timers(&mut self) {
        let now = now();
        let mut events = Vec::new();
        if self.lifecycle.next_deadline().is_some_and(|d| d <= now) {
            events.push((Event::Tick, None));
        }
        let due = self.lifecycle.due_quiet_checks(now);
        if !due.is_empty() {
            match self.quietness(due).await {
                Ok(q) => events
                    .extend(q.into_iter().map(|(addr, since_last)| {
                        (Event::QuietChecked { addr, since_last }, None)
                    })),
                Err(e) => {
                    warn!(error = %e, "cannot ask the kernel who is quiet; no automatic release this round")
                }
            }
        }
        if !events.is_empty() {
            self.process(events).await;
        }
    }

    /// Time since the last SMTP attempt of each due quarantine (see
    /// [`quiet`](super::quiet) for why this costs one listing of the
    /// quarantined senders, plus one look-up per quarantine in its life).
    async fn quietness(&mut self, due: Vec<SubscriberAddr>) -> Result<Vec<Quietness>, KernelError> {
        let quiet = self.lifecycle.policy().quiet_period;
        let lifecycle = &self.lifecycle;
        let since_of = |a: &SubscriberAddr| match lifecycle.lookup(a).map(|h| &h.state) {
            Some(State::Quarantined(q)) => Some(q.since),
            _ => None,
        };
        let due: Vec<Due> = due
            .iter()
            .filter_map(|a| since_of(a).map(|since| Due { addr: *a, since }))
            .collect();
        self.before.retain(|a, since| since_of(a) == Some(since));
        let kernel = self.kernel.clone();
        let held = seen(blocking(move || kernel.smtp_held()).await?, quiet);
        let (mut known, unknown) = self.before.judge(&due, &held, quiet, now());
        if unknown.is_empty() {
            return Ok(known);
        }
        let v6_len = self.config.subscribers.ipv6_quarantine_prefix;
        let kernel = self.kernel.clone();
        let asked = unknown.clone();
        let recent = blocking(move || {
            let single = |a: &SubscriberAddr| match a.net() {
                IpNet::V4(n) => n.prefix_len() == 32,
                IpNet::V6(n) => n.prefix_len() == v6_len,
            };
            // After a burst of quarantines, one listing of every sender is
            // cheaper than a process per host; it happens once per burst.
            if asked.len() <= POINT_LOOKUPS && asked.iter().all(|d| single(&d.addr)) {
                let mut found = Vec::new();
                for d in &asked {
                    found.extend(kernel.smtp_seen(&d.addr)?);
                }
                Ok(found)
            } else {
                kernel.smtp_recent()
            }
        })
        .await?;
        known.extend(self.before.learn(&unknown, &seen(recent, quiet), now()));
        Ok(known)
    }

    async fn purge(&mut self) {
        self.book.prune(SystemTime::now());
        let before = now() - i64::try_from(self.config.retention.as_secs()).unwrap_or(i64::MAX / 2);
        if let Err(e) = self.store.write(vec![Write::Purge { before }]).await {
            warn!(error = %e, "retention purge failed; retrying in an hour");
        }
    }

    /// Carries out events: lifecycle, store, kernel, conntrack, answers.
    async fn process(&mut self, events: Vec<(Event, ApplyReply)>) {
        let now = now();
        // Memory must never run ahead of the store: the lifecycle keeps each
        // record the batch changes as it was, to put back if the store
        // refuses (a copy of every record cost more than the batch itself
        // once many hosts were held).
        self.lifecycle.begin();
        let mut writes = Vec::new();
        let mut touched = BTreeSet::new();
        let mut flush = Vec::new();
        let mut audits = Vec::new();
        let mut outcomes = Vec::new();
        for (event, reply) in events {
            let addr = event_addr(&event);
            match self.lifecycle.handle(event, now) {
                Ok(actions) => {
                    for a in actions {
                        match a {
                            Action::Persist { host, audit } => {
                                writes.push(Write::Host(*host, now));
                                audits.push(audit.clone());
                                writes.push(Write::Audit(audit));
                            }
                            Action::Enforce(x) | Action::Lift(x) => {
                                touched.insert(x);
                            }
                            Action::FlushConntrack(x) => flush.push(x),
                        }
                    }
                    outcomes.push((addr, reply, Ok(())));
                }
                Err(refusal) => outcomes.push((addr, reply, Err(Failure::Refused(refusal)))),
            }
        }
        let undo = self.lifecycle.finish();
        let started = Instant::now();
        if let Err(e) = self.store.write(writes).await {
            warn!(error = %e, "store write failed; nothing was changed");
            self.lifecycle.undo(undo);
            let detail = e.to_string();
            for (_, reply, outcome) in outcomes {
                let answer = match outcome {
                    Ok(()) => Err(Failure::Store(StoreError::Io {
                        path: self.store.path().to_owned(),
                        source: detail.clone().into(),
                    })),
                    Err(f) => Err(f),
                };
                if let Some(r) = reply {
                    let _ = r.send(answer);
                }
            }
            return;
        }
        Metrics::observe(&self.metrics.store_write, started.elapsed());
        for a in &audits {
            let span = info_span!("transition", subscriber = %a.addr);
            async {
                info!(from = ?a.from, to = ?a.to, actor = %a.actor, note = %a.note, "state changed");
            }
            .instrument(span)
            .await;
            self.metrics.transition(a.to, &a.actor);
        }
        // The kernel change is the net effect of the batch on each address.
        let is = |a: &SubscriberAddr| {
            self.lifecycle
                .get(a)
                .is_some_and(|h| h.state.is_quarantined())
        };
        let was = |a: &SubscriberAddr| match undo.before(a) {
            Some(before) => before.is_some_and(|h| h.state.is_quarantined()),
            None => is(a),
        };
        let add: Vec<_> = touched
            .iter()
            .filter(|a| !was(a) && is(a))
            .copied()
            .collect();
        let remove: Vec<_> = touched
            .iter()
            .filter(|a| was(a) && !is(a))
            .copied()
            .collect();
        let mut kernel_result = Ok(());
        if !add.is_empty() || !remove.is_empty() {
            let started = Instant::now();
            let kernel = self.kernel.clone();
            let result = blocking(move || kernel.change(&add, &remove)).await;
            Metrics::observe(&self.metrics.rule_change, started.elapsed());
            if let Err(e) = result {
                warn!(error = %e, "the kernel refused the batch; reconciling against the store");
                kernel_result = self.reconcile().await;
                if let Err(e) = &kernel_result {
                    warn!(error = %e, "reconcile failed too; the store keeps the decisions and the next reconcile retries");
                }
            }
        }
        if kernel_result.is_ok() && !flush.is_empty() {
            // One call for the batch: each call reads the machine's whole
            // conntrack table, whatever the number of hosts it is given.
            flush.sort_unstable();
            flush.dedup();
            let hosts = flush.len();
            let kernel = self.kernel.clone();
            match blocking(move || kernel.flush_conntrack(&flush)).await {
                Ok(n) => tracing::debug!(hosts, deleted = n, "conntrack entries deleted"),
                Err(e) => warn!(
                    hosts,
                    error = %e,
                    "cannot delete the conntrack entries of {hosts} quarantined or released hosts; their established flows keep going until they end"
                ),
            }
        }
        self.update_gauges();
        let kernel_error = kernel_result.err().map(|e| e.to_string());
        for (addr, reply, outcome) in outcomes {
            let Some(reply) = reply else { continue };
            let answer = match (outcome, &kernel_error) {
                (Err(f), _) => Err(f),
                (Ok(()), Some(e)) => Err(Failure::Kernel(KernelError::Netlink {
                    what: "apply the change".into(),
                    source: std::io::Error::other(e.clone()),
                })),
                (Ok(()), None) => Ok(addr.and_then(|a| self.lifecycle.get(&a).cloned())),
            };
            let _ = reply.send(answer);
        }
    }
}

/// The kernel's recent-attempt elements as the quiet planning reads them.
fn seen(elements: Vec<cordon_rules::SmtpSeen>, quiet: Duration) -> Vec<Seen> {
    elements
        .iter()
        .map(|s| Seen {
            key: s.key,
            ago: s.since_last(quiet),
        })
        .collect()
}

/// What is queued behind `first`, as one batch. Each batch costs about the
/// same whatever its size (a commit, an `nft` transaction, a conntrack
/// dump), and under load the callers the last batch answered come back a
/// moment after it: taking only what was queued then made batches
/// alternate between the one request that came in meanwhile and all the
/// rest. So when the queue holds less than half of the last batch, wait up
/// to [`GATHER`] for as many as it had. A request after a quiet spell
/// follows a batch of one and never waits.
async fn gather(
    commands: &mut mpsc::Receiver<Command>,
    first: Command,
    last: usize,
) -> Vec<Command> {
    let mut batch = vec![first];
    let drain = |commands: &mut mpsc::Receiver<Command>, batch: &mut Vec<Command>| {
        while batch.len() < BATCH {
            match commands.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
    };
    drain(commands, &mut batch);
    if batch.len() * 2 < last {
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < last.min(BATCH) {
            match tokio::time::timeout_at(until, commands.recv()).await {
                Ok(Some(c)) => {
                    batch.push(c);
                    drain(commands, &mut batch);
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    batch
}

fn event_addr(e: &Event) -> Option<SubscriberAddr> {
    match e {
        Event::Quarantine(QuarantineRequest { addr, .. })
        | Event::Release { addr, .. }
        | Event::SelfRelease { addr, .. }
        | Event::QuietChecked { addr, .. } => Some(*addr),
        Event::Tick => None,
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

#[cfg(test)]
mod tests {
    //! A store that refuses a batch leaves memory, the kernel and the
    //! gauges exactly as they were before the batch; requests are gathered
    //! into batches without keeping a lone one waiting.

    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use cordon_proto::portal::Reason;

    use super::*;
    use crate::kernel::FakeKernel;

    fn config(dir: &Path) -> Config {
        cordon_config::load_str(
            &format!(
                r#"
subscribers: {{ prefixes: [100.64.0.0/16] }}
interfaces: {{ downlink: [sub0], uplink: [up0] }}
walled_garden: {{ resolvers: [192.0.2.53] }}
portal: {{ public_url: "http://portal.test/" }}
quarantine: {{ min_hold: 30m, quiet_period: 2h }}
store: {{ path: {}/c.db }}
"#,
                dir.display()
            ),
            Path::new("test.yaml"),
        )
        .unwrap()
    }

    pub(super) struct Rig {
        pub(super) core: Core,
        pub(super) kernel: Arc<FakeKernel>,
        pub(super) metrics: Arc<Metrics>,
        db: std::path::PathBuf,
        _dir: tempfile::TempDir,
    }

    pub(super) async fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let config = Arc::new(config(dir.path()));
        let db = dir.path().join("c.db");
        let (store, _) = Store::open(&db).unwrap();
        let kernel = Arc::new(FakeKernel::default());
        let metrics = Arc::new(Metrics::new());
        let (tx, _) = watch::channel(config.clone());
        let mut core = Core::new(
            config,
            tx,
            Vec::new(),
            store,
            kernel.clone(),
            metrics.clone(),
        );
        core.install().await.unwrap();
        Rig {
            core,
            kernel,
            metrics,
            db,
            _dir: dir,
        }
    }

    impl Rig {
        pub(super) fn addr(&self, text: &str) -> SubscriberAddr {
            self.core.config.subscriber_addr(text).unwrap()
        }

        pub(super) fn quarantine(&self, text: &str, hold: Option<Duration>) -> Event {
            Event::Quarantine(QuarantineRequest {
                addr: self.addr(text),
                reason: Reason::Operator,
                actor: cordon_policy::Actor::Operator("alice".into()),
                note: "ticket".into(),
                hold,
                mac: None,
                evidence: Default::default(),
            })
        }

        fn release(&self, text: &str) -> Event {
            Event::Release {
                addr: self.addr(text),
                actor: cordon_policy::Actor::Operator("alice".into()),
                note: "cleaned".into(),
            }
        }

        /// Carries out `events` as one batch; the answers in order.
        pub(super) async fn batch(
            &mut self,
            events: Vec<Event>,
        ) -> Vec<Result<Option<Host>, Failure>> {
            let mut answers = Vec::new();
            let mut batch = Vec::new();
            for e in events {
                let (tx, rx) = oneshot::channel();
                batch.push((e, Some(tx)));
                answers.push(rx);
            }
            self.core.process(batch).await;
            let mut out = Vec::new();
            for rx in answers {
                out.push(rx.await.unwrap());
            }
            out
        }

        fn refuse_writes(&self, refuse: bool) {
            let conn = rusqlite::Connection::open(&self.db).unwrap();
            conn.execute_batch(if refuse {
                "CREATE TRIGGER refuse BEFORE INSERT ON hosts BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
            } else {
                "DROP TRIGGER refuse;"
            })
            .unwrap();
        }

        fn kernel_set(&self) -> BTreeSet<IpNet> {
            self.kernel.state.lock().unwrap().quarantined.clone()
        }

        fn gauges(&self) -> Vec<String> {
            let mut lines: Vec<String> = self
                .metrics
                .encode()
                .lines()
                .filter(|l| l.starts_with("cordon_hosts{"))
                .map(str::to_owned)
                .collect();
            lines.sort();
            lines
        }
    }

    fn counts() -> Command {
        Command::Counts(oneshot::channel().0)
    }

    fn queue(n: usize) -> (mpsc::Sender<Command>, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(4096);
        for _ in 0..n {
            tx.try_send(counts()).unwrap();
        }
        (tx, rx)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_after_a_quiet_spell_takes_what_is_queued_at_once() {
        let (_tx, mut rx) = queue(2);
        assert_eq!(gather(&mut rx, counts(), 0).await.len(), 3);
        // The last batch was one request: this one goes at once, without
        // waiting for the one on its way (it would come in once the core
        // yields, which it must not).
        let (tx, mut rx) = queue(0);
        tokio::spawn(async move { tx.send(counts()).await });
        assert_eq!(gather(&mut rx, counts(), 1).await.len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn under_load_a_batch_waits_briefly_for_the_rest() {
        // The last batch had 10; one is queued, nine are on their way.
        let (tx, mut rx) = queue(0);
        tokio::spawn(async move {
            for _ in 0..9 {
                tx.send(counts()).await.unwrap();
            }
        });
        assert_eq!(gather(&mut rx, counts(), 10).await.len(), 10);
        // Nothing more comes: it gives up after GATHER.
        let (_tx, mut rx) = queue(0);
        let t = Instant::now();
        assert_eq!(gather(&mut rx, counts(), 10).await.len(), 1);
        assert!(t.elapsed() >= GATHER);
    }

    #[tokio::test]
    async fn a_refused_store_write_puts_back_exactly_the_records_the_batch_touched() {
        let mut r = rig().await;
        let hold = Some(Duration::from_secs(3600));
        let held = [
            r.quarantine("100.64.1.1", None),
            r.quarantine("100.64.1.2", None),
            r.quarantine("100.64.1.3", None),
            r.quarantine("100.64.1.4", None),
            r.release("100.64.1.3"),
        ];
        assert!(r.batch(held.into()).await.iter().all(Result::is_ok));
        let hosts: Vec<Host> = r.core.lifecycle.hosts().cloned().collect();
        let (tally, kernel, gauges) = (r.core.lifecycle.tally(), r.kernel_set(), r.gauges());
        assert_eq!(
            gauges,
            [
                r#"cordon_hosts{state="probation"} 1"#,
                r#"cordon_hosts{state="quarantined"} 3"#
            ]
        );

        r.refuse_writes(true);
        // Released and quarantined again in the same batch (the undo must
        // go back to the first version), a fixed end on a quarantine, a
        // relapse from probation, a new host, and a refused release.
        let batch = vec![
            r.release("100.64.1.1"),
            r.quarantine("100.64.1.1", None),
            r.quarantine("100.64.1.2", hold),
            r.quarantine("100.64.1.3", None),
            r.quarantine("100.64.1.5", None),
            r.release("100.64.1.9"),
        ];
        let answers = r.batch(batch.clone()).await;
        assert!(
            answers[..5]
                .iter()
                .all(|a| matches!(a, Err(Failure::Store(_)))),
            "{answers:?}"
        );
        assert!(matches!(answers[5], Err(Failure::Refused(_))));
        assert_eq!(r.core.lifecycle.hosts().cloned().collect::<Vec<_>>(), hosts);
        assert_eq!(r.core.lifecycle.tally(), tally);
        assert_eq!(r.kernel_set(), kernel);
        assert_eq!(r.gauges(), gauges);

        // Once the store takes writes again the same batch goes through
        // from the states that were put back.
        r.refuse_writes(false);
        let answers = r.batch(batch).await;
        assert!(answers[..5].iter().all(Result::is_ok), "{answers:?}");
        let relapses = |text: &str| match r.core.lifecycle.get(&r.addr(text)).map(|h| &h.state) {
            Some(State::Quarantined(q)) => q.relapses,
            other => panic!("{text} is {other:?}"),
        };
        assert_eq!(relapses("100.64.1.1"), 1);
        assert_eq!(relapses("100.64.1.3"), 1);
        assert!(r.kernel_set().contains(&r.addr("100.64.1.5").net()));
        assert_eq!(r.core.lifecycle.tally(), r.core.lifecycle.recount());
        assert_eq!(
            r.gauges(),
            [
                r#"cordon_hosts{state="probation"} 0"#,
                r#"cordon_hosts{state="quarantined"} 5"#
            ]
        );
    }
}
