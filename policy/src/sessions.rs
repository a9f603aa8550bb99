//! Who holds which address now: the open sessions, as RADIUS accounting,
//! DHCP hooks, PPP scripts and operators report them.
//!
//! Each address is held by at most one subscriber. A session that takes an
//! address another subscriber still holds ends that holding: its Stop was
//! lost (UDP), or its lease expired unreported, and the address has moved.
//! The history of who held what when is the store's (every change here is
//! returned as a [`SessionChange`] to write); memory keeps only what is
//! held now, which is what enforcement needs.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use cordon_config::SubscriberAddr;
use cordon_proto::subscriber::{SessionRecord, SessionSource, SubscriberId};
use cordon_proto::time::Unix;
use ipnet::IpNet;

use crate::journal::{Journal, Restore, Undo};
use crate::lens::PrefixLens;

/// The most addresses one subscriber may hold at once: an IPv4 address and
/// a few IPv6 prefixes is normal; hundreds is a broken or hostile client,
/// and each would be a kernel element.
pub const MAX_HELD: usize = 32;

/// One address held by one subscriber, since when, on whose word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// Who.
    pub subscriber: SubscriberId,
    /// The address or prefix.
    pub addr: SubscriberAddr,
    /// Since when.
    pub since: Unix,
    /// Which system said so.
    pub source: SessionSource,
    /// The RADIUS `Acct-Session-Id`.
    pub session_id: Option<String>,
    /// The NAS or server that reported it (Accounting-On/Off ends its
    /// sessions).
    pub nas: Option<String>,
    /// The RADIUS `Calling-Station-Id` or the DHCP client's MAC.
    pub calling_station: Option<String>,
}

impl Holding {
    /// The history line that opens with it.
    pub fn record(&self, ended: Option<Unix>) -> SessionRecord {
        SessionRecord {
            subscriber: self.subscriber.to_string(),
            address: self.addr.to_string(),
            source: self.source,
            session_id: self.session_id.clone(),
            nas: self.nas.clone(),
            calling_station: self.calling_station.clone(),
            started: self.since,
            ended,
        }
    }
}

/// Something the ISP's systems said about sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A subscriber holds these addresses (a Start, an Interim-Update, a
    /// lease or its renewal): a refresh for those it holds already.
    Start {
        /// Who.
        subscriber: SubscriberId,
        /// Its address and prefixes.
        addrs: Vec<SubscriberAddr>,
        /// Which system said so.
        source: SessionSource,
        /// The RADIUS `Acct-Session-Id`.
        session_id: Option<String>,
        /// The reporting NAS or server.
        nas: Option<String>,
        /// The RADIUS `Calling-Station-Id` or the client's MAC.
        calling_station: Option<String>,
    },
    /// A subscriber gave up these addresses (all it holds when `None`).
    /// An address it does not hold (a late Stop after the address moved
    /// on) is left alone.
    Stop {
        /// Who.
        subscriber: SubscriberId,
        /// Which addresses.
        addrs: Option<Vec<SubscriberAddr>>,
    },
    /// A NAS restarted (Accounting-On or -Off): every session it reported
    /// has ended.
    NasRestarted {
        /// The NAS.
        nas: String,
    },
}

impl SessionEvent {
    /// The subscriber it is about, if one.
    pub fn subscriber(&self) -> Option<&SubscriberId> {
        match self {
            SessionEvent::Start { subscriber, .. } | SessionEvent::Stop { subscriber, .. } => {
                Some(subscriber)
            }
            SessionEvent::NasRestarted { .. } => None,
        }
    }
}

/// What a session event changed: each is a line of the history to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// A subscriber began holding an address.
    Began(Holding),
    /// A holding ended at `at`.
    Ended {
        /// The holding as it was.
        holding: Holding,
        /// When.
        at: Unix,
    },
}

impl SessionChange {
    /// The address whose holder changed.
    pub fn addr(&self) -> SubscriberAddr {
        match self {
            SessionChange::Began(h) | SessionChange::Ended { holding: h, .. } => h.addr,
        }
    }
}

/// Why a session event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    /// More addresses than one subscriber may hold.
    #[error(
        "subscriber {subscriber} would hold {count} addresses; at most {MAX_HELD} are kept per subscriber (stop its old sessions first)"
    )]
    TooMany {
        /// Who.
        subscriber: SubscriberId,
        /// How many it would hold.
        count: usize,
    },
}

/// The open sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Changed only through [`Sessions::set`], which keeps `by_subscriber`
    /// and the journal in step.
    held: BTreeMap<SubscriberAddr, Holding>,
    by_subscriber: BTreeMap<SubscriberId, BTreeSet<SubscriberAddr>>,
    /// The prefix lengths held, so covering holdings are looked up only at
    /// lengths in use.
    lens: PrefixLens,
    journal: Journal<SubscriberAddr, Holding>,
}

/// What a batch changed in the sessions, as it was before.
pub type SessionsUndo = Undo<SubscriberAddr, Holding>;

impl Sessions {
    /// The sessions the store held open.
    pub fn new(open: impl IntoIterator<Item = Holding>) -> Self {
        let mut s = Sessions::default();
        for h in open {
            s.set(h.addr, Some(h));
        }
        s
    }

    fn set(&mut self, addr: SubscriberAddr, holding: Option<Holding>) {
        if let Some(h) = &holding {
            self.by_subscriber
                .entry(h.subscriber.clone())
                .or_default()
                .insert(addr);
        }
        let present = holding.is_some();
        let old = match holding {
            Some(h) => self.held.insert(addr, h),
            None => self.held.remove(&addr),
        };
        match (old.is_some(), present) {
            (false, true) => self.lens.add(addr.net()),
            (true, false) => self.lens.remove(addr.net()),
            _ => {}
        }
        if let Some(o) = &old
            && self
                .held
                .get(&addr)
                .is_none_or(|n| n.subscriber != o.subscriber)
            && let Some(set) = self.by_subscriber.get_mut(&o.subscriber)
        {
            set.remove(&addr);
            if set.is_empty() {
                self.by_subscriber.remove(&o.subscriber);
            }
        }
        self.journal.touch(addr, || old);
    }

    /// Starts remembering what changes, so the batch can be undone.
    pub fn begin(&mut self) {
        self.journal.begin();
    }

    /// Stops remembering; returns what the batch changed, as it was.
    pub fn finish(&mut self) -> SessionsUndo {
        self.journal.finish()
    }

    /// Puts every holding a batch changed back as it was.
    pub fn undo(&mut self, undo: SessionsUndo) {
        undo.restore(self);
    }

    /// Applies one event at `now`; returns the history lines it makes.
    pub fn handle(
        &mut self,
        event: SessionEvent,
        now: Unix,
    ) -> Result<Vec<SessionChange>, SessionRefusal> {
        let mut changes = Vec::new();
        match event {
            SessionEvent::Start {
                subscriber,
                addrs,
                source,
                session_id,
                nas,
                calling_station,
            } => {
                let new: BTreeSet<SubscriberAddr> = addrs
                    .into_iter()
                    .filter(|a| self.holder(a) != Some(&subscriber))
                    .collect();
                let count = self.addresses(&subscriber).len() + new.len();
                if count > MAX_HELD {
                    return Err(SessionRefusal::TooMany { subscriber, count });
                }
                for addr in new {
                    // Whoever held it, or a range overlapping it, has
                    // lost it.
                    for other in self.overlapping(addr) {
                        if self.held.get(&other).map(|h| &h.subscriber) != Some(&subscriber) {
                            self.end(other, now, &mut changes);
                        }
                    }
                    let holding = Holding {
                        subscriber: subscriber.clone(),
                        addr,
                        since: now,
                        source,
                        session_id: session_id.clone(),
                        nas: nas.clone(),
                        calling_station: calling_station.clone(),
                    };
                    self.set(addr, Some(holding.clone()));
                    changes.push(SessionChange::Began(holding));
                }
            }
            SessionEvent::Stop { subscriber, addrs } => {
                let mine = self.addresses(&subscriber);
                let gone: Vec<SubscriberAddr> = match addrs {
                    None => mine,
                    Some(addrs) => addrs.into_iter().filter(|a| mine.contains(a)).collect(),
                };
                for addr in gone {
                    self.end(addr, now, &mut changes);
                }
            }
            SessionEvent::NasRestarted { nas } => {
                let gone: Vec<SubscriberAddr> = self
                    .held
                    .values()
                    .filter(|h| h.nas.as_deref() == Some(nas.as_str()))
                    .map(|h| h.addr)
                    .collect();
                for addr in gone {
                    self.end(addr, now, &mut changes);
                }
            }
        }
        Ok(changes)
    }

    fn end(&mut self, addr: SubscriberAddr, now: Unix, changes: &mut Vec<SessionChange>) {
        if let Some(holding) = self.held.get(&addr).cloned() {
            self.set(addr, None);
            changes.push(SessionChange::Ended { holding, at: now });
        }
    }

    /// Held addresses that overlap `addr` (itself, a wider range covering
    /// it, ranges inside it).
    fn overlapping(&self, addr: SubscriberAddr) -> Vec<SubscriberAddr> {
        let net = addr.net();
        let mut found: Vec<SubscriberAddr> = self.covering(net).map(|h| h.addr).collect();
        found.extend(self.within(net).map(|h| h.addr));
        found
    }

    /// Holdings of `net` or of a wider range covering it: looked up, not
    /// scanned (a few dozen map lookups).
    pub fn covering(&self, net: IpNet) -> impl Iterator<Item = &Holding> {
        self.lens
            .shorter_than(net)
            .chain(std::iter::once(net.prefix_len()))
            .filter_map(move |len| IpNet::new(net.network(), len).ok())
            .filter_map(|wider| self.held.get(&wider.trunc()))
    }

    /// The prefix lengths held.
    pub fn lens(&self) -> &PrefixLens {
        &self.lens
    }

    /// Holdings inside `net`, itself excluded.
    pub fn within(&self, net: IpNet) -> impl Iterator<Item = &Holding> {
        let last = net.broadcast();
        let net = net.trunc();
        self.held
            .range::<IpNet, _>((Bound::Excluded(net), Bound::Unbounded))
            .take_while(move |(a, _)| a.net().network() <= last)
            .filter(move |(a, _)| net.contains(&a.net()))
            .map(|(_, h)| h)
    }

    /// Who holds exactly `addr`.
    pub fn holder(&self, addr: &SubscriberAddr) -> Option<&SubscriberId> {
        self.held.get(addr).map(|h| &h.subscriber)
    }

    /// Who holds `addr` or a range covering it now (an IPv6 /64 inside a
    /// delegated /56 is its holder's).
    pub fn holder_of(&self, addr: &SubscriberAddr) -> Option<&SubscriberId> {
        self.covering(addr.net()).last().map(|h| &h.subscriber)
    }

    /// The holding of exactly `addr`.
    pub fn holding(&self, addr: &SubscriberAddr) -> Option<&Holding> {
        self.held.get(addr)
    }

    /// The holding of exactly `net` (for ranges that are not units).
    pub fn holding_of(&self, net: &IpNet) -> Option<&Holding> {
        self.held.get(net)
    }

    /// The addresses a subscriber holds now, in order.
    pub fn addresses(&self, subscriber: &SubscriberId) -> Vec<SubscriberAddr> {
        self.by_subscriber
            .get(subscriber)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// How many addresses are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nobody holds anything.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Every holding, by address.
    pub fn holdings(&self) -> impl Iterator<Item = &Holding> {
        self.held.values()
    }
}

impl Restore<SubscriberAddr, Holding> for Sessions {
    fn restore(&mut self, key: SubscriberAddr, value: Option<Holding>) {
        self.set(key, value);
    }
}
