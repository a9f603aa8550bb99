//! Enforce first, evidence after. A crossing is quarantined with what is
//! known when it arrives (the signal, its threshold, the note "over N in
//! W"): the core writes the record and changes the kernel at once, for
//! every crossing that arrived together in one batch. Only then is the
//! evidence looked up (the attempts the kernel counted, the host's MAC) and
//! filled into the records as a second batch, a record change without a
//! transition (`Event::Evidence`): the audit line says why the host was
//! quarantined, the record says what the kernel had counted by then.
//!
//! A crossing whose signal says `notice` takes the same path: the notice
//! names the threshold at once, and the count is filled in after, into
//! the notice, or into the quarantine when the ladder moved it on.
//!
//! Looking the evidence up first cost every detection a netlink round
//! trip and a neighbour lookup (up to 100 ms when the host had no entry)
//! before the kernel changed; in an outbreak those lookups stood between
//! every zombie and its wall.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use cordon_config::SubscriberAddr;
use cordon_detect::nflog::SignalKind;
use cordon_policy::Actor;
use cordon_policy::lifecycle::{Event, EvidenceUpdate, NoticeRequest, QuarantineRequest, State};
use cordon_policy::subject::Subject;
use cordon_proto::portal::{HostState, Reason};
use cordon_proto::time::Unix;
use ipnet::IpNet;
use tracing::{debug, info, warn};

use super::{CrossingOutcome, Detector, Found, policy};
use crate::core::Taken;
use crate::kernel::macs_of;
use crate::metrics::Metrics;

/// How long the MAC lookups of one batch may take before its evidence is
/// written without them. Nothing waits on them any more but the evidence.
const MAC_WITHIN: Duration = Duration::from_secs(1);

/// A quarantine just made, whose evidence is still to be looked up.
struct Pending {
    unit: SubscriberAddr,
    subject: Subject,
    since: Unix,
}

impl Detector {
    /// Quarantines `found` in one request to the core, then fills in their
    /// evidence. One outcome each, in order, timed at enforcement.
    pub(super) async fn enforce(&self, found: Vec<Found>) -> Vec<CrossingOutcome> {
        if found.is_empty() {
            return Vec::new();
        }
        let events = {
            let config = self.config.borrow();
            found
                .iter()
                .map(|f| {
                    let signal = f.crossing.signal;
                    let threshold = u64::from(policy::signal_of(&config, signal).threshold);
                    Event::Quarantine(QuarantineRequest {
                        subject: Subject::Addr(f.unit),
                        reason: Reason::Detection,
                        actor: Actor::Detection,
                        note: f.note.clone(),
                        hold: None,
                        mac: None,
                        evidence: BTreeMap::from([(
                            format!("{}_threshold", signal.name()),
                            threshold,
                        )]),
                    })
                })
                .collect()
        };
        let answers = self.core.apply_many(events).await;
        let enforced = SystemTime::now();
        let mut pending = Vec::new();
        let outcomes = found
            .into_iter()
            .zip(answers)
            .map(|(f, answer)| self.outcome(f, answer, enforced, &mut pending))
            .collect();
        self.fill_evidence(pending).await;
        outcomes
    }

    /// A notice, or for a subscriber already noticed a crossing the
    /// ladder counts (the policy decides which), naming the signal's
    /// threshold. Its evidence is filled in after, as for a quarantine:
    /// the attempts the kernel counted, into the notice, or into the
    /// quarantine when this crossing was the ladder's last.
    pub(super) async fn notice(
        &self,
        unit: SubscriberAddr,
        signal: SignalKind,
        note: String,
    ) -> CrossingOutcome {
        let threshold = {
            let config = self.config.borrow();
            u64::from(policy::signal_of(&config, signal).threshold)
        };
        let event = Event::Notice(NoticeRequest {
            subject: Subject::Addr(unit),
            reason: Reason::Detection,
            actor: Actor::Detection,
            note,
            mac: None,
            evidence: BTreeMap::from([(format!("{}_threshold", signal.name()), threshold)]),
        });
        let answer = self.core.apply_many(vec![event]).await.pop();
        match answer {
            Some(Ok(Taken { changed, host, .. })) => {
                let state = host.as_ref().map_or(HostState::Clean, |h| h.state.kind());
                info!(state = %state, "noticed by detection");
                let since = host.as_ref().and_then(|h| match &h.state {
                    State::Noticed(n) => Some(n.since),
                    State::Quarantined(q) => Some(q.since),
                    _ => None,
                });
                if let (true, Some(h), Some(since)) = (changed, &host, since) {
                    let subject = h.subject.clone();
                    self.fill_evidence(vec![Pending {
                        unit,
                        subject,
                        since,
                    }])
                    .await;
                }
                CrossingOutcome::Noticed(unit, state)
            }
            Some(Err(e)) => {
                warn!(error = %e, "detection could not notice the host");
                CrossingOutcome::Failed(unit, e.to_string())
            }
            None => CrossingOutcome::Failed(unit, "no answer".into()),
        }
    }

    fn outcome(
        &self,
        f: Found,
        answer: Result<Taken, crate::core::Failure>,
        enforced: SystemTime,
        pending: &mut Vec<Pending>,
    ) -> CrossingOutcome {
        let (unit, signal) = (f.unit, f.crossing.signal.name());
        match answer {
            Ok(Taken {
                changed: true,
                host,
                in_force,
            }) => {
                let latency = in_force
                    .unwrap_or(enforced)
                    .duration_since(f.crossing.observed_at)
                    .unwrap_or_default();
                Metrics::observe(&self.metrics.detection_latency, latency);
                let mut relapses = 0;
                if let Some(h) = host
                    && let State::Quarantined(q) = &h.state
                {
                    relapses = q.relapses;
                    pending.push(Pending {
                        unit,
                        subject: h.subject.clone(),
                        since: q.since,
                    });
                }
                info!(
                    subscriber = %unit,
                    signal,
                    latency_ms = latency.as_secs_f64() * 1000.0,
                    relapses,
                    "quarantined by detection"
                );
                CrossingOutcome::Quarantined(unit, latency)
            }
            Ok(Taken { changed: false, .. }) => {
                debug!(subscriber = %unit, signal, "already quarantined; its attempts are counted, nothing more to do");
                CrossingOutcome::AlreadyQuarantined(unit)
            }
            Err(e) => {
                warn!(subscriber = %unit, signal, error = %e, "detection could not quarantine the host");
                CrossingOutcome::Failed(unit, e.to_string())
            }
        }
    }

    /// Looks up what the kernel counted for each quarantine (or notice)
    /// just made and the hosts' MACs, and fills them into the records in
    /// one batch. A count that cannot be read is left out rather than
    /// written as zero.
    async fn fill_evidence(&self, pending: Vec<Pending>) {
        if pending.is_empty() {
            return;
        }
        let units: Vec<SubscriberAddr> = pending.iter().map(|p| p.unit).collect();
        let nets: Vec<IpNet> = units.iter().map(SubscriberAddr::net).collect();
        let kernel = self.kernel.clone();
        let seen = tokio::task::spawn_blocking(move || {
            units
                .iter()
                .map(|u| kernel.smtp_seen(u))
                .collect::<Vec<_>>()
        });
        let macs = tokio::time::timeout(MAC_WITHIN, macs_of(&nets));
        let (seen, macs) = tokio::join!(seen, macs);
        let seen = seen.unwrap_or_default();
        let macs = macs.unwrap_or_default();
        let events: Vec<Event> = pending
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let mut evidence = BTreeMap::new();
                match seen.get(i) {
                    Some(Ok(s)) => {
                        evidence.insert("smtp_attempts".to_owned(), s.map_or(0, |s| s.attempts));
                    }
                    Some(Err(e)) => {
                        warn!(subscriber = %p.unit, error = %e, "cannot read the host's SMTP count; its record stays without it");
                    }
                    None => {}
                }
                Event::Evidence(EvidenceUpdate {
                    subject: p.subject,
                    since: p.since,
                    mac: macs.get(i).cloned().flatten(),
                    evidence,
                })
            })
            .collect();
        let n = events.len();
        let answers = self.core.apply_many(events).await;
        let failed = answers.iter().filter(|a| a.is_err()).count();
        if let Some(Err(e)) = answers.iter().find(|a| a.is_err()) {
            warn!(failed, error = %e, "the evidence of {failed} detection quarantines or notices could not be written; the decisions stand");
        }
        debug!(quarantines = n, "evidence filled in");
    }
}
