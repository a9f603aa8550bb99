//! The policy's one entry point: a batch of inputs in, one [`Plan`] out.
//!
//! `cordond` hands the engine everything that arrived together (operator
//! requests, detection's quarantines, self-releases, quiet checks, the
//! timer's tick, outside reports, sessions starting and ending) with one
//! `now`. An event about an address is bound to the subscriber holding it
//! (see [`Engine::subject_of`]); the kernel's set is worked out from the
//! records and the sessions together (see the `kernel` module). The engine decides each
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

mod bind;
mod kernel;
mod quiet;
mod reports;
mod sessions;
mod stored;
mod view;

use std::collections::BTreeSet;

use cordon_config::{Action as SignalAction, Config, SubscriberAddr};
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::{SessionRecord, SubscriberId};
use cordon_proto::time::{Unix, system_time};

use crate::book::{Book, BookUndo};
use crate::journal::Undo as JournalUndo;
use crate::lifecycle::{Action, Audit, Event, Host, Lifecycle, Policy, Refusal, Tally, Undo};
use crate::quiet::BeforeQuarantine;
use crate::report::{Incoming, StoredReport};
use crate::sessions::{Holding, SessionEvent, SessionRefusal, Sessions, SessionsUndo};
use crate::subject::Subject;

use kernel::{InKernel, Set};
pub use view::View;

/// One thing to decide.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An event for the lifecycle.
    Event(Event),
    /// An outside report, checked and assigned to its unit.
    Report(Incoming),
    /// A session started or ended.
    Session(SessionEvent),
    /// The record the store holds now for a subject, decided elsewhere
    /// (another gateway, or the store's winner of two decisions made at
    /// once): taken as it is, with nothing written.
    Stored(Host),
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
    /// A subscriber began holding an address.
    SessionBegan(SessionRecord),
    /// A subscriber stopped holding an address.
    SessionEnded {
        /// Who.
        subscriber: String,
        /// The address.
        address: String,
        /// When.
        at: Unix,
    },
}

/// What became of one input, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An event: carried out (or nothing to do), or refused.
    Event {
        /// Whom it was about once bound (none for the tick).
        subject: Option<Subject>,
        /// Whether the lifecycle took it.
        result: Result<(), Refusal>,
        /// Whether it changed a record (false: taken, but there was
        /// nothing to do, e.g. a quarantine of a host already in).
        changed: bool,
    },
    /// A report: what it did to the unit's score.
    Report(ReportTaken),
    /// A session event: taken, or refused.
    Session {
        /// Whom it was about (none for a NAS restart).
        subscriber: Option<SubscriberId>,
        /// Whether it was taken.
        result: Result<(), SessionRefusal>,
    },
    /// A stored record: whom it was about, and whether it changed what
    /// this engine held.
    Stored {
        /// Whom.
        subject: Subject,
        /// Whether it differed from the record held.
        changed: bool,
    },
}

/// What one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTaken {
    /// Whom it counts against: the subscriber who held the address at the
    /// reported time, or the address.
    pub unit: Subject,
    /// Whether it added to the score (not a duplicate, not too old).
    pub counted: bool,
    /// Why not, when it did not.
    pub not_counted: Option<crate::book::NotCounted>,
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
    /// Addresses the kernel's notice set must gain.
    pub notice_add: Vec<SubscriberAddr>,
    /// Addresses the kernel's notice set must lose.
    pub notice_remove: Vec<SubscriberAddr>,
    /// Addresses whose established flows must end (sorted, once each).
    pub flush: Vec<SubscriberAddr>,
    /// How many history lines the plan's session changes write.
    pub session_changes: usize,
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
    sessions: SessionsUndo,
    kernel: JournalUndo<SubscriberAddr, ()>,
    notice: JournalUndo<SubscriberAddr, ()>,
}

/// Everything the policy remembers: the lifecycle's records, the report
/// ledger and suspects, and what the quiet check has looked up.
#[derive(Debug)]
pub struct Engine {
    lifecycle: Lifecycle,
    sessions: Sessions,
    book: Book,
    report_action: SignalAction,
    before: BeforeQuarantine,
    /// The elements the kernel's quarantine set holds, as the engine asked
    /// for them: what each batch's change is worked out against.
    in_kernel: InKernel,
    /// The same for the notice set.
    in_notice: InKernel,
    /// During a batch: addresses whose place in the kernel may change.
    touched: BTreeSet<SubscriberAddr>,
}

impl Engine {
    /// An engine for `config` over the records and open sessions the store
    /// held.
    pub fn new(
        config: &Config,
        hosts: impl IntoIterator<Item = Host>,
        open: impl IntoIterator<Item = Holding>,
    ) -> Self {
        let mut engine = Engine {
            lifecycle: Lifecycle::new(Policy::from_config(config), hosts),
            sessions: Sessions::new(open),
            book: Book::new(config),
            report_action: config.detection.reports.action,
            before: BeforeQuarantine::default(),
            in_kernel: InKernel::default(),
            in_notice: InKernel::default(),
            touched: BTreeSet::new(),
        };
        engine.in_kernel.elements = engine.wanted_from_scratch(Set::Quarantine);
        engine.in_notice.elements = engine.wanted_from_scratch(Set::Notice);
        engine
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
        self.lifecycle.set_policy(Policy::from_config(config));
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

    /// The open sessions (read only).
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Every element that must be in the kernel's quarantine set: the
    /// quarantined addresses and the addresses quarantined subscribers hold
    /// now, none inside another.
    pub fn quarantined(&self) -> Vec<SubscriberAddr> {
        self.in_kernel.elements.iter().copied().collect()
    }

    /// Every element that must be in the kernel's notice set: the
    /// addresses of notices that show, none walled in by a quarantine.
    pub fn noticed(&self) -> Vec<SubscriberAddr> {
        self.in_notice.elements.iter().copied().collect()
    }

    /// The addresses of notices whose review is due, for the daemon to ask
    /// the kernel when each last sent (answered like the quiet test, with
    /// [`Engine::quiet_checks`]). A subscriber holding nothing is not
    /// reviewed, as it is not quiet-checked.
    pub fn reviews_due(&self, now: Unix) -> Vec<SubscriberAddr> {
        self.lifecycle
            .due_reviews(now)
            .iter()
            .flat_map(|s| self.addresses_of(s))
            .collect()
    }

    /// The state deciding about `subject` (its own record or a covering
    /// range).
    pub fn state_of(&self, subject: &Subject) -> HostState {
        self.lifecycle
            .lookup(subject)
            .map_or(HostState::Clean, |h| h.state.kind())
    }

    /// Remembers that a signal fired for the address `unit` (bound to its
    /// holder) without a quarantine or a notice (`observe`). Memory only: suspects decide nothing, so nothing is written.
    pub fn suspect(&mut self, unit: SubscriberAddr, signal: &str, action: SignalAction, at: Unix) {
        let subject = self.subject_of(&unit);
        self.book.suspect(subject, signal, action, at);
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
        self.sessions.begin();
        self.in_kernel.journal.begin();
        self.in_notice.journal.begin();
        let mut plan = Plan::default();
        let mut outcomes = Vec::with_capacity(inputs.len());
        for input in inputs {
            let outcome = match input {
                Input::Event(event) => self.event(event, now, &mut plan),
                Input::Report(incoming) => Outcome::Report(self.report(incoming, now, &mut plan)),
                Input::Session(event) => self.session(event, now, &mut plan),
                Input::Stored(host) => self.stored(host, &mut plan),
            };
            outcomes.push(outcome);
        }
        // The kernel change is the batch's net effect: what the set must
        // hold now against what it held before, for the addresses the
        // batch touched. Released and quarantined again is no change.
        self.settle_kernel(&mut plan);
        let lifecycle = self.lifecycle.finish();
        plan.flush.sort_unstable();
        plan.flush.dedup();
        plan.undo = Rollback {
            lifecycle,
            book: self.book.finish(),
            sessions: self.sessions.finish(),
            kernel: self.in_kernel.journal.finish(),
            notice: self.in_notice.journal.finish(),
        };
        (plan, outcomes)
    }

    /// The store refused the plan's changes: memory goes back to exactly
    /// how it stood before the batch.
    pub fn undo(&mut self, plan: Plan) {
        self.lifecycle.undo(plan.undo.lifecycle);
        self.book.undo(plan.undo.book);
        self.sessions.undo(plan.undo.sessions);
        plan.undo.kernel.restore(&mut self.in_kernel.elements);
        plan.undo.notice.restore(&mut self.in_notice.elements);
    }

    fn event(&mut self, event: Event, now: Unix, plan: &mut Plan) -> Outcome {
        let event = self.bind(event);
        let subject = event_subject(&event);
        let mut changed = false;
        let result = self.lifecycle.handle(event, now).map(|actions| {
            changed = !actions.is_empty();
            for action in actions {
                match action {
                    Action::Persist { host, mut audit } => {
                        if let Subject::Subscriber(s) = &audit.subject {
                            audit.address = self.sessions.addresses(s).first().copied();
                        }
                        plan.changes.push(Change::Host(*host));
                        plan.changes.push(Change::Audit(audit.clone()));
                        plan.transitions.push(audit);
                    }
                    Action::Store(host) => plan.changes.push(Change::Host(*host)),
                    Action::Enforce(x) | Action::Lift(x) | Action::Notice(x) => {
                        let addrs = self.addresses_of(&x);
                        self.touched.extend(addrs);
                    }
                    Action::FlushConntrack(x) => plan.flush.extend(self.addresses_of(&x)),
                }
            }
        });
        Outcome::Event {
            subject,
            result,
            changed,
        }
    }

    /// The addresses a subject stands for now: an address itself, a
    /// subscriber the addresses it holds.
    pub fn addresses_of(&self, subject: &Subject) -> Vec<SubscriberAddr> {
        match subject {
            Subject::Addr(a) => vec![*a],
            Subject::Subscriber(s) => self.sessions.addresses(s),
        }
    }
}

/// Whom an event is about.
fn event_subject(e: &Event) -> Option<Subject> {
    match e {
        Event::Quarantine(r) => Some(r.subject.clone()),
        Event::Notice(r) => Some(r.subject.clone()),
        Event::Release { subject, .. }
        | Event::Acknowledge { subject }
        | Event::SelfRelease { subject, .. }
        | Event::QuietChecked { subject, .. } => Some(subject.clone()),
        Event::Evidence(u) => Some(u.subject.clone()),
        Event::Tick => None,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod session_tests;

#[cfg(test)]
mod stored_tests;

#[cfg(test)]
mod notice_tests;

#[cfg(test)]
mod evidence_tests;
