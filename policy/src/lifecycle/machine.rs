//! Events in, actions out.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

use cordon_config::SubscriberAddr;
use cordon_proto::portal::{HostState, Reason};
use ipnet::IpNet;

use super::policy::Policy;
use super::state::{Host, Probation, Quarantined, State, Unix};
use cordon_proto::time::{duration, secs};

use crate::actor::Actor;

/// Something that happened to an address.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An operator, a detector or a report asks for a quarantine.
    Quarantine(QuarantineRequest),
    /// An operator lifts a quarantine.
    Release {
        /// Whom.
        addr: SubscriberAddr,
        /// The operator.
        actor: Actor,
        /// Why.
        note: String,
    },
    /// The subscriber pressed "I have cleaned my computer"; `since_last` is
    /// the time since the host's last SMTP attempt as the kernel knows it
    /// (`None`: none within the quiet period).
    SelfRelease {
        /// Whom.
        addr: SubscriberAddr,
        /// Time since the last SMTP attempt.
        since_last: Option<Duration>,
    },
    /// The daemon asked the kernel whether a host whose hold has passed has
    /// gone quiet (see [`Lifecycle::due_quiet_checks`]).
    QuietChecked {
        /// Whom.
        addr: SubscriberAddr,
        /// Time since the last SMTP attempt.
        since_last: Option<Duration>,
    },
    /// Time passed: fixed holds and probations that ended are acted on.
    Tick,
}

/// A request to quarantine one subscriber unit, with who asked and why.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineRequest {
    /// Whom.
    pub addr: SubscriberAddr,
    /// What kind of decision.
    pub reason: Reason,
    /// Who decided.
    pub actor: Actor,
    /// Why, in words.
    pub note: String,
    /// A fixed length (`--hold`).
    pub hold: Option<Duration>,
    /// The host's MAC, when the neighbour table knew it.
    pub mac: Option<String>,
    /// Evidence counts behind the decision.
    pub evidence: BTreeMap<String, u64>,
}

/// What the daemon must do, in this order: store first, then the kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write the host's record and an audit entry (before the kernel changes).
    Persist {
        /// The record as it now stands.
        host: Box<Host>,
        /// What changed.
        audit: Audit,
    },
    /// Add the address to the kernel's quarantine set.
    Enforce(SubscriberAddr),
    /// Remove the address from the kernel's quarantine set.
    Lift(SubscriberAddr),
    /// Delete the address's conntrack entries, so established flows neither
    /// escape the walled garden nor stay redirected after release.
    FlushConntrack(SubscriberAddr),
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// When.
    pub at: Unix,
    /// Whom.
    pub addr: SubscriberAddr,
    /// State before.
    pub from: HostState,
    /// State after.
    pub to: HostState,
    /// Who: operator name, `detection`, `report`, `self`, `cordond`.
    pub actor: Actor,
    /// Why.
    pub note: String,
}

/// Why an event changed nothing. Each says what the asker can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Release of an address that is not quarantined.
    #[error("{0} is not quarantined; nothing to release (`cordon show {0}` shows its state)")]
    NotQuarantined(SubscriberAddr),
    /// The quarantine would overlap another one: the kernel's interval set
    /// cannot hold both, and two records for one host would disagree.
    #[error(
        "{addr} overlaps {other}, which is already quarantined; release {other} first or name exactly {other}"
    )]
    Overlaps {
        /// Asked for.
        addr: SubscriberAddr,
        /// Already quarantined.
        other: SubscriberAddr,
    },
    /// Self-release before the hold has passed.
    #[error("the shortest quarantine has not passed yet: {remaining:?} to go")]
    TooEarly {
        /// Time left.
        remaining: Duration,
    },
    /// Self-release while the host still sends mail.
    #[error("the computer still tried to send mail {ago:?} ago; it must be quiet for {quiet:?}")]
    StillSending {
        /// Since the last attempt.
        ago: Duration,
        /// The quiet period.
        quiet: Duration,
    },
    /// No self-releases left (used up, relapse, or fixed hold).
    #[error("no self-releases are left; the subscriber should call support")]
    NoneLeft,
    /// A `--hold` of zero.
    #[error("a hold of zero would end the quarantine at once; give a duration like 2h")]
    ZeroHold,
}

/// How many records stand in the states the gauges show. Kept as records
/// change rather than counted, so a batch costs what it changes and not
/// what is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Quarantined records.
    pub quarantined: usize,
    /// Records on probation.
    pub probation: usize,
}

impl Tally {
    fn slot(&mut self, state: &State) -> Option<&mut usize> {
        match state {
            State::Quarantined(_) => Some(&mut self.quarantined),
            State::Probation(_) => Some(&mut self.probation),
            State::Clean => None,
        }
    }
}

/// The records a batch changed, each as it stood before the batch's first
/// change to it: what puts memory back when the store refuses the batch.
#[derive(Debug, Default)]
pub struct Undo(BTreeMap<SubscriberAddr, Option<Host>>);

impl Undo {
    /// `Some(record before the batch)` if the batch changed `addr`'s
    /// record, `None` if it left it alone.
    pub fn before(&self, addr: &SubscriberAddr) -> Option<Option<&Host>> {
        self.0.get(addr).map(Option::as_ref)
    }

    /// Every address whose record the batch changed.
    pub fn changed(&self) -> Vec<SubscriberAddr> {
        self.0.keys().copied().collect()
    }

    /// How many records the batch changed (what an undo would rewrite).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether an undo would have nothing to do.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Every address that has a record, and the policy that moves them.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    policy: Policy,
    /// Changed only through [`Lifecycle::set`], which keeps `tally` and
    /// `journal` in step with it.
    hosts: BTreeMap<SubscriberAddr, Host>,
    tally: Tally,
    /// Open between [`Lifecycle::begin`] and [`Lifecycle::finish`].
    journal: Option<BTreeMap<SubscriberAddr, Option<Host>>>,
}

impl Lifecycle {
    /// A lifecycle over the records read from the store.
    pub fn new(policy: Policy, hosts: impl IntoIterator<Item = Host>) -> Self {
        let hosts: BTreeMap<SubscriberAddr, Host> =
            hosts.into_iter().map(|h| (h.addr, h)).collect();
        let mut lifecycle = Lifecycle {
            policy,
            hosts,
            tally: Tally::default(),
            journal: None,
        };
        lifecycle.tally = lifecycle.recount();
        lifecycle
    }

    /// The one place records change: keeps the tally, and the first version
    /// of each record a batch touches, in step with the map.
    fn set(&mut self, addr: SubscriberAddr, host: Option<Host>) {
        if let Some(n) = host.as_ref().and_then(|h| self.tally.slot(&h.state)) {
            *n += 1;
        }
        let old = match host {
            Some(h) => self.hosts.insert(addr, h),
            None => self.hosts.remove(&addr),
        };
        if let Some(n) = old.as_ref().and_then(|h| self.tally.slot(&h.state)) {
            *n -= 1;
        }
        if let Some(journal) = &mut self.journal {
            // Only the first change counts: that is how the record stood
            // before the batch.
            journal.entry(addr).or_insert(old);
        }
    }

    /// Starts remembering what changes, so the batch can be undone.
    pub fn begin(&mut self) {
        self.journal = Some(BTreeMap::new());
    }

    /// Stops remembering; returns what the batch changed since
    /// [`begin`](Self::begin), as it was before.
    pub fn finish(&mut self) -> Undo {
        // A full count per batch is what the tally exists to avoid; debug
        // builds pay it to catch a tally that drifts.
        debug_assert_eq!(self.tally, self.recount(), "the host tally drifted");
        Undo(self.journal.take().unwrap_or_default())
    }

    /// Puts every record a batch changed back as it was before the batch.
    pub fn undo(&mut self, undo: Undo) {
        for (addr, host) in undo.0 {
            self.restore(addr, host);
        }
    }

    /// What the gauges and `cordon status` show, at no cost however many
    /// records there are.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// Records per state counted one by one: what the kept tally must
    /// always equal (for checks; it costs a pass over every record).
    pub fn recount(&self) -> Tally {
        let mut t = Tally::default();
        for h in self.hosts.values() {
            if let Some(n) = t.slot(&h.state) {
                *n += 1;
            }
        }
        t
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A reloaded config's policy applies to the next decisions; deadlines
    /// already stored stay as they were promised.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The record of exactly this address.
    pub fn get(&self, addr: &SubscriberAddr) -> Option<&Host> {
        self.hosts.get(addr)
    }

    /// The record that decides about `addr`: its own, or a quarantined range
    /// that covers it.
    pub fn lookup(&self, addr: &SubscriberAddr) -> Option<&Host> {
        match self.hosts.get(addr) {
            Some(h) if !matches!(h.state, State::Clean) => Some(h),
            own => self.covering(addr).or(own),
        }
    }

    /// A quarantined range strictly wider than `addr` that covers it. Looked
    /// up, not scanned: such a range can only be one of `addr`'s shorter
    /// prefixes, so this costs a few dozen map lookups however many hosts
    /// are held (a scan made every quarantine cost as much as all the
    /// records, and seeding 100 000 quarantines quadratic).
    fn covering(&self, addr: &SubscriberAddr) -> Option<&Host> {
        let net = addr.net();
        (0..net.prefix_len())
            .filter_map(|len| IpNet::new(net.network(), len).ok())
            .filter_map(|wider| self.hosts.get(&wider.trunc()))
            .find(|h| h.state.is_quarantined())
    }

    /// A quarantined range strictly inside `addr`. The records are ordered
    /// by network address, then prefix length, so the ranges inside `addr`
    /// are exactly the records that follow it up to its last address: a
    /// single host has none to look at.
    fn inside(&self, addr: &SubscriberAddr) -> Option<&Host> {
        let net = addr.net();
        let last = net.broadcast();
        self.hosts
            .range::<SubscriberAddr, _>((Bound::Excluded(addr), Bound::Unbounded))
            .map(|(_, h)| h)
            .take_while(|h| h.addr.net().network() <= last)
            .find(|h| h.state.is_quarantined() && net.contains(&h.addr.net()))
    }

    /// Puts back a record as it was (the store refused to write a change).
    pub fn restore(&mut self, addr: SubscriberAddr, host: Option<Host>) {
        self.set(addr, host);
    }

    /// Every record.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// Every address that must be in the kernel's set.
    pub fn quarantined(&self) -> Vec<SubscriberAddr> {
        self.hosts
            .values()
            .filter(|h| h.state.is_quarantined())
            .map(|h| h.addr)
            .collect()
    }

    /// Self-releases the address has left now.
    pub fn self_releases_left(&self, host: &Host, now: Unix) -> u32 {
        if let State::Quarantined(q) = &host.state
            && !q.self_release
        {
            return 0;
        }
        let window_start = now - secs(self.policy.self_release_window);
        let used = host
            .self_releases
            .iter()
            .filter(|t| **t > window_start)
            .count();
        self.policy
            .self_release_count
            .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX))
    }

    /// Quarantines whose hold has passed and that end by the quiet test: the
    /// daemon asks the kernel about each (cost proportional to the number
    /// quarantined, never to the number of subscribers).
    pub fn due_quiet_checks(&self, now: Unix) -> Vec<SubscriberAddr> {
        self.hosts
            .values()
            .filter_map(|h| match &h.state {
                State::Quarantined(q) if q.until.is_none() && q.hold_until <= now => Some(h.addr),
                _ => None,
            })
            .collect()
    }

    /// The next moment something changes by itself without the kernel being
    /// asked: a hold passing, a fixed end, the end of a probation.
    pub fn next_deadline(&self) -> Option<Unix> {
        self.hosts
            .values()
            .filter_map(|h| match &h.state {
                State::Quarantined(q) => Some(q.until.unwrap_or(q.hold_until)),
                State::Probation(p) => Some(p.until),
                State::Clean => None,
            })
            .min()
    }

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
        Ok(vec![
            Action::Persist {
                host: Box::new(host),
                audit,
            },
            Action::Enforce(addr),
            Action::FlushConntrack(addr),
        ])
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
        vec![
            Action::Persist {
                host: Box::new(host),
                audit,
            },
            Action::Lift(addr),
            Action::FlushConntrack(addr),
        ]
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

    /// Addresses with a record, for invariant checks.
    pub fn addresses(&self) -> BTreeSet<SubscriberAddr> {
        self.hosts.keys().copied().collect()
    }
}

/// No SMTP attempt for at least `period` (`None`: none the kernel remembers,
/// and it remembers for the whole quiet period).
fn quiet_for(since_last: Option<Duration>, period: Duration) -> bool {
    since_last.is_none_or(|ago| ago >= period)
}
