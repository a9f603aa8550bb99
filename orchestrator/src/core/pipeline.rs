//! The pipeline: a batch's commit runs while the core decides the next.
//!
//! The core used to carry out one batch at a time: decide it, commit its
//! records (an fsync: 4 ms at the median on these machines, far more
//! under load), change the kernel, answer, and only then take the next.
//! A zombie's crossing that came in during another's commit waited for
//! that commit before its own wall went up; in the single-host benchmark
//! that wait was the whole gap between a p50 of 4 ms and a p99 of 17 ms.
//!
//! Now each batch is decided as it comes and queued for the store, and
//! the store has one commit under way at a time: the batches decided
//! while it runs go together into the next one. Detection's crossings are
//! enforced as they are decided (`first`), so none waits for another
//! batch's commit. Everything else still reaches the kernel only after
//! its own records are durable, and every asker still hears back after
//! store, kernel and conntrack, batches in the order they came. Each
//! batch's answers are worked out when it is decided, so a later batch
//! cannot show through an earlier one's.
//!
//! Deciding ahead of the store means memory holds decisions not yet
//! durable. When a commit fails, every batch decided since the first one
//! in it is undone, newest first (each undo puts back what its batch
//! found, so in reverse they restore memory to just before the failed
//! commit); quarantines enforced first come back out of the kernel; every
//! asker hears the store's error; the table is then reconciled with what
//! memory holds. What compares memory with the kernel as a whole (the
//! reconcile, a table check, a reload, the purge) first waits for the
//! pipeline to empty.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use cordon_config::SubscriberAddr;
use cordon_policy::Plan;
use tokio::task::JoinHandle;
use tracing::warn;

use super::Core;
use super::apply::Delivery;
use super::flush::Job;
use super::net::NetChange;
use crate::metrics::Metrics;
use crate::store::{StoreError, Write};

/// A batch decided (its quarantines enforced first, if it was detection's
/// crossings), waiting for its records to be committed.
#[derive(Debug)]
pub(super) struct Decided {
    /// What is left to carry out once the records are in: the kernel's
    /// changes, the conntrack flush, the transitions to log, and the undo.
    pub(super) plan: Plan,
    /// The records, with the webhook events of its transitions.
    pub(super) writes: Vec<Write>,
    /// Quarantines already in the kernel, marked until recorded.
    pub(super) unrecorded: Vec<SubscriberAddr>,
    /// What each asker hears once the batch is in force.
    pub(super) answers: Vec<Delivery>,
    /// Whether it is detection's crossings and nothing else: their only
    /// asker is detection itself, which can wait for the conntrack flush's
    /// pause (see `flush`); anyone else's flush goes at once.
    pub(super) detection: bool,
}

/// The commit under way and the batches queued behind it.
#[derive(Debug, Default)]
pub(super) struct Pipeline {
    queued: Vec<Decided>,
    committing: Option<Commit>,
}

#[derive(Debug)]
struct Commit {
    batches: Vec<Decided>,
    /// Whether it writes anything (a batch that only adopts records
    /// decided elsewhere writes nothing).
    writes: bool,
    /// Whether it queues webhook events (their senders are woken after).
    webhooks: bool,
    started: Instant,
    done: JoinHandle<Result<(), StoreError>>,
}

impl Pipeline {
    /// Whether a commit is under way (then batches may be queued too).
    pub(super) fn busy(&self) -> bool {
        self.committing.is_some()
    }

    /// The result of the commit under way; never ready when none is.
    pub(super) async fn committed(&mut self) -> Result<(), StoreError> {
        match &mut self.committing {
            Some(c) => (&mut c.done).await.unwrap_or(Err(StoreError::Stopped)),
            None => std::future::pending().await,
        }
    }

    /// Elements of the kernel's sets that batches decided earlier still
    /// have to change once their records are in. Enforcing a crossing of
    /// one of them first would race that change (a release's removal
    /// landing after the new quarantine), so such a crossing waits its
    /// turn.
    pub(super) fn kernel_pending(&self) -> HashSet<SubscriberAddr> {
        let committing = self.committing.iter().flat_map(|c| c.batches.iter());
        committing
            .chain(self.queued.iter())
            .flat_map(|d| {
                let p = &d.plan;
                p.add
                    .iter()
                    .chain(&p.remove)
                    .chain(&p.notice_add)
                    .chain(&p.notice_remove)
            })
            .copied()
            .collect()
    }
}

impl Core {
    /// Queues a decided batch for the store; its commit starts at once
    /// unless one is under way (then it goes with the next).
    pub(super) fn queue(&mut self, decided: Decided) {
        self.pipeline.queued.push(decided);
        self.start_commit();
    }

    fn start_commit(&mut self) {
        if self.pipeline.committing.is_some() || self.pipeline.queued.is_empty() {
            return;
        }
        let mut batches = std::mem::take(&mut self.pipeline.queued);
        let writes: Vec<Write> = batches
            .iter_mut()
            .flat_map(|d| std::mem::take(&mut d.writes))
            .collect();
        let webhooks = writes.iter().any(|w| matches!(w, Write::Webhook(_)));
        let any = !writes.is_empty();
        let store = self.store.clone();
        // A task of its own, so the commit goes on while the core is busy
        // with the next batch's kernel change.
        let done = tokio::spawn(async move { store.write(writes).await });
        self.pipeline.committing = Some(Commit {
            batches,
            writes: any,
            webhooks,
            started: Instant::now(),
            done,
        });
    }

    /// Carries out what follows the commit under way, given its result,
    /// and starts the next one.
    pub(super) async fn after_commit(&mut self, result: Result<(), StoreError>) {
        let Some(commit) = self.pipeline.committing.take() else {
            return;
        };
        if let Err(e) = result {
            self.refused(commit.batches, e).await;
            return;
        }
        if commit.writes {
            Metrics::observe(&self.metrics.store_write, commit.started.elapsed());
        }
        if commit.webhooks {
            self.webhook_wake.notify_waiters();
        }
        self.finish(commit.batches).await;
        self.update_gauges();
        self.start_commit();
    }

    /// Waits until every batch decided so far is committed and carried
    /// out.
    pub(super) async fn drain(&mut self) {
        while self.pipeline.busy() {
            let result = self.pipeline.committed().await;
            self.after_commit(result).await;
        }
    }

    /// A commit's records are in: its batches' marks come off, their
    /// kernel changes are made (one transaction per set for them all, see
    /// `net`), and their askers hear back, in order (after the conntrack
    /// flush, if one of them has one). If the kernel refuses the change,
    /// every asker of the commit hears it: the reconcile that follows puts
    /// the kernel right for all of them.
    async fn finish(&mut self, batches: Vec<Decided>) {
        let mut unrecorded = Vec::new();
        let (mut quarantine, mut notice) = (NetChange::default(), NetChange::default());
        let mut flush = Vec::new();
        let mut answers = Vec::new();
        let mut urgent = false;
        for decided in batches {
            let Decided {
                mut plan,
                unrecorded: marked,
                answers: said,
                detection,
                ..
            } = decided;
            urgent |= !detection && !plan.flush.is_empty();
            unrecorded.extend(marked);
            if plan.session_changes > 0 {
                self.metrics.session_changes(plan.session_changes);
            }
            self.log_transitions(&plan).await;
            quarantine.then(&plan.remove, &plan.add);
            notice.then(&plan.notice_remove, &plan.notice_add);
            flush.append(&mut plan.flush);
            answers.extend(said);
        }
        self.recorded(unrecorded).await;
        let answers: Vec<Delivery> = match self.enforce(quarantine, notice).await {
            Ok(()) => answers,
            Err(e) => {
                let e = Arc::new(e);
                answers.into_iter().map(|a| a.kernel_failed(&e)).collect()
            }
        };
        if flush.is_empty() {
            answers.into_iter().for_each(Delivery::send);
        } else {
            flush.sort_unstable();
            flush.dedup();
            // One flush for the commit (each reads the machine's whole
            // conntrack table), beside the core: see `flush`.
            self.flusher().queue(Job {
                hosts: flush,
                answers,
                urgent,
            });
        }
    }

    /// The store refused a commit: it and every batch decided after it
    /// are undone, newest first, and their askers hear why.
    async fn refused(&mut self, committed: Vec<Decided>, e: StoreError) {
        let mut batches = committed;
        batches.append(&mut self.pipeline.queued);
        warn!(error = %e, batches = batches.len(), "store write failed; the batches decided since are undone and nothing else changed");
        let e = Arc::new(e);
        let mut unrecorded = Vec::new();
        let mut answers = Vec::with_capacity(batches.len());
        for decided in batches.into_iter().rev() {
            unrecorded.extend(decided.unrecorded);
            self.engine.undo(decided.plan);
            answers.push(decided.answers);
        }
        self.withdraw(unrecorded).await;
        self.update_gauges();
        for a in answers.into_iter().rev().flatten() {
            a.store_refused(&e).send();
        }
        // Nothing of these batches reached the kernel but their first
        // enforced quarantines, now withdrawn; a repair made meanwhile may
        // have put in what memory held then, so the table is compared
        // with memory as it now stands.
        if let Err(e) = self.reconcile().await {
            warn!(error = %e, "reconcile after a refused commit failed; the next one retries");
        }
    }
}
