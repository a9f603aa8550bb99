//! Detection's tasks in `cordond`: they hand what `cordon-detect` notices
//! to `cordon-policy` and the core. They decide nothing themselves.
//!
//! - [`policy`] (`cordon_policy::signal`): which unit a crossing is about,
//!   whether it may be touched, and the signal's action.
//! - `nflog_task`: the kernel's threshold crossings, read from NFLOG and
//!   acted on at once ([`Detector::handle_crossing`]); the report ledger and
//!   the suspects live in the policy's engine, inside the core.
//! - `dnsbl_task`: asks the DNS block lists about hosts that made SMTP
//!   attempts, in a task of its own so a slow list delays nothing else.
//! - `relay_task`: reads the relay-limit counters into a metric.
//!
//! Why the kernel tells us by NFLOG (rather than userspace polling sets or
//! following conntrack events) is written in `cordon_detect::nflog`: one
//! message per host crossing a threshold, never one per packet.

mod dnsbl_task;
mod enforce;
mod nflog_task;
mod relay_task;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod burst_tests;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use cordon_config::{Action, Config, SubscriberAddr};
use cordon_detect::nflog::{Crossing, NflogConfig, NflogSubscriber};
use cordon_proto::time::Clock;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

pub use cordon_policy::signal::{self as policy, action_name};

use cordon_proto::portal::HostState;

use crate::core::CoreHandle;
use crate::kernel::Enforcer;
use crate::metrics::Metrics;

/// What became of one crossing (for logs and tests).
#[derive(Debug, Clone, PartialEq)]
pub enum CrossingOutcome {
    /// Left alone (not a subscriber, never-quarantine, allowed sender).
    Skipped(policy::Skip),
    /// Remembered as a suspect (`observe`).
    Suspect(SubscriberAddr),
    /// A notice (`notice`): its state after it (`noticed`, or
    /// `quarantined` when the ladder moved it on, or as it was when an
    /// operator or a quarantine had decided already).
    Noticed(SubscriberAddr, HostState),
    /// Already quarantined: its attempts are counted, nothing else to do.
    AlreadyQuarantined(SubscriberAddr),
    /// Quarantined; the time from the crossing to the kernel enforcing it.
    Quarantined(SubscriberAddr, Duration),
    /// The quarantine could not be carried out (see the log).
    Failed(SubscriberAddr, String),
}

/// What the detection tasks share.
#[derive(Debug, Clone)]
pub struct Detector {
    /// The core (lifecycle, ledger, suspects).
    pub core: CoreHandle,
    /// The kernel, for the evidence counts.
    pub kernel: Arc<dyn Enforcer>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The config in force.
    pub config: watch::Receiver<Arc<Config>>,
    /// Hosts that made SMTP attempts, for the DNSBL task.
    pub dnsbl: Option<mpsc::Sender<IpAddr>>,
    /// The clock the core reads too (when a suspect was seen).
    pub clock: Arc<dyn Clock>,
}

/// A crossing to enforce: whom, about what, and in which words.
#[derive(Debug)]
struct Found {
    unit: SubscriberAddr,
    crossing: Crossing,
    note: String,
}

/// A crossing once judged.
enum Sorted {
    /// Nothing more to do.
    Done(CrossingOutcome),
    /// To be quarantined.
    Enforce(Found),
}

impl Detector {
    /// Acts on one crossing: skip, suspect, or quarantine (see
    /// [`Detector::handle_crossings`]).
    pub async fn handle_crossing(&self, crossing: Crossing) -> CrossingOutcome {
        match self.sort(crossing).await {
            Sorted::Done(outcome) => outcome,
            Sorted::Enforce(found) => {
                let unit = found.unit;
                self.enforce(vec![found])
                    .await
                    .pop()
                    .unwrap_or_else(|| CrossingOutcome::Failed(unit, "no answer".into()))
            }
        }
    }

    /// Acts on crossings that arrived together: each is judged, and those
    /// to enforce are quarantined in one request to the core (one store
    /// commit, one kernel transaction), before anything is looked up about
    /// them. One outcome per crossing, in order.
    pub async fn handle_crossings(&self, crossings: Vec<Crossing>) -> Vec<CrossingOutcome> {
        let mut outcomes = Vec::with_capacity(crossings.len());
        let mut found = Vec::new();
        let mut places = Vec::new();
        for crossing in crossings {
            match self.sort(crossing).await {
                Sorted::Done(outcome) => outcomes.push(Some(outcome)),
                Sorted::Enforce(f) => {
                    places.push(outcomes.len());
                    outcomes.push(None);
                    found.push(f);
                }
            }
        }
        let units: Vec<SubscriberAddr> = found.iter().map(|f| f.unit).collect();
        let mut enforced = self.enforce(found).await.into_iter();
        for (place, unit) in places.into_iter().zip(units) {
            outcomes[place] = Some(
                enforced
                    .next()
                    .unwrap_or_else(|| CrossingOutcome::Failed(unit, "no answer".into())),
            );
        }
        outcomes.into_iter().flatten().collect()
    }

    /// Judges one crossing: left alone, remembered as a suspect, or to be
    /// quarantined.
    async fn sort(&self, crossing: Crossing) -> Sorted {
        let config = self.config.borrow().clone();
        let signal = crossing.signal;
        let (unit, action) = match policy::judge(&config, signal, crossing.source) {
            policy::Verdict::Skip(why) => {
                debug!(source = %crossing.source, signal = signal.name(), %why, "threshold crossing left alone");
                return Sorted::Done(CrossingOutcome::Skipped(why));
            }
            policy::Verdict::Act { unit, action } => (unit, action),
        };
        self.metrics.detection(signal.name(), action_name(action));
        if let Some(tx) = &self.dnsbl {
            // Best effort: a full queue means the DNSBL task is busy;
            // the kernel logs the sender again one interval later.
            let _ = tx.try_send(crossing.source);
        }
        let note = policy::crossing_note(&config, signal);
        match action {
            Action::Notice => {
                let span = info_span!("detection", subscriber = %unit, signal = signal.name());
                Sorted::Done(self.notice(unit, signal, note).instrument(span).await)
            }
            Action::Observe => {
                let span = info_span!("detection", subscriber = %unit, signal = signal.name());
                async {
                    info!(%note, action = action_name(action), "suspect: threshold crossed, not quarantined");
                    self.core.suspect(unit, signal.name(), action, self.clock.now()).await;
                }
                .instrument(span)
                .await;
                Sorted::Done(CrossingOutcome::Suspect(unit))
            }
            Action::Enforce => Sorted::Enforce(Found {
                unit,
                crossing,
                note,
            }),
        }
    }
}

/// Opens the NFLOG group before `cordond` says it is ready, so no crossing
/// between "ready" and the first read is lost. Failure is logged, not
/// fatal: the task keeps trying, and quarantines already in force do not
/// depend on it.
pub async fn open_nflog(group: u16) -> Option<NflogSubscriber> {
    match NflogSubscriber::open(NflogConfig::new(group)).await {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, group, "cannot listen for threshold crossings yet; retrying in the background (detection of SMTP floods is off until then)");
            None
        }
    }
}

/// Starts the detection tasks: NFLOG crossings, DNSBL checks, relay-limit
/// counters. They stop when `cancel` fires.
pub fn spawn(
    mut detector: Detector,
    nflog: Option<NflogSubscriber>,
    cancel: CancellationToken,
    tracker: &TaskTracker,
) {
    let (tx, rx) = mpsc::channel(dnsbl_task::QUEUE);
    detector.dnsbl = Some(tx);
    tracker.spawn(dnsbl_task::run(detector.clone(), rx, cancel.clone()));
    tracker.spawn(relay_task::run(
        detector.kernel.clone(),
        detector.metrics.clone(),
        cancel.clone(),
    ));
    tracker.spawn(nflog_task::run(detector, nflog, cancel));
}
