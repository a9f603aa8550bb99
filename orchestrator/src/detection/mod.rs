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
mod nflog_task;
mod relay_task;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cordon_config::{Action, Config, SubscriberAddr};
use cordon_detect::nflog::{Crossing, NflogConfig, NflogSubscriber};
use cordon_policy::Actor;
use cordon_proto::portal::{HostState, Reason};
use cordon_proto::time::Clock;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

pub use cordon_policy::signal::{self as policy, action_name};

use cordon_policy::lifecycle::{Event, NoticeRequest, QuarantineRequest};

use crate::core::CoreHandle;
use crate::kernel::{Enforcer, mac_of};
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

/// How long the MAC lookup may take before a detection quarantine goes
/// ahead without it: the quarantine must not wait on a nicety.
const MAC_WITHIN: Duration = Duration::from_millis(100);

impl Detector {
    /// Acts on one crossing: skip, suspect, or quarantine.
    pub async fn handle_crossing(&self, crossing: Crossing) -> CrossingOutcome {
        let config = self.config.borrow().clone();
        let signal = crossing.signal;
        let (unit, action) = match policy::judge(&config, signal, crossing.source) {
            policy::Verdict::Skip(why) => {
                debug!(source = %crossing.source, signal = signal.name(), %why, "threshold crossing left alone");
                return CrossingOutcome::Skipped(why);
            }
            policy::Verdict::Act { unit, action } => (unit, action),
        };
        let span = info_span!("detection", subscriber = %unit, signal = signal.name());
        async {
            self.metrics.detection(signal.name(), action_name(action));
            if let Some(tx) = &self.dnsbl {
                // Best effort: a full queue means the DNSBL task is busy;
                // the kernel logs the sender again one interval later.
                let _ = tx.try_send(crossing.source);
            }
            let note = policy::crossing_note(&config, signal);
            match action {
                Action::Notice => self.notice(unit, note).await,
                Action::Observe => {
                    info!(%note, action = action_name(action), "suspect: threshold crossed, not quarantined");
                    self.core.suspect(unit, signal.name(), action, self.clock.now()).await;
                    CrossingOutcome::Suspect(unit)
                }
                Action::Enforce => self.enforce(unit, &crossing, note).await,
            }
        }
        .instrument(span)
        .await
    }

    /// A notice, or for a subscriber already noticed a crossing the
    /// ladder counts (the policy decides which).
    async fn notice(&self, unit: SubscriberAddr, note: String) -> CrossingOutcome {
        let event = Event::Notice(NoticeRequest {
            subject: cordon_policy::subject::Subject::Addr(unit),
            reason: Reason::Detection,
            actor: Actor::Detection,
            note,
            mac: None,
            evidence: BTreeMap::new(),
        });
        match self.core.apply(event).await {
            Ok(host) => {
                let state = host.map_or(HostState::Clean, |h| h.state.kind());
                info!(state = %state, "noticed by detection");
                CrossingOutcome::Noticed(unit, state)
            }
            Err(e) => {
                warn!(error = %e, "detection could not notice the host");
                CrossingOutcome::Failed(unit, e.to_string())
            }
        }
    }

    async fn enforce(
        &self,
        unit: SubscriberAddr,
        crossing: &Crossing,
        note: String,
    ) -> CrossingOutcome {
        if let Some(view) = self.core.view(unit).await
            && view.host.as_ref().map(|h| h.state.kind()) == Some(HostState::Quarantined)
        {
            debug!("already quarantined; its attempts are counted, nothing more to do");
            return CrossingOutcome::AlreadyQuarantined(unit);
        }
        let kernel = self.kernel.clone();
        let seen = tokio::task::spawn_blocking(move || kernel.smtp_seen(&unit));
        let mac = tokio::time::timeout(MAC_WITHIN, mac_of(unit.net()));
        let (seen, mac) = tokio::join!(seen, mac);
        let attempts = match seen {
            Ok(Ok(s)) => s.map_or(0, |s| s.attempts),
            Ok(Err(e)) => {
                warn!(error = %e, "cannot read the host's SMTP count; quarantining without it");
                0
            }
            Err(_) => 0,
        };
        let signal = crossing.signal;
        let threshold = u64::from(policy::signal_of(&self.config.borrow(), signal).threshold);
        let mut evidence = BTreeMap::from([("smtp_attempts".to_owned(), attempts)]);
        evidence.insert(format!("{}_threshold", signal.name()), threshold);
        let event = Event::Quarantine(QuarantineRequest {
            subject: cordon_policy::subject::Subject::Addr(unit),
            reason: Reason::Detection,
            actor: Actor::Detection,
            note,
            hold: None,
            mac: mac.ok().flatten(),
            evidence,
        });
        match self.core.apply(event).await {
            Ok(host) => {
                let latency = SystemTime::now()
                    .duration_since(crossing.observed_at)
                    .unwrap_or_default();
                Metrics::observe(&self.metrics.detection_latency, latency);
                let relapses = match host.map(|h| h.state) {
                    Some(cordon_policy::lifecycle::State::Quarantined(q)) => q.relapses,
                    _ => 0,
                };
                info!(
                    latency_ms = latency.as_secs_f64() * 1000.0,
                    smtp_attempts = attempts,
                    relapses,
                    "quarantined by detection"
                );
                CrossingOutcome::Quarantined(unit, latency)
            }
            Err(e) => {
                warn!(error = %e, "detection could not quarantine the host");
                CrossingOutcome::Failed(unit, e.to_string())
            }
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
