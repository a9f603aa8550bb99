//! The transitions: quarantine, operator release, self-release, the quiet
//! check and the tick that ends fixed holds and probations (the notice's
//! own are in the sibling `notice`). Separate from
//! the bookkeeping in the parent module because this is where the policy's
//! rules live (escalation, self-release limits, quiet periods), while the
//! parent only keeps records, tally and journal in step.

use std::time::Duration;

use cordon_proto::portal::HostState;

use cordon_proto::time::{duration, secs};

use super::Lifecycle;
use crate::actor::Actor;
use crate::lifecycle::events::{Action, Audit, Event, EvidenceUpdate, QuarantineRequest, Refusal};
use crate::lifecycle::state::{Host, Probation, Quarantined, State, Unix};
use crate::subject::Subject;

impl Lifecycle {
    /// Applies one event at `now`.
    pub fn handle(&mut self, event: Event, now: Unix) -> Result<Vec<Action>, Refusal> {
        match event {
            Event::Quarantine(request) => self.quarantine(request, now),
            Event::Release {
                subject,
                actor,
                note,
            } => {
                if matches!(
                    self.get(&subject).map(|h| &h.state),
                    Some(State::Noticed(_))
                ) {
                    return Ok(self.withdraw(subject, actor, note, now));
                }
                let q = self.quarantine_of(&subject)?;
                let relapses = q.relapses;
                Ok(self.release(subject, relapses, actor, note, now))
            }
            Event::SelfRelease {
                subject,
                since_last,
            } => self.self_release(subject, since_last, now),
            Event::QuietChecked {
                subject,
                since_last,
            } => {
                if matches!(
                    self.get(&subject).map(|h| &h.state),
                    Some(State::Noticed(_))
                ) {
                    return Ok(self.review(subject, since_last, now));
                }
                let Ok(q) = self.quarantine_of(&subject) else {
                    return Ok(Vec::new());
                };
                let quiet = self.is_quiet(since_last);
                if q.until.is_some() || q.hold_until > now || !quiet {
                    return Ok(Vec::new());
                }
                let relapses = q.relapses;
                let note = format!(
                    "no SMTP attempt for {} and the hold has passed",
                    cordon_config::duration::format(self.policy.quiet_period)
                );
                Ok(self.release(subject, relapses, Actor::Cordond, note, now))
            }
            Event::Tick => Ok(self.tick(now)),
            Event::Notice(request) => self.notice(request, now),
            Event::Acknowledge { subject } => self.acknowledge(subject, now),
            Event::Evidence(update) => Ok(self.evidence(update)),
        }
    }

    /// Fills evidence into the quarantine or notice that began at
    /// `update.since`. Nothing when it has ended (released, withdrawn, or
    /// replaced by a later one, a ladder's quarantine included) or when
    /// nothing new is given: the counts belong to it alone.
    fn evidence(&mut self, update: EvidenceUpdate) -> Vec<Action> {
        let EvidenceUpdate {
            subject,
            since,
            mac,
            evidence,
        } = update;
        let Some(held) = self.get(&subject) else {
            return Vec::new();
        };
        let mut host = held.clone();
        match &mut host.state {
            State::Quarantined(q) if q.since == since => q.evidence.extend(evidence),
            State::Noticed(n) if n.since == since => n.evidence.extend(evidence),
            _ => return Vec::new(),
        }
        if mac.is_some() {
            host.mac = mac;
        }
        if host == *held {
            return Vec::new();
        }
        self.set(subject, Some(host.clone()));
        vec![Action::Store(Box::new(host))]
    }

    fn quarantine_of(&self, subject: &Subject) -> Result<&Quarantined, Refusal> {
        match self.get(subject).map(|h| &h.state) {
            Some(State::Quarantined(q)) => Ok(q),
            _ => Err(Refusal::NotQuarantined(subject.clone())),
        }
    }

    fn is_quiet(&self, since_last: Option<Duration>) -> bool {
        quiet_for(since_last, self.policy.quiet_period)
    }

    pub(super) fn quarantine(
        &mut self,
        request: QuarantineRequest,
        now: Unix,
    ) -> Result<Vec<Action>, Refusal> {
        let QuarantineRequest {
            subject,
            reason,
            actor,
            note,
            hold,
            mac,
            evidence,
        } = request;
        if hold == Some(Duration::ZERO) {
            return Err(Refusal::ZeroHold);
        }
        // Only address records are ranges that could overlap; a
        // subscriber's addresses never overlap another's (a session that
        // takes an address ends the previous holder's).
        if let Subject::Addr(addr) = &subject
            && let Some(other) = self.covering(addr).or_else(|| self.inside(addr))
            && let Some(other) = other.subject.addr()
        {
            return Err(Refusal::Overlaps { addr: *addr, other });
        }
        let mut host = self
            .get(&subject)
            .cloned()
            .unwrap_or_else(|| Host::clean(subject.clone()));
        let from = host.state.kind();
        if mac.is_some() {
            host.mac = mac;
        }
        let (relapses, relapse) = match &host.state {
            // Already quarantined: only a new fixed end changes anything.
            State::Quarantined(q) => {
                let Some(hold) = hold else {
                    return Ok(Vec::new());
                };
                let mut q = q.clone();
                q.until = Some(now + secs(hold));
                q.self_release = false;
                q.note = note.clone();
                host.state = State::Quarantined(q);
                let audit = Audit {
                    at: now,
                    subject: subject.clone(),
                    address: None,
                    from,
                    to: HostState::Quarantined,
                    actor,
                    note: format!(
                        "{note} (fixed end in {})",
                        cordon_config::duration::format(hold)
                    ),
                };
                self.set(subject, Some(host.clone()));
                return Ok(vec![Action::Persist {
                    host: Box::new(host),
                    audit,
                }]);
            }
            State::Probation(p) => (p.relapses + 1, true),
            // A notice on probation was a relapse waiting to be judged.
            State::Noticed(n) if n.relapse => (n.relapses + 1, true),
            State::Noticed(n) => (n.relapses, false),
            State::Clean => (0, false),
        };
        let hold_len = self.policy.hold(relapses);
        let q = Quarantined {
            since: now,
            reason,
            actor: actor.clone(),
            note: note.clone(),
            hold_until: now + secs(hold_len),
            until: hold.map(|h| now + secs(h)),
            self_release: !relapse && hold.is_none(),
            relapses,
            evidence,
        };
        host.state = State::Quarantined(q);
        let audit = Audit {
            at: now,
            subject: subject.clone(),
            address: None,
            from,
            to: HostState::Quarantined,
            actor,
            note: if relapse {
                format!(
                    "{note} (relapse {relapses} on probation: hold {}, no self-release)",
                    cordon_config::duration::format(hold_len)
                )
            } else {
                note
            },
        };
        self.set(subject.clone(), Some(host.clone()));
        Ok(with_kernel(host, audit, Action::Enforce(subject)))
    }

    fn release(
        &mut self,
        subject: Subject,
        relapses: u32,
        actor: Actor,
        note: String,
        now: Unix,
    ) -> Vec<Action> {
        let mut host = self
            .get(&subject)
            .cloned()
            .unwrap_or_else(|| Host::clean(subject.clone()));
        if actor == Actor::Subscriber {
            host.self_releases.push(now);
        }
        let window_start = now - secs(self.policy.self_release_window);
        host.self_releases.retain(|t| *t > window_start);
        host.state = State::Probation(Probation {
            since: now,
            until: now + secs(self.policy.probation),
            relapses,
        });
        let audit = Audit {
            at: now,
            subject: subject.clone(),
            address: None,
            from: HostState::Quarantined,
            to: HostState::Probation,
            actor,
            note,
        };
        self.set(subject.clone(), Some(host.clone()));
        with_kernel(host, audit, Action::Lift(subject))
    }

    fn self_release(
        &mut self,
        subject: Subject,
        since_last: Option<Duration>,
        now: Unix,
    ) -> Result<Vec<Action>, Refusal> {
        let Some(host) = self.get(&subject) else {
            return Err(Refusal::NotQuarantined(subject));
        };
        let State::Quarantined(q) = &host.state else {
            return Err(Refusal::NotQuarantined(subject));
        };
        if self.self_releases_left(host, now) == 0 {
            return Err(Refusal::NoneLeft);
        }
        if q.hold_until > now {
            return Err(Refusal::TooEarly {
                remaining: duration(q.hold_until - now),
            });
        }
        let needed = self.policy.self_release_quiet;
        if let Some(ago) = since_last
            && !quiet_for(since_last, needed)
        {
            return Err(Refusal::StillSending { ago, quiet: needed });
        }
        let relapses = q.relapses;
        Ok(self.release(
            subject,
            relapses,
            Actor::Subscriber,
            "the subscriber reported the computer cleaned and it has been quiet".into(),
            now,
        ))
    }

    fn tick(&mut self, now: Unix) -> Vec<Action> {
        let mut actions = self.notices_due(now);
        let ended: Vec<(Subject, bool, u32)> = self
            .hosts()
            .filter_map(|h| match &h.state {
                State::Quarantined(q) if q.until.is_some_and(|u| u <= now) => {
                    Some((h.subject.clone(), true, q.relapses))
                }
                State::Probation(p) if p.until <= now => {
                    Some((h.subject.clone(), false, p.relapses))
                }
                _ => None,
            })
            .collect();
        for (subject, quarantined, relapses) in ended {
            if quarantined {
                actions.extend(self.release(
                    subject,
                    relapses,
                    Actor::Cordond,
                    "the fixed hold ended".into(),
                    now,
                ));
            } else if let Some(mut host) = self.get(&subject).cloned() {
                host.state = State::Clean;
                let audit = Audit {
                    at: now,
                    subject: subject.clone(),
                    address: None,
                    from: HostState::Probation,
                    to: HostState::Clean,
                    actor: Actor::Cordond,
                    note: "probation ended without a relapse".into(),
                };
                self.set(subject, Some(host.clone()));
                actions.push(Action::Persist {
                    host: Box::new(host),
                    audit,
                });
            }
        }
        actions
    }
}

/// No SMTP attempt for at least `period` (`None`: none the kernel remembers,
/// and it remembers for the whole quiet period).
fn quiet_for(since_last: Option<Duration>, period: Duration) -> bool {
    since_last.is_none_or(|ago| ago >= period)
}

/// A change the kernel must follow: the record first, then the set, then
/// the host's conntrack entries (so established flows neither escape the
/// walled garden nor stay redirected after release).
fn with_kernel(host: Host, audit: Audit, kernel: Action) -> Vec<Action> {
    let subject = host.subject.clone();
    vec![
        Action::Persist {
            host: Box::new(host),
            audit,
        },
        kernel,
        Action::FlushConntrack(subject),
    ]
}
