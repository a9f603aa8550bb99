//! The transitions: quarantine, operator release, self-release, the quiet
//! check and the tick that ends fixed holds and probations. Separate from
//! the bookkeeping in the parent module because this is where the policy's
//! rules live (escalation, self-release limits, quiet periods), while the
//! parent only keeps records, tally and journal in step.

use std::time::Duration;

use cordon_config::SubscriberAddr;
use cordon_proto::portal::HostState;

use cordon_proto::time::{duration, secs};

use super::Lifecycle;
use crate::actor::Actor;
use crate::lifecycle::events::{Action, Audit, Event, QuarantineRequest, Refusal};
use crate::lifecycle::state::{Host, Probation, Quarantined, State, Unix};

impl Lifecycle {
    /// Applies one event at `now`.
    pub fn handle(&mut self, event: Event, now: Unix) -> Result<Vec<Action>, Refusal> {
        match event {
            Event::Quarantine(request) => self.quarantine(request, now),
            Event::Release { addr, actor, note } => {
                let q = self.quarantine_of(&addr)?;
                let relapses = q.relapses;
                Ok(self.release(addr, relapses, actor, note, now))
            }
            Event::SelfRelease { addr, since_last } => self.self_release(addr, since_last, now),
            Event::QuietChecked { addr, since_last } => {
                let Ok(q) = self.quarantine_of(&addr) else {
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
                Ok(self.release(addr, relapses, Actor::Cordond, note, now))
            }
            Event::Tick => Ok(self.tick(now)),
        }
    }

    fn quarantine_of(&self, addr: &SubscriberAddr) -> Result<&Quarantined, Refusal> {
        match self.hosts.get(addr).map(|h| &h.state) {
            Some(State::Quarantined(q)) => Ok(q),
            _ => Err(Refusal::NotQuarantined(*addr)),
        }
    }

    fn is_quiet(&self, since_last: Option<Duration>) -> bool {
        quiet_for(since_last, self.policy.quiet_period)
    }

    fn quarantine(
        &mut self,
        request: QuarantineRequest,
        now: Unix,
    ) -> Result<Vec<Action>, Refusal> {
        let QuarantineRequest {
            addr,
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
        if let Some(other) = self.covering(&addr).or_else(|| self.inside(&addr)) {
            return Err(Refusal::Overlaps {
                addr,
                other: other.addr,
            });
        }
        let mut host = self
            .hosts
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| Host::clean(addr));
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
                    addr,
                    from,
                    to: HostState::Quarantined,
                    actor,
                    note: format!(
                        "{note} (fixed end in {})",
                        cordon_config::duration::format(hold)
                    ),
                };
                self.set(addr, Some(host.clone()));
                return Ok(vec![Action::Persist {
                    host: Box::new(host),
                    audit,
                }]);
            }
            State::Probation(p) => (p.relapses + 1, true),
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
            addr,
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
        self.set(addr, Some(host.clone()));
        Ok(with_kernel(host, audit, Action::Enforce(addr)))
    }

    fn release(
        &mut self,
        addr: SubscriberAddr,
        relapses: u32,
        actor: Actor,
        note: String,
        now: Unix,
    ) -> Vec<Action> {
        let mut host = self
            .hosts
            .get(&addr)
            .cloned()
            .unwrap_or_else(|| Host::clean(addr));
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
            addr,
            from: HostState::Quarantined,
            to: HostState::Probation,
            actor,
            note,
        };
        self.set(addr, Some(host.clone()));
        with_kernel(host, audit, Action::Lift(addr))
    }

    fn self_release(
        &mut self,
        addr: SubscriberAddr,
        since_last: Option<Duration>,
        now: Unix,
    ) -> Result<Vec<Action>, Refusal> {
        let host = self.hosts.get(&addr).ok_or(Refusal::NotQuarantined(addr))?;
        let State::Quarantined(q) = &host.state else {
            return Err(Refusal::NotQuarantined(addr));
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
            addr,
            relapses,
            Actor::Subscriber,
            "the subscriber reported the computer cleaned and it has been quiet".into(),
            now,
        ))
    }

    fn tick(&mut self, now: Unix) -> Vec<Action> {
        let mut actions = Vec::new();
        let ended: Vec<(SubscriberAddr, bool, u32)> = self
            .hosts
            .values()
            .filter_map(|h| match &h.state {
                State::Quarantined(q) if q.until.is_some_and(|u| u <= now) => {
                    Some((h.addr, true, q.relapses))
                }
                State::Probation(p) if p.until <= now => Some((h.addr, false, p.relapses)),
                _ => None,
            })
            .collect();
        for (addr, quarantined, relapses) in ended {
            if quarantined {
                actions.extend(self.release(
                    addr,
                    relapses,
                    Actor::Cordond,
                    "the fixed hold ended".into(),
                    now,
                ));
            } else if let Some(mut host) = self.hosts.get(&addr).cloned() {
                host.state = State::Clean;
                let audit = Audit {
                    at: now,
                    addr,
                    from: HostState::Probation,
                    to: HostState::Clean,
                    actor: Actor::Cordond,
                    note: "probation ended without a relapse".into(),
                };
                self.set(addr, Some(host.clone()));
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
    let addr = host.addr;
    vec![
        Action::Persist {
            host: Box::new(host),
            audit,
        },
        kernel,
        Action::FlushConntrack(addr),
    ]
}
