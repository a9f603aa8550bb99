//! The lifecycle's bookkeeping: the records by address and by subscriber, the tally the
//! gauges read, the journal that lets a batch be undone, and the lookups
//! (covering and inner ranges, due checks, deadlines). The transitions that
//! change records live in [`transitions`], a child module so that they reach
//! the records only through [`Lifecycle::set`] like everything else here.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use cordon_config::SubscriberAddr;
use cordon_proto::subscriber::SubscriberId;
use ipnet::IpNet;

use super::policy::Policy;
use super::state::{Host, State, Unix};
use cordon_proto::time::secs;

use crate::journal::{Journal, Restore};
use crate::lens::PrefixLens;
use crate::subject::Subject;

mod notice;
mod transitions;

/// How many records stand in the states the gauges show. Kept as records
/// change rather than counted, so a batch costs what it changes and not
/// what is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Quarantined records.
    pub quarantined: usize,
    /// Noticed records.
    pub noticed: usize,
    /// Records on probation.
    pub probation: usize,
}

impl Tally {
    fn slot(&mut self, state: &State) -> Option<&mut usize> {
        match state {
            State::Quarantined(_) => Some(&mut self.quarantined),
            State::Probation(_) => Some(&mut self.probation),
            State::Noticed(_) => Some(&mut self.noticed),
            State::Clean => None,
        }
    }
}

/// The records a batch changed, each as it stood before the batch's first
/// change to it: what puts memory back when the store refuses the batch.
pub type Undo = crate::journal::Undo<Subject, Host>;

/// Every address and subscriber that has a record, and the policy that
/// moves them.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    policy: Policy,
    /// Address records, ordered by range so covering and inner ranges are
    /// looked up rather than scanned. Changed only through
    /// [`Lifecycle::set`], which keeps `tally` and `journal` in step.
    hosts: BTreeMap<SubscriberAddr, Host>,
    /// Subscriber records; changed only through [`Lifecycle::set`] too.
    subscribers: BTreeMap<SubscriberId, Host>,
    /// The prefix lengths among `hosts`' keys, kept by [`Lifecycle::set`].
    lens: PrefixLens,
    tally: Tally,
    /// Open between [`Lifecycle::begin`] and [`Lifecycle::finish`].
    journal: Journal<Subject, Host>,
}

impl Lifecycle {
    /// A lifecycle over the records read from the store.
    pub fn new(policy: Policy, hosts: impl IntoIterator<Item = Host>) -> Self {
        let mut lifecycle = Lifecycle {
            policy,
            hosts: BTreeMap::new(),
            subscribers: BTreeMap::new(),
            lens: PrefixLens::default(),
            tally: Tally::default(),
            journal: Journal::default(),
        };
        for h in hosts {
            match h.subject.clone() {
                Subject::Addr(a) => {
                    lifecycle.lens.add(a.net());
                    lifecycle.hosts.insert(a, h)
                }
                Subject::Subscriber(s) => lifecycle.subscribers.insert(s, h),
            };
        }
        lifecycle.tally = lifecycle.recount();
        lifecycle
    }

    /// The one place records change: keeps the tally, and the first version
    /// of each record a batch touches, in step with the map.
    fn set(&mut self, subject: Subject, host: Option<Host>) {
        if let Some(n) = host.as_ref().and_then(|h| self.tally.slot(&h.state)) {
            *n += 1;
        }
        let old = match (&subject, host) {
            (Subject::Addr(a), Some(h)) => self.hosts.insert(*a, h),
            (Subject::Addr(a), None) => self.hosts.remove(a),
            (Subject::Subscriber(s), Some(h)) => self.subscribers.insert(s.clone(), h),
            (Subject::Subscriber(s), None) => self.subscribers.remove(s),
        };
        if let Some(n) = old.as_ref().and_then(|h| self.tally.slot(&h.state)) {
            *n -= 1;
        }
        if let Subject::Addr(a) = &subject {
            match (old.is_some(), self.hosts.contains_key(a)) {
                (false, true) => self.lens.add(a.net()),
                (true, false) => self.lens.remove(a.net()),
                _ => {}
            }
        }
        self.journal.touch(subject, || old);
    }

    /// Takes the record the store now holds for a subject, decided
    /// elsewhere (another gateway of the fleet, or the store's winner when
    /// two decided at once): it replaces ours as it is, with no transition
    /// of our own, because the decision was made and audited where it was
    /// made. Returns whether anything changed (a record we wrote ourselves
    /// comes back unchanged).
    pub fn adopt(&mut self, host: Host) -> bool {
        if self.get(&host.subject) == Some(&host) {
            return false;
        }
        self.set(host.subject.clone(), Some(host));
        true
    }

    /// Starts remembering what changes, so the batch can be undone.
    pub fn begin(&mut self) {
        self.journal.begin();
    }

    /// Stops remembering; returns what the batch changed since
    /// [`begin`](Self::begin), as it was before.
    pub fn finish(&mut self) -> Undo {
        // A full count per batch is what the tally exists to avoid; debug
        // builds pay it to catch a tally that drifts.
        debug_assert_eq!(self.tally, self.recount(), "the host tally drifted");
        self.journal.finish()
    }

    /// Puts every record a batch changed back as it was before the batch.
    pub fn undo(&mut self, undo: Undo) {
        undo.restore(self);
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
        for h in self.hosts() {
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

    /// The record of exactly this subject.
    pub fn get(&self, subject: &Subject) -> Option<&Host> {
        match subject {
            Subject::Addr(a) => self.hosts.get(a),
            Subject::Subscriber(s) => self.subscribers.get(s),
        }
    }

    /// The record of exactly this address.
    pub fn get_addr(&self, addr: &SubscriberAddr) -> Option<&Host> {
        self.hosts.get(addr)
    }

    /// Whether the address record of exactly `net` is quarantined (for
    /// ranges that are not units themselves).
    pub fn addr_quarantined(&self, net: &IpNet) -> bool {
        self.hosts
            .get(net)
            .is_some_and(|h| h.state.is_quarantined())
    }

    /// Whether the address record of exactly `net` shows its notice (the
    /// kernel's notice set holds it).
    pub fn addr_showing_notice(&self, net: &IpNet) -> bool {
        self.hosts
            .get(net)
            .is_some_and(|h| h.state.is_showing_notice())
    }

    /// Whether the subscriber's record shows its notice.
    pub fn subscriber_showing_notice(&self, s: &SubscriberId) -> bool {
        self.subscribers
            .get(s)
            .is_some_and(|h| h.state.is_showing_notice())
    }

    /// Every subject whose notice shows (the kernel's notice set holds its
    /// addresses unless a quarantine holds them).
    pub fn showing_notice(&self) -> Vec<Subject> {
        self.hosts()
            .filter(|h| h.state.is_showing_notice())
            .map(|h| h.subject.clone())
            .collect()
    }

    /// The prefix lengths in use among address records.
    pub fn lens(&self) -> &PrefixLens {
        &self.lens
    }

    /// Whether the subscriber's record is quarantined.
    pub fn subscriber_quarantined(&self, s: &SubscriberId) -> bool {
        self.subscribers
            .get(s)
            .is_some_and(|h| h.state.is_quarantined())
    }

    /// The record that decides about `subject`: for an address its own, or
    /// a quarantined range that covers it; for a subscriber its own.
    pub fn lookup(&self, subject: &Subject) -> Option<&Host> {
        match subject {
            Subject::Addr(addr) => self.lookup_addr(addr),
            Subject::Subscriber(s) => self.subscribers.get(s),
        }
    }

    /// The address record that decides about `addr`: its own, or a
    /// quarantined range that covers it.
    pub fn lookup_addr(&self, addr: &SubscriberAddr) -> Option<&Host> {
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
        self.lens
            .shorter_than(net)
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
            .take_while(|(a, _)| a.net().network() <= last)
            .find(|(a, h)| h.state.is_quarantined() && net.contains(&a.net()))
            .map(|(_, h)| h)
    }

    /// Every record: addresses, then subscribers.
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values().chain(self.subscribers.values())
    }

    /// Address records inside `net` (itself included), in order: the
    /// records a range's change can affect.
    pub fn addr_hosts_within(&self, net: IpNet) -> impl Iterator<Item = &Host> {
        let last = net.broadcast();
        let first = net.trunc();
        self.hosts
            .range::<IpNet, _>((Bound::Included(first), Bound::Unbounded))
            .take_while(move |(a, _)| a.net().network() <= last)
            .filter(move |(a, _)| net.contains(&a.net()))
            .map(|(_, h)| h)
    }

    /// Every subject that is quarantined (the kernel holds its addresses).
    pub fn quarantined(&self) -> Vec<Subject> {
        self.hosts()
            .filter(|h| h.state.is_quarantined())
            .map(|h| h.subject.clone())
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
    pub fn due_quiet_checks(&self, now: Unix) -> Vec<(Subject, Unix)> {
        self.hosts()
            .filter_map(|h| match &h.state {
                State::Quarantined(q) if q.until.is_none() && q.hold_until <= now => {
                    Some((h.subject.clone(), q.since))
                }
                _ => None,
            })
            .collect()
    }

    /// Notices whose review is due: the daemon asks the kernel whether
    /// each still sends (one look-up per address, as rare as reviews) and
    /// answers with [`Event::QuietChecked`](super::Event::QuietChecked).
    pub fn due_reviews(&self, now: Unix) -> Vec<Subject> {
        self.hosts()
            .filter(|h| matches!(&h.state, State::Noticed(n) if n.review_at <= now))
            .map(|h| h.subject.clone())
            .collect()
    }

    /// The next moment something changes by itself without the kernel being
    /// asked: a hold passing, a fixed end, the end of a probation, an
    /// acknowledged notice showing again. (A notice's review needs the
    /// kernel, like the quiet test: see [`Lifecycle::due_reviews`].)
    pub fn next_deadline(&self) -> Option<Unix> {
        self.hosts()
            .filter_map(|h| match &h.state {
                State::Quarantined(q) => Some(q.until.unwrap_or(q.hold_until)),
                State::Probation(p) => Some(p.until),
                State::Noticed(n) => n.acknowledged_until,
                State::Clean => None,
            })
            .min()
    }

    /// Subjects with a record, for invariant checks.
    pub fn subjects(&self) -> BTreeSet<Subject> {
        self.hosts().map(|h| h.subject.clone()).collect()
    }
}

/// Puts back a record as it was (an undo, or a test setting a record up):
/// through [`Lifecycle::set`], so the tally follows as it follows every
/// change.
impl Restore<Subject, Host> for Lifecycle {
    fn restore(&mut self, key: Subject, value: Option<Host>) {
        self.set(key, value);
    }
}
