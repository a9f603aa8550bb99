//! Enforce first: detection's new quarantines go into the kernel before
//! their records are written.
//!
//! Everything else is written first and enforced after, so that a crash
//! never leaves the kernel holding what the store does not know. But the
//! store's commit is an fsync (measured on these machines: 4 ms at the
//! median, 8 ms at p99, before any load), and a zombie's crossing should be
//! walled in at the kernel's speed. So a batch of crossings and nothing
//! else is enforced first, each new quarantine marked in the kernel's
//! `unrecorded` set in the same transaction; the mark comes off once the
//! record is durable. A crash in between leaves the mark: the next start
//! (every install) reads the marks and records those quarantines before
//! the table is rebuilt from the store, so none is lost and nobody is freed
//! by the crash. If the store refuses the records, the quarantines are
//! taken back out with their marks, as if never made.
//!
//! Only single units (an IPv4 host, an IPv6 subscriber prefix) are marked:
//! a subscriber whose addresses include a wider delegated prefix takes the
//! written-first path.

use std::collections::BTreeMap;
use std::time::Instant;

use cordon_config::SubscriberAddr;
use cordon_policy::lifecycle::{Event, QuarantineRequest};
use cordon_policy::subject::Subject;
use cordon_policy::{Actor, Input, Plan};
use cordon_proto::portal::Reason;
use tracing::{info, warn};

use super::apply::Waiting;
use super::{Core, blocking};
use crate::metrics::Metrics;

/// The note on a quarantine recorded at start from its kernel mark.
const RECORDED_AT_START: &str =
    "enforced by detection; cordond stopped before its record was written, recorded at start";

/// Crossings up to this many go into the kernel from the core's own
/// thread: one netlink round trip (the rules benchmark: 0.13 ms for one
/// host, 1.3 ms for 1 000), where handing it to a blocking thread and back
/// costs two wake-ups, each of which can wait for a CPU on a busy machine.
/// Bigger batches (an outbreak's) go to a blocking thread so that the
/// runtime's other tasks are not held up.
const INLINE: usize = 256;

/// Whether `input` is a detection crossing: the only kind enforced before
/// it is recorded.
pub(super) fn is_detection(input: &Input) -> bool {
    matches!(input, Input::Event(Event::Quarantine(q)) if matches!(q.actor, Actor::Detection))
}

/// A gathered batch split, in order, into runs that are all detection's
/// crossings and runs that are not, each asker's inputs kept together,
/// so that each run is decided as a batch of its own. Crossings that came
/// in beside anything else (most often the evidence of the zombie before,
/// which follows its answer) would otherwise be written first like the
/// rest, and wait for a commit before their walls went up. The runs are
/// decided in the order they came, so a crossing of a host that an earlier
/// run changes sees that change (and, if the kernel still has to make it,
/// waits for it: see [`Core::enforce_first`]); they still share one commit
/// and one kernel transaction per set (see `pipeline`).
pub(super) fn runs(inputs: Vec<Input>, waiting: Vec<Waiting>) -> Vec<(Vec<Input>, Vec<Waiting>)> {
    let mut runs: Vec<(bool, Vec<Input>, Vec<Waiting>)> = Vec::new();
    let mut inputs = inputs.into_iter();
    for w in waiting {
        let group: Vec<Input> = inputs.by_ref().take(w.inputs()).collect();
        let first = !group.is_empty() && group.iter().all(is_detection);
        match runs.last_mut() {
            Some((kind, run, askers)) if *kind == first => {
                run.extend(group);
                askers.push(w);
            }
            _ => runs.push((first, group, vec![w])),
        }
    }
    // Inputs beyond the askers' (none, as the core builds batches) go
    // with the last run rather than being lost.
    let rest: Vec<Input> = inputs.collect();
    if !rest.is_empty() {
        match runs.last_mut() {
            Some((_, run, _)) => run.extend(rest),
            None => runs.push((false, rest, Vec::new())),
        }
    }
    runs.into_iter()
        .map(|(_, run, askers)| (run, askers))
        .collect()
}

impl Core {
    /// Puts a batch of crossings' new quarantines into the kernel, marked
    /// unrecorded, and takes them out of the plan; returns them (none when
    /// the plan also removes or notices, holds something wider than one
    /// unit, or the kernel refused, or an earlier batch still has to
    /// change one of them in the kernel: then the plan is carried out in
    /// the usual order).
    pub(super) async fn enforce_first(&mut self, plan: &mut Plan) -> Vec<SubscriberAddr> {
        let unit = self.config.subscribers.ipv6_quarantine_prefix;
        if plan.add.is_empty()
            || !plan.remove.is_empty()
            || !plan.notice_add.is_empty()
            || !plan.notice_remove.is_empty()
            || !plan
                .add
                .iter()
                .all(|a| cordon_rules::names::is_unit(a, unit))
        {
            return Vec::new();
        }
        if self.pipeline.busy() {
            let pending = self.pipeline.kernel_pending();
            if plan.add.iter().any(|a| pending.contains(a)) {
                return Vec::new();
            }
        }
        let started = Instant::now();
        let enforced = if plan.add.len() <= INLINE {
            self.kernel.enforce_unrecorded(&plan.add)
        } else {
            let (add, kernel) = (plan.add.clone(), self.kernel.clone());
            blocking(move || kernel.enforce_unrecorded(&add)).await
        };
        match enforced {
            Ok(()) => {
                Metrics::observe(&self.metrics.rule_change, started.elapsed());
                std::mem::take(&mut plan.add)
            }
            Err(e) => {
                warn!(error = %e, "the kernel refused detection's quarantines before their records; they are written first and enforced after");
                Vec::new()
            }
        }
    }

    /// The store refused the records of quarantines enforced first: they
    /// come out of the kernel with their marks (the policy has already
    /// forgotten them). If the kernel refuses that too, the table is
    /// installed from the store, which empties the marks.
    pub(super) async fn withdraw(&mut self, unrecorded: Vec<SubscriberAddr>) {
        if unrecorded.is_empty() {
            return;
        }
        let kernel = self.kernel.clone();
        if let Err(e) = blocking(move || kernel.withdraw_unrecorded(&unrecorded)).await {
            warn!(error = %e, "cannot take back quarantines whose records the store refused; installing the table from the store");
            if let Err(e) = self.install().await {
                warn!(error = %e, "the install failed too; the next reconcile retries");
            }
        }
    }

    /// The records are written: the marks come off. A mark left behind
    /// (the kernel refused) is harmless: the next start finds the record
    /// already there.
    pub(super) async fn recorded(&mut self, unrecorded: Vec<SubscriberAddr>) {
        if unrecorded.is_empty() {
            return;
        }
        let kernel = self.kernel.clone();
        if let Err(e) = blocking(move || kernel.mark_recorded(&unrecorded)).await {
            warn!(error = %e, "cannot take the unrecorded marks off quarantines now recorded; the next start clears them");
        }
    }

    /// Records the quarantines still marked unrecorded in the kernel (a
    /// crash came between enforcing and recording them), before an install
    /// rebuilds the table from the store. Decided again by the policy as
    /// the crossings they were, so a subject the policy would no longer
    /// wall in is not recorded, and the install frees it.
    pub(super) async fn adopt_unrecorded(&mut self) {
        let kernel = self.kernel.clone();
        let found = blocking(move || {
            if kernel.exists()? {
                kernel.unrecorded()
            } else {
                Ok(Vec::new())
            }
        })
        .await;
        let marked = match found {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot read the kernel's unrecorded quarantines; the install drops any there (their hosts are walled in again if they still send)");
                return;
            }
        };
        if marked.is_empty() {
            return;
        }
        let mut inputs = Vec::with_capacity(marked.len());
        for ip in marked {
            match self.config.subscriber_addr(&ip.to_string()) {
                Ok(addr) => inputs.push(Input::Event(Event::Quarantine(QuarantineRequest {
                    subject: Subject::Addr(addr),
                    reason: Reason::Detection,
                    actor: Actor::Detection,
                    note: RECORDED_AT_START.into(),
                    hold: None,
                    mac: None,
                    evidence: BTreeMap::new(),
                }))),
                Err(e) => {
                    warn!(address = %ip, error = %e, "a quarantine marked unrecorded is outside the subscribers now; the install drops it");
                }
            }
        }
        let n = inputs.len();
        let now = self.clock.now();
        let (mut plan, _) = self.engine.handle(inputs, now);
        if plan.is_empty() {
            return;
        }
        match self.record(&mut plan, now).await {
            Ok(()) => {
                self.log_transitions(&plan).await;
                info!(
                    quarantines = n,
                    "quarantines enforced before cordond stopped, never recorded, are recorded now"
                );
            }
            Err(e) => {
                warn!(error = %e, "cannot record the quarantines enforced before cordond stopped; the install drops them (their hosts are walled in again if they still send)");
                self.engine.undo(plan);
            }
        }
    }
}
