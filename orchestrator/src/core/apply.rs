//! Carrying out a batch: the policy decides it and returns a plan; the
//! core writes the plan's records, then changes the kernel, then flushes
//! conntrack, and only then answers. If the store refuses, the policy puts
//! its memory back and nothing else happens.

use std::sync::Arc;
use std::time::Instant;

use cordon_policy::signal::action_name;
use cordon_policy::{Change, Input, Outcome, Plan, ReportTaken};
use cordon_proto::control::ReportOutcome;
use tracing::{Instrument, debug, info, info_span, warn};

use super::handle::{Applied, Failure, Reply};
use super::{Core, blocking};
use crate::kernel::KernelError;
use crate::metrics::Metrics;
use crate::store::{StoreError, Write};

/// Who waits for which inputs of a batch, in the batch's order.
#[derive(Debug)]
pub(super) enum Waiting {
    /// One event; its asker wants the host as it then stands.
    Event(Reply<Applied>),
    /// This many reports, answered together.
    Reports(Reply<Vec<ReportOutcome>>, usize),
    /// One input nobody waits for (the timers').
    Nobody,
}

impl Waiting {
    fn inputs(&self) -> usize {
        match self {
            Waiting::Event(_) | Waiting::Nobody => 1,
            Waiting::Reports(_, n) => *n,
        }
    }
}

impl Core {
    /// Decides `inputs` as one batch and carries out the plan; answers
    /// each waiting asker.
    pub(super) async fn decide(&mut self, inputs: Vec<Input>, waiting: Vec<Waiting>) {
        let now = self.clock.now();
        let (mut plan, outcomes) = self.engine.handle(inputs, now);
        for outcome in &outcomes {
            if let Outcome::Report(taken) = outcome {
                self.log_report(taken);
            }
        }
        if !plan.is_empty() {
            let started = Instant::now();
            let writes = writes(std::mem::take(&mut plan.changes), now);
            if let Err(e) = self.store.write(writes).await {
                warn!(error = %e, "store write failed; nothing was changed");
                self.engine.undo(plan);
                refuse(outcomes, waiting, &Arc::new(e));
                return;
            }
            Metrics::observe(&self.metrics.store_write, started.elapsed());
        }
        for a in &plan.transitions {
            let span = info_span!("transition", subscriber = %a.addr);
            async {
                info!(from = ?a.from, to = ?a.to, actor = %a.actor, note = %a.note, "state changed");
            }
            .instrument(span)
            .await;
            self.metrics.transition(a.to, &a.actor);
        }
        let kernel_error = self.enforce(plan).await.err().map(Arc::new);
        self.update_gauges();
        self.answer(outcomes, waiting, kernel_error.as_ref());
    }

    /// The kernel's part of a stored plan: the set change, then conntrack.
    async fn enforce(&mut self, plan: Plan) -> Result<(), KernelError> {
        let Plan {
            add, remove, flush, ..
        } = plan;
        if !add.is_empty() || !remove.is_empty() {
            let started = Instant::now();
            let kernel = self.kernel.clone();
            let result = blocking(move || kernel.change(&add, &remove)).await;
            Metrics::observe(&self.metrics.rule_change, started.elapsed());
            if let Err(e) = result {
                warn!(error = %e, "the kernel refused the batch; reconciling against the store");
                if let Err(e) = self.reconcile().await {
                    warn!(error = %e, "reconcile failed too; the store keeps the decisions and the next reconcile retries");
                    return Err(e);
                }
            }
        }
        if !flush.is_empty() {
            // One call for the batch: each call reads the machine's whole
            // conntrack table, whatever the number of hosts it is given.
            let hosts = flush.len();
            let kernel = self.kernel.clone();
            match blocking(move || kernel.flush_conntrack(&flush)).await {
                Ok(n) => debug!(hosts, deleted = n, "conntrack entries deleted"),
                Err(e) => warn!(
                    hosts,
                    error = %e,
                    "cannot delete the conntrack entries of {hosts} quarantined or released hosts; their established flows keep going until they end"
                ),
            }
        }
        Ok(())
    }

    fn log_report(&self, taken: &ReportTaken) {
        let span = info_span!("report", subscriber = %taken.unit);
        let _entered = span.enter();
        info!(
            counted = taken.counted,
            score = taken.score,
            threshold = taken.threshold,
            "outside report"
        );
        self.metrics.report(taken.counted);
        if let Some(action) = taken.reached {
            self.metrics.detection("reports", action_name(action));
            info!(
                score = taken.score,
                action = action_name(action),
                "report score reached"
            );
        }
    }

    /// Answers each asker once the batch is in force.
    fn answer(
        &self,
        outcomes: Vec<Outcome>,
        waiting: Vec<Waiting>,
        kernel: Option<&Arc<KernelError>>,
    ) {
        hand_out(
            outcomes,
            waiting,
            |outcome| match outcome {
                Some(Outcome::Event { result: Err(r), .. }) => Err(Failure::Refused(r)),
                Some(Outcome::Event { addr, .. }) => match kernel {
                    Some(e) => Err(Failure::Kernel(e.clone())),
                    None => Ok(addr.and_then(|a| self.engine.lifecycle().get(&a).cloned())),
                },
                _ => Err(Failure::Stopping),
            },
            |t| ReportOutcome {
                address: t.unit.to_string(),
                counted: t.counted,
                score: t.score,
                threshold: t.threshold,
                // After the whole request: a report that reached the score
                // shows the quarantine.
                state: self.engine.state_of(&t.unit),
                error: None,
            },
        );
    }
}

/// Hands each asker its share of a batch's outcomes, in the order asked:
/// an event's asker what `event` makes of its outcome (none when the batch
/// came out short), a report request's asker what `report` makes of each
/// of its reports. Answering and refusing a batch differ only in these two.
fn hand_out(
    outcomes: Vec<Outcome>,
    waiting: Vec<Waiting>,
    event: impl Fn(Option<Outcome>) -> Applied,
    report: impl Fn(ReportTaken) -> ReportOutcome,
) {
    let mut outcomes = outcomes.into_iter();
    for w in waiting {
        let mine: Vec<Outcome> = outcomes.by_ref().take(w.inputs()).collect();
        match w {
            Waiting::Nobody => {}
            Waiting::Event(reply) => {
                let _ = reply.send(event(mine.into_iter().next()));
            }
            Waiting::Reports(reply, _) => {
                let answers = mine
                    .into_iter()
                    .filter_map(|o| match o {
                        Outcome::Report(t) => Some(report(t)),
                        Outcome::Event { .. } => None,
                    })
                    .collect();
                let _ = reply.send(answers);
            }
        }
    }
}

/// The plan's records as the store writes them (moved, not copied).
fn writes(changes: Vec<Change>, now: i64) -> Vec<Write> {
    changes
        .into_iter()
        .map(|c| match c {
            Change::Host(h) => Write::Host(h, now),
            Change::Audit(a) => Write::Audit(a),
            Change::Report(r) => Write::Report(r),
        })
        .collect()
}

/// The store refused the batch: every asker hears so; refusals by the
/// policy stay refusals.
fn refuse(outcomes: Vec<Outcome>, waiting: Vec<Waiting>, e: &Arc<StoreError>) {
    hand_out(
        outcomes,
        waiting,
        |outcome| match outcome {
            Some(Outcome::Event { result: Err(r), .. }) => Err(Failure::Refused(r)),
            _ => Err(Failure::Store(e.clone())),
        },
        |t| ReportOutcome {
            address: t.unit.to_string(),
            counted: false,
            score: t.score,
            threshold: t.threshold,
            state: t.state,
            error: Some(e.to_string()),
        },
    );
}
