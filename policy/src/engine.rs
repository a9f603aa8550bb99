//! The policy's one entry point: a batch of inputs in, one [`Plan`] out.
//!
//! `cordond` hands the engine everything that arrived together (operator
//! requests, detection's quarantines, self-releases, quiet checks, the
//! timer's tick, outside reports) with one `now`. The engine decides each
//! in order and returns the batch's net effect: the records to write, the
//! kernel elements to add and remove, the hosts whose conntrack entries to
//! flush, and the transitions that happened. `cordond` writes the records
//! first; if the store refuses, [`Engine::undo`] puts memory back exactly as
//! it was before the batch (the lifecycle's records, the report ledger's
//! units and the suspects the batch touched), so memory never runs ahead
//! of the store.
//!
//! A report that reaches the score and the quarantine it causes are
//! decided here in the same batch, so they are one store commit: both are
//! kept, or neither.

mod reports;
mod view;

use std::collections::BTreeMap;
use std::time::Duration;

use cordon_config::{Action as SignalAction, Config, SubscriberAddr};
use cordon_proto::portal::HostState;
use cordon_proto::time::{Unix, system_time};

use crate::book::{Book, BookUndo};
use crate::lifecycle::{
    Action, Audit, Event, Host, Lifecycle, Policy, QuarantineRequest, Refusal, State, Tally, Undo,
};
use crate::quiet::{BeforeQuarantine, Due, Quietness, Seen};
use crate::report::{Incoming, StoredReport};

pub use view::View;

/// One thing to decide.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An event for the lifecycle.
    Event(Event),
    /// An outside report, checked and assigned to its unit.
    Report(Incoming),
}

/// A record the plan asks to be written, in this order, in one commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A host's record as it now stands.
    Host(Host),
    /// A line of the audit trail.
    Audit(Audit),
    /// An outside report.
    Report(StoredReport),
}

/// What became of one input, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An event: carried out (or nothing to do), or refused.
    Event {
        /// The address it was about (none for the tick).
        addr: Option<SubscriberAddr>,
        /// Whether the lifecycle took it.
        result: Result<(), Refusal>,
    },
    /// A report: what it did to the unit's score.
    Report(ReportTaken),
}

/// What one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTaken {
    /// The unit it counts against.
    pub unit: SubscriberAddr,
    /// Whether it added to the score (not a duplicate, not too old).
    pub counted: bool,
    /// The unit's score after it.
    pub score: u32,
    /// The score that applies `detection.reports.action`.
    pub threshold: u32,
    /// The unit's state when the report came in.
    pub state: HostState,
    /// The action applied because the score was reached with this report
    /// (for `enforce`, the quarantine follows in the same plan unless the
    /// unit was already quarantined).
    pub reached: Option<SignalAction>,
}

/// The net effect of a batch, for `cordond` to carry out in order: store,
/// kernel, conntrack.
#[derive(Debug, Default)]
pub struct Plan {
    /// Records to write, in one commit, before anything else.
    pub changes: Vec<Change>,
    /// Addresses the kernel's quarantine set must gain.
    pub add: Vec<SubscriberAddr>,
    /// Addresses the kernel's quarantine set must lose.
    pub remove: Vec<SubscriberAddr>,
    /// Hosts whose established flows must end (sorted, once each).
    pub flush: Vec<SubscriberAddr>,
    /// The state changes that happened (what the log, the metrics and, in
    /// time, webhooks publish).
    pub transitions: Vec<Audit>,
    /// What puts memory back if the store refuses [`Plan::changes`].
    undo: Rollback,
}

impl Plan {
    /// Whether the plan asks nothing of the store.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

#[derive(Debug, Default)]
struct Rollback {
    lifecycle: Undo,
    book: BookUndo,
}

/// Everything the policy remembers: the lifecycle's records, the report
/// ledger and suspects, and what the quiet check has looked up.
#[derive(Debug)]
pub struct Engine {
    lifecycle: Lifecycle,
    book: Book,
    report_action: SignalAction,
    before: BeforeQuarantine,
    /// During a batch: each address's first and last kernel move.
    kernel_moves: BTreeMap<SubscriberAddr, (Move, Move)>,
}

/// A change to the kernel's quarantine set that an action asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Enforce,
    Lift,
}

impl Engine {
    /// An engine for `config` over the records the store held.
    pub fn new(config: &Config, hosts: impl IntoIterator<Item = Host>) -> Self {
        Engine {
            lifecycle: Lifecycle::new(Policy::from_config(&config.quarantine), hosts),
            book: Book::new(config),
            report_action: config.detection.reports.action,
            before: BeforeQuarantine::default(),
            kernel_moves: BTreeMap::new(),
        }
    }

    /// Rebuilds the report ledger from the reports the store held, as of
    /// `now` (no decision is taken while replaying them).
    pub fn rebuild_reports(&mut self, config: &Config, stored: &[StoredReport], now: Unix) {
        self.book.rebuild(config, stored, system_time(now));
    }

    /// A reloaded config: its policy applies to the next decisions
    /// (deadlines already stored stay as promised). `stored` is given when
    /// the report score or window changed, to rebuild the ledger under them.
    pub fn reconfigure(&mut self, config: &Config, stored: Option<&[StoredReport]>, now: Unix) {
        self.lifecycle
            .set_policy(Policy::from_config(&config.quarantine));
        self.report_action = config.detection.reports.action;
        if let Some(stored) = stored {
            self.book.rebuild(config, stored, system_time(now));
        }
    }

    /// The lifecycle's records (read only).
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// Records per state, at no cost however many are held.
    pub fn tally(&self) -> Tally {
        self.lifecycle.tally()
    }

    /// Every address that must be in the kernel's quarantine set.
    pub fn quarantined(&self) -> Vec<SubscriberAddr> {
        self.lifecycle.quarantined()
    }

    /// The state deciding about `unit` (its own record or a covering range).
    pub fn state_of(&self, unit: &SubscriberAddr) -> HostState {
        self.lifecycle
            .lookup(unit)
            .map_or(HostState::Clean, |h| h.state.kind())
    }

    /// Remembers that a signal fired for `unit` without a quarantine
    /// (`observe`, or `notice` until notices exist). Memory only: suspects
    /// decide nothing, so nothing is written.
    pub fn suspect(&mut self, unit: SubscriberAddr, signal: &str, action: SignalAction, at: Unix) {
        self.book.suspect(unit, signal, action, at);
    }

    /// Forgets expired reports and suspects.
    pub fn prune(&mut self, now: Unix) {
        self.book.prune(system_time(now));
    }

    /// Whether a fixed hold or a probation has ended by `now` (the timer
    /// then sends [`Event::Tick`]).
    pub fn deadline_passed(&self, now: Unix) -> bool {
        self.lifecycle.next_deadline().is_some_and(|d| d <= now)
    }

    /// Decides a batch at `now`; returns its plan and one outcome per
    /// input, in order.
    pub fn handle(&mut self, inputs: Vec<Input>, now: Unix) -> (Plan, Vec<Outcome>) {
        self.lifecycle.begin();
        self.book.begin();
        let mut plan = Plan::default();
        let mut outcomes = Vec::with_capacity(inputs.len());
        for input in inputs {
            let outcome = match input {
                Input::Event(event) => self.event(event, now, &mut plan),
                Input::Report(incoming) => Outcome::Report(self.report(incoming, now, &mut plan)),
            };
            outcomes.push(outcome);
        }
        // The kernel change is each address's net effect over the batch,
        // read from the actions: the first one says what the kernel held
        // before (only a quarantined address is lifted), the last what it
        // must hold after. Released and quarantined again is no change.
        for (addr, (first, last)) in std::mem::take(&mut self.kernel_moves) {
            match (first, last) {
                (Move::Enforce, Move::Enforce) => plan.add.push(addr),
                (Move::Lift, Move::Lift) => plan.remove.push(addr),
                _ => {}
            }
        }
        let lifecycle = self.lifecycle.finish();
        plan.flush.sort_unstable();
        plan.flush.dedup();
        plan.undo = Rollback {
            lifecycle,
            book: self.book.finish(),
        };
        (plan, outcomes)
    }

    /// The store refused the plan's changes: memory goes back to exactly
    /// how it stood before the batch.
    pub fn undo(&mut self, plan: Plan) {
        self.lifecycle.undo(plan.undo.lifecycle);
        self.book.undo(plan.undo.book);
    }

    fn moved(&mut self, addr: SubscriberAddr, m: Move) {
        self.kernel_moves
            .entry(addr)
            .and_modify(|(_, last)| *last = m)
            .or_insert((m, m));
    }

    fn event(&mut self, event: Event, now: Unix, plan: &mut Plan) -> Outcome {
        let addr = event_addr(&event);
        let result = self.lifecycle.handle(event, now).map(|actions| {
            for action in actions {
                match action {
                    Action::Persist { host, audit } => {
                        plan.changes.push(Change::Host(*host));
                        plan.changes.push(Change::Audit(audit.clone()));
                        plan.transitions.push(audit);
                    }
                    Action::Enforce(x) => self.moved(x, Move::Enforce),
                    Action::Lift(x) => self.moved(x, Move::Lift),
                    Action::FlushConntrack(x) => plan.flush.push(x),
                }
            }
        });
        Outcome::Event { addr, result }
    }

    /// Quarantines whose hold has passed and that end by the quiet test,
    /// with when each began. Forgets what was looked up for quarantines
    /// that have ended.
    pub fn quiet_due(&mut self, now: Unix) -> Vec<Due> {
        let lifecycle = &self.lifecycle;
        let since_of = |a: &SubscriberAddr| match lifecycle.lookup(a).map(|h| &h.state) {
            Some(State::Quarantined(q)) => Some(q.since),
            _ => None,
        };
        let due = lifecycle
            .due_quiet_checks(now)
            .iter()
            .filter_map(|a| since_of(a).map(|since| Due { addr: *a, since }))
            .collect();
        self.before.retain(|a, since| since_of(a) == Some(since));
        due
    }

    /// Answers what the kernel's list of quarantined senders (`held`) and
    /// earlier look-ups can answer; returns the rest, to be looked up.
    /// The listings are iterated, not copied: after a burst of quarantines
    /// `smtp_recent` can hold every subscriber seen sending.
    pub fn judge_quiet(
        &self,
        due: &[Due],
        held: impl IntoIterator<Item = Seen>,
        now: Unix,
    ) -> (Vec<Quietness>, Vec<Due>) {
        self.before.judge(due, held, self.quiet_period(), now)
    }

    /// Remembers what the look-ups found and answers for them.
    pub fn learn_quiet(
        &mut self,
        looked_up: &[Due],
        recent: impl IntoIterator<Item = Seen>,
        now: Unix,
    ) -> Vec<Quietness> {
        self.before.learn(looked_up, recent, now)
    }

    /// No SMTP attempt for this long counts as stopped.
    pub fn quiet_period(&self) -> Duration {
        self.lifecycle.policy().quiet_period
    }
}

/// The address an event is about.
fn event_addr(e: &Event) -> Option<SubscriberAddr> {
    match e {
        Event::Quarantine(QuarantineRequest { addr, .. })
        | Event::Release { addr, .. }
        | Event::SelfRelease { addr, .. }
        | Event::QuietChecked { addr, .. } => Some(*addr),
        Event::Tick => None,
    }
}

#[cfg(test)]
mod tests;
