//! How the rest of `cordond` talks to the core: commands over a channel,
//! each with its own reply. The socket servers, detection's tasks and the
//! table monitor hold a [`CoreHandle`]; none of them touches the policy,
//! the store or the kernel's quarantine set directly.

use std::sync::Arc;

use cordon_config::{Action as SignalAction, Config, SubscriberAddr};
use cordon_policy::lifecycle::{Event, Host, Refusal, Unix};
use cordon_policy::sessions::{SessionEvent, SessionRefusal};
use cordon_policy::{Incoming, View};
use cordon_proto::control::ReportOutcome;
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::SubscriberId;
use tokio::sync::{mpsc, oneshot};

use super::repair::Asked;
use crate::kernel::KernelError;
use crate::store::StoreError;

/// Why an event was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The lifecycle refused it (see [`Refusal`]).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The sessions refused a session event.
    #[error(transparent)]
    SessionRefused(#[from] SessionRefusal),
    /// The store could not write it; nothing changed. Shared: one refused
    /// commit answers every request in its batch with the same error.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// Stored, but the kernel refused; the next reconcile retries. Shared
    /// like the store's: one refused transaction answers the whole batch.
    #[error(
        "the decision is stored, but the kernel refused it: {0}; cordond retries at its next reconcile (see its log)"
    )]
    Kernel(Arc<KernelError>),
    /// cordond is stopping.
    #[error("cordond is stopping; try again once it is back")]
    Stopping,
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

/// Counts for `cordon status`.
#[derive(Debug, Clone)]
pub struct Counts {
    /// Quarantined hosts.
    pub quarantined: u64,
    /// Noticed hosts.
    pub noticed: u64,
    /// Hosts on probation.
    pub probation: u64,
    /// The last reconcile.
    pub last_reconcile: Option<Unix>,
    /// How the table still differs from cordond's after a repair failed,
    /// in words (empty: no failed repair).
    pub table_unrepaired: Vec<String>,
}

pub(super) type Reply<T> = oneshot::Sender<T>;

/// The answer to an applied event: the host's own record as it then stands.
pub type Applied = Result<Option<Host>, Failure>;

/// A subscriber after a session event, once the kernel follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberNow {
    /// Who (none for a NAS restart).
    pub subscriber: Option<SubscriberId>,
    /// The addresses it holds now.
    pub addresses: Vec<SubscriberAddr>,
    /// Its state.
    pub state: HostState,
}

/// What one of many events did, once the kernel follows the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// Whether it changed a record (false: nothing to do, e.g. a
    /// quarantine of a host already in).
    pub changed: bool,
    /// The record it was about as it then stands.
    pub host: Option<Host>,
    /// When the batch's quarantines went into the kernel, if that was
    /// before its records were written (detection's crossings): the answer
    /// itself comes only after the conntrack flush, which waits for a pause.
    pub in_force: Option<std::time::SystemTime>,
}

/// The answers to many events, one each, in the order given.
pub type AppliedMany = Vec<Result<Taken, Failure>>;

/// The answer to a session event.
pub type SessionApplied = Result<SubscriberNow, Failure>;

/// What the socket servers ask the core.
#[derive(Debug)]
pub enum Command {
    /// Carry out an event and answer with the host as it then stands.
    Apply(Event, Reply<Applied>),
    /// Carry out events that arrived together (detection's crossings) in
    /// the same batch; answer each.
    ApplyMany(Vec<Event>, Reply<AppliedMany>),
    /// Carry out a session event and answer once the kernel follows it.
    Session(SessionEvent, Reply<SessionApplied>),
    /// The records deciding about addresses, one each in order: the
    /// portal's questions that arrived together cross to the core once.
    View(Vec<SubscriberAddr>, Reply<Vec<View>>),
    /// A subscriber's record.
    ViewSubscriber(SubscriberId, Reply<View>),
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
    /// Records the fleet's store holds now, decided elsewhere: adopt them
    /// (the kernel follows; nothing is written). Nobody waits for it.
    Stored(Vec<Host>),
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
pub struct CoreHandle(pub(super) mpsc::Sender<Command>);

impl CoreHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.0.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Carries out an event.
    pub async fn apply(&self, event: Event) -> Applied {
        self.ask(|r| Command::Apply(event, r))
            .await
            .unwrap_or(Err(Failure::Stopping))
    }

    /// Carries out events together, in one batch with whatever else is
    /// queued: one store commit and one kernel transaction however many
    /// they are. Answers each, in order, once the kernel follows.
    pub async fn apply_many(&self, events: Vec<Event>) -> AppliedMany {
        let n = events.len();
        match self.ask(|r| Command::ApplyMany(events, r)).await {
            Some(answers) => answers,
            None => (0..n).map(|_| Err(Failure::Stopping)).collect(),
        }
    }

    /// Carries out a session event; answers once every address of a
    /// quarantined subscriber is in the walled garden.
    pub async fn session(&self, event: SessionEvent) -> SessionApplied {
        self.ask(|r| Command::Session(event, r))
            .await
            .unwrap_or(Err(Failure::Stopping))
    }

    /// One address.
    pub async fn view(&self, addr: SubscriberAddr) -> Option<View> {
        self.views(vec![addr]).await?.pop()
    }

    /// Many addresses, one view each in the same order, in one crossing
    /// to the core (which answers them together, between two batches).
    pub async fn views(&self, addrs: Vec<SubscriberAddr>) -> Option<Vec<View>> {
        self.ask(|r| Command::View(addrs, r)).await
    }

    /// One subscriber.
    pub async fn view_subscriber(&self, id: SubscriberId) -> Option<View> {
        self.ask(|r| Command::ViewSubscriber(id, r)).await
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

    /// Adopts records the fleet's store holds now (no answer: the next
    /// change feed read catches up whatever this one missed).
    pub async fn stored(&self, hosts: Vec<Host>) -> bool {
        self.0.send(Command::Stored(hosts)).await.is_ok()
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
