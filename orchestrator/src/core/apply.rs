//! Deciding a batch: the policy decides it and returns a plan, and the
//! core queues the plan's records for the store (`pipeline`); once they
//! are in, it changes the kernel, then flushes conntrack, and only then
//! answers. If the store refuses, the policy puts its memory back and
//! nothing else happens. Detection's new quarantines are the one
//! exception to the order: enforced first, marked, and the mark taken off
//! once recorded (see `first`).

use std::sync::Arc;
use std::time::Instant;

use cordon_policy::signal::action_name;
use cordon_policy::{Change, Input, Outcome, Plan, ReportTaken};
use cordon_proto::control::ReportOutcome;
use cordon_proto::portal::HostState;
use tracing::{Instrument, debug, info, info_span, warn};

use super::Core;
use super::blocking;
use super::handle::{Applied, AppliedMany, Failure, Reply, SessionApplied, SubscriberNow, Taken};
use super::net::NetChange;
use super::pipeline::Decided;
use crate::kernel::KernelError;
use crate::metrics::Metrics;
use crate::store::{StoreError, Write};

/// Who waits for which inputs of a batch, in the batch's order.
#[derive(Debug)]
pub(super) enum Waiting {
    /// One event; its asker wants the host as it then stands.
    Event(Reply<Applied>),
    /// This many events, answered together, each with whether it changed
    /// anything.
    Events(Reply<AppliedMany>, usize),
    /// This many reports, answered together.
    Reports(Reply<Vec<ReportOutcome>>, usize),
    /// One session event; its asker wants the subscriber as it then
    /// stands.
    Session(Reply<SessionApplied>),
    /// One input nobody waits for (the timers').
    Nobody,
}

impl Waiting {
    pub(super) fn inputs(&self) -> usize {
        match self {
            Waiting::Event(_) | Waiting::Session(_) | Waiting::Nobody => 1,
            Waiting::Reports(_, n) | Waiting::Events(_, n) => *n,
        }
    }
}

impl Core {
    /// Decides `inputs` as one batch and carries out the plan; answers
    /// each waiting asker.
    pub(super) async fn decide(&mut self, inputs: Vec<Input>, waiting: Vec<Waiting>) {
        let now = self.clock.now();
        let detection_only = inputs.iter().all(super::first::is_detection);
        let (mut plan, outcomes) = self.engine.handle(inputs, now);
        let (mut reports, mut counted) = (0usize, 0usize);
        for outcome in &outcomes {
            if let Outcome::Report(taken) = outcome {
                self.log_report(taken);
                reports += 1;
                counted += usize::from(taken.counted);
            }
        }
        // One line per batch: a feed of 100 000 reports is 20 lines, not
        // 100 000 (each report's own line is at debug; a score reached is
        // always said).
        if reports > 0 {
            info!(reports, counted, "outside reports taken");
        }
        // Detection's new quarantines go into the kernel before their
        // records, marked until the records are written (see `first`).
        let unrecorded = if detection_only {
            self.enforce_first(&mut plan).await
        } else {
            Vec::new()
        };
        // When the batch's quarantines went in, if before its answers: the
        // askers hear back only after the conntrack flush.
        let in_force = (!unrecorded.is_empty()).then(std::time::SystemTime::now);
        let mut writes = writes(std::mem::take(&mut plan.changes), now);
        writes.extend(self.webhook_events(&plan.transitions));
        // Worked out now: by the time the commit is in, later batches may
        // have changed these hosts (see `pipeline`).
        let answers = self.answer(outcomes, waiting, in_force);
        self.queue(Decided {
            plan,
            writes,
            unrecorded,
            answers,
            detection: detection_only,
        });
    }

    /// Writes the plan's records, with the webhook events of its
    /// transitions, in one commit; takes the records out of the plan.
    pub(super) async fn record(&mut self, plan: &mut Plan, now: i64) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut writes = writes(std::mem::take(&mut plan.changes), now);
        let events = self.webhook_events(&plan.transitions);
        let queued = !events.is_empty();
        writes.extend(events);
        self.store.write(writes).await?;
        Metrics::observe(&self.metrics.store_write, started.elapsed());
        if queued {
            self.webhook_wake.notify_waiters();
        }
        Ok(())
    }

    /// One log line and one metric per state change, in the subscriber's
    /// span.
    pub(super) async fn log_transitions(&self, plan: &Plan) {
        for a in &plan.transitions {
            let span = info_span!("transition", subscriber = %a.subject);
            async {
                info!(from = ?a.from, to = ?a.to, actor = %a.actor, note = %a.note, "state changed");
            }
            .instrument(span)
            .await;
            self.metrics.transition(a.to, &a.actor);
        }
    }

    /// The kernel's part of stored plans: the set changes, one transaction
    /// per set (conntrack follows in the flusher).
    pub(super) async fn enforce(
        &mut self,
        quarantine: NetChange,
        notice: NetChange,
    ) -> Result<(), KernelError> {
        let (add, remove) = quarantine.into_lists();
        let (notice_add, notice_remove) = notice.into_lists();
        if !notice_add.is_empty() || !notice_remove.is_empty() {
            let kernel = self.kernel.clone();
            let result = blocking(move || kernel.change_noticed(&notice_add, &notice_remove)).await;
            if let Err(e) = result {
                // The store holds the notices; an install brings the
                // notice set to them along with everything else.
                warn!(error = %e, "the kernel refused the batch's notices; reinstalling the table from the store");
                if let Err(e) = self.install().await {
                    warn!(error = %e, "reinstall failed too; the next reconcile retries");
                    return Err(e);
                }
            }
        }
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
        Ok(())
    }

    /// The webhook events of a batch's transitions, for the hooks in the
    /// config in force: committed with the decision itself.
    fn webhook_events(&self, transitions: &[cordon_policy::lifecycle::Audit]) -> Vec<Write> {
        if self.config.webhooks.is_empty() {
            return Vec::new();
        }
        let mut events = Vec::new();
        for t in transitions {
            let mut addresses: Vec<String> = self
                .engine
                .addresses_of(&t.subject)
                .iter()
                .map(ToString::to_string)
                .collect();
            if addresses.is_empty() {
                addresses.extend(t.address.map(|a| a.to_string()));
            }
            let state = self.engine.lifecycle().get(&t.subject).map(|h| &h.state);
            events.extend(crate::webhook::payload::rows(
                &self.config.webhooks,
                &self.gateway,
                t,
                state,
                &addresses,
            ));
        }
        events
    }

    fn log_report(&self, taken: &ReportTaken) {
        let span = info_span!("report", subscriber = %taken.unit);
        let _entered = span.enter();
        debug!(
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

    /// A subscriber as it stands after a session event.
    fn subscriber_now(
        &self,
        subscriber: Option<cordon_proto::subscriber::SubscriberId>,
    ) -> SubscriberNow {
        let Some(s) = subscriber else {
            return SubscriberNow {
                subscriber: None,
                addresses: Vec::new(),
                state: cordon_proto::portal::HostState::Clean,
            };
        };
        let subject = cordon_policy::subject::Subject::Subscriber(s.clone());
        SubscriberNow {
            addresses: self.engine.addresses_of(&subject),
            state: self.engine.state_of(&subject),
            subscriber: Some(s),
        }
    }

    /// What each asker hears once the batch is in force, as memory stands
    /// just after deciding it.
    fn answer(
        &self,
        outcomes: Vec<Outcome>,
        waiting: Vec<Waiting>,
        in_force: Option<std::time::SystemTime>,
    ) -> Vec<Delivery> {
        hand_out(
            outcomes,
            waiting,
            |outcome| match outcome {
                Some(Outcome::Event { result: Err(r), .. }) => Err(Failure::Refused(r)),
                Some(Outcome::Event {
                    subject, changed, ..
                }) => Ok(One::Host(Taken {
                    changed,
                    host: subject.and_then(|s| self.engine.lifecycle().get(&s).cloned()),
                    in_force,
                })),
                Some(Outcome::Session { result: Err(r), .. }) => Err(Failure::SessionRefused(r)),
                Some(Outcome::Session { subscriber, .. }) => {
                    Ok(One::Subscriber(self.subscriber_now(subscriber)))
                }
                _ => Err(Failure::Stopping),
            },
            |t| Said {
                outcome: ReportOutcome {
                    address: t.unit.to_string(),
                    counted: t.counted,
                    not_counted: t.not_counted.map(|n| n.as_str().to_owned()),
                    score: t.score,
                    threshold: t.threshold,
                    // After the whole request: a report that reached the
                    // score shows the quarantine.
                    state: self.engine.state_of(&t.unit),
                    error: None,
                },
                before: t.state,
            },
        )
    }
}

/// A report's answer, with the unit's state when the report came in (what
/// the answer says instead if the store refuses the batch).
#[derive(Debug)]
pub(super) struct Said {
    outcome: ReportOutcome,
    before: HostState,
}

/// An answer and the asker it is for, to be sent once the batch's
/// conntrack flush is done.
#[derive(Debug)]
pub(super) enum Delivery {
    Event(Reply<Applied>, Applied),
    Events(Reply<AppliedMany>, AppliedMany),
    Session(Reply<SessionApplied>, SessionApplied),
    Reports(Reply<Vec<ReportOutcome>>, Vec<Said>),
}

impl Delivery {
    /// Sends it (an asker that gave up is no error).
    pub(super) fn send(self) {
        let _ = match self {
            Delivery::Event(r, a) => r.send(a).map_err(drop),
            Delivery::Events(r, a) => r.send(a).map_err(drop),
            Delivery::Session(r, a) => r.send(a).map_err(drop),
            Delivery::Reports(r, a) => r
                .send(a.into_iter().map(|s| s.outcome).collect())
                .map_err(drop),
        };
    }

    /// The same answer for a batch stored whose kernel change was refused:
    /// what would have been done is, as stored (a report's answer is about
    /// its score, which stands).
    pub(super) fn kernel_failed(self, e: &Arc<KernelError>) -> Delivery {
        self.failed(|| Failure::Kernel(e.clone()), |said| said)
    }

    /// The answer for a batch the store refused: nothing was done.
    /// Refusals by the policy stay refusals.
    pub(super) fn store_refused(self, e: &Arc<StoreError>) -> Delivery {
        self.failed(
            || Failure::Store(e.clone()),
            |said| {
                said.into_iter()
                    .map(|Said { outcome, before }| Said {
                        outcome: ReportOutcome {
                            counted: false,
                            not_counted: None,
                            state: before,
                            error: Some(e.to_string()),
                            ..outcome
                        },
                        before,
                    })
                    .collect()
            },
        )
    }

    /// Every event's and session's answer that was to succeed fails with
    /// `fail`; report answers become what `reports` makes of them.
    fn failed(
        self,
        fail: impl Fn() -> Failure,
        reports: impl FnOnce(Vec<Said>) -> Vec<Said>,
    ) -> Delivery {
        match self {
            Delivery::Event(r, a) => Delivery::Event(r, a.and_then(|_| Err(fail()))),
            Delivery::Events(r, a) => Delivery::Events(
                r,
                a.into_iter().map(|t| t.and_then(|_| Err(fail()))).collect(),
            ),
            Delivery::Session(r, a) => Delivery::Session(r, a.and_then(|_| Err(fail()))),
            Delivery::Reports(r, said) => Delivery::Reports(r, reports(said)),
        }
    }
}

/// Works out each asker's share of a batch's outcomes, in the order asked:
/// an event's or a session's asker what `one` makes of its outcome (none
/// when the batch came out short), a report request's asker what `report`
/// makes of each of its reports. Answering and refusing a batch differ
/// only in these two.
fn hand_out(
    outcomes: Vec<Outcome>,
    waiting: Vec<Waiting>,
    one: impl Fn(Option<Outcome>) -> Result<One, Failure>,
    report: impl Fn(ReportTaken) -> Said,
) -> Vec<Delivery> {
    let mut outcomes = outcomes.into_iter();
    let mut out = Vec::with_capacity(waiting.len());
    for w in waiting {
        let mine: Vec<Outcome> = outcomes.by_ref().take(w.inputs()).collect();
        match w {
            Waiting::Nobody => {}
            Waiting::Event(reply) => {
                out.push(Delivery::Event(
                    reply,
                    one(mine.into_iter().next()).and_then(One::host),
                ));
            }
            Waiting::Events(reply, n) => {
                // One answer per event even when the batch came out short.
                let mut mine = mine.into_iter();
                let answers = (0..n)
                    .map(|_| one(mine.next()).and_then(One::taken))
                    .collect();
                out.push(Delivery::Events(reply, answers));
            }
            Waiting::Session(reply) => {
                out.push(Delivery::Session(
                    reply,
                    one(mine.into_iter().next()).and_then(One::subscriber),
                ));
            }
            Waiting::Reports(reply, _) => {
                let answers = mine
                    .into_iter()
                    .filter_map(|o| match o {
                        Outcome::Report(t) => Some(report(t)),
                        Outcome::Event { .. }
                        | Outcome::Session { .. }
                        | Outcome::Stored { .. } => None,
                    })
                    .collect();
                out.push(Delivery::Reports(reply, answers));
            }
        }
    }
    out
}

/// What one event or session event answers: the host, or the subscriber.
enum One {
    Host(Taken),
    Subscriber(SubscriberNow),
}

impl One {
    fn host(self) -> Applied {
        self.taken().map(|t| t.host)
    }

    fn taken(self) -> Result<Taken, Failure> {
        match self {
            One::Host(t) => Ok(t),
            One::Subscriber(_) => Err(Failure::Stopping),
        }
    }

    fn subscriber(self) -> SessionApplied {
        match self {
            One::Subscriber(s) => Ok(s),
            One::Host(_) => Err(Failure::Stopping),
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
            Change::SessionBegan(r) => Write::SessionBegan(r),
            Change::SessionEnded {
                subscriber,
                address,
                at,
            } => Write::SessionEnded {
                subscriber,
                address,
                ended: at,
            },
        })
        .collect()
}
