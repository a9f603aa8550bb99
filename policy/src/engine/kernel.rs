//! What the kernel's two sets must hold, worked out from the records and
//! the sessions together: the quarantine set (the walled garden) and the
//! notice set (plain `http://` to the notice page, nothing else touched).
//!
//! An address must be in the quarantine set when its own record is
//! quarantined, or when the subscriber holding it is; in the notice set
//! when its own record or its holder shows a notice (noticed, not
//! acknowledged within the interval) and the quarantine set does not wall
//! it in. Each set has interval sets for ranges, which cannot hold a range
//! and something inside it, so an element covered by a wider element of
//! the same set is left out; when the wider one leaves, what it covered
//! goes in. Each batch compares, for the addresses it touched and what lies
//! inside them, what must be in each set with what the engine last put
//! there: the difference is the plan's kernel change.

use std::collections::BTreeSet;
use std::ops::Bound;

use cordon_config::SubscriberAddr;
use ipnet::IpNet;

use super::{Engine, Plan};
use crate::journal::Journal;

/// One of the kernel's two sets of subscriber addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Set {
    /// `quarantined`: the walled garden.
    Quarantine,
    /// `noticed`: plain `http://` lands on the notice page.
    Notice,
}

/// The elements a set holds as the engine asked for them, and the journal
/// that puts them back when the store refuses a batch.
#[derive(Debug, Default)]
pub(super) struct InKernel {
    /// The elements.
    pub(super) elements: BTreeSet<SubscriberAddr>,
    /// Open during a batch.
    pub(super) journal: Journal<SubscriberAddr, ()>,
}

impl Engine {
    /// Works out the batch's kernel change for the addresses it touched.
    pub(super) fn settle_kernel(&mut self, plan: &mut Plan) {
        let touched = std::mem::take(&mut self.touched);
        let mut affected: BTreeSet<SubscriberAddr> = BTreeSet::new();
        for t in touched {
            affected.insert(t);
            let net = t.net();
            if net.prefix_len() == net.max_prefix_len() {
                continue;
            }
            affected.extend(inside(&self.in_kernel.elements, net));
            affected.extend(inside(&self.in_notice.elements, net));
            affected.extend(self.sessions.within(net).map(|h| h.addr));
            affected.extend(
                self.lifecycle
                    .addr_hosts_within(net)
                    .filter_map(|h| h.subject.addr()),
            );
        }
        for a in affected {
            // The quarantine first: the notice set's answer depends on it.
            if let Some(change) = self.settle(Set::Quarantine, a) {
                if change {
                    plan.add.push(a);
                } else {
                    plan.remove.push(a);
                }
                // A flow that began before the change would keep going.
                plan.flush.push(a);
            }
            // A notice never ends a flow: the subscriber's connections are
            // none of its business.
            if let Some(change) = self.settle(Set::Notice, a) {
                if change {
                    plan.notice_add.push(a);
                } else {
                    plan.notice_remove.push(a);
                }
            }
        }
    }

    /// Brings `a`'s place in `set` to what it must be; returns whether it
    /// went in (`Some(true)`) or out (`Some(false)`), or `None` for no
    /// change.
    fn settle(&mut self, set: Set, a: SubscriberAddr) -> Option<bool> {
        let want = self.wanted(set, &a);
        let held = match set {
            Set::Quarantine => &mut self.in_kernel,
            Set::Notice => &mut self.in_notice,
        };
        let have = held.elements.contains(&a);
        if want == have {
            return None;
        }
        held.journal.touch(a, || have.then_some(()));
        if want {
            held.elements.insert(a);
        } else {
            held.elements.remove(&a);
        }
        Some(want)
    }

    /// Whether `a` must be an element of `set`.
    fn wanted(&self, set: Set, a: &SubscriberAddr) -> bool {
        let net = a.net();
        match set {
            Set::Quarantine => {
                self.demanded(Set::Quarantine, &net) && !self.covered(Set::Quarantine, net)
            }
            Set::Notice => {
                self.demanded(Set::Notice, &net)
                    && !self.covered(Set::Notice, net)
                    && !self.demanded(Set::Quarantine, &net)
                    && !self.covered(Set::Quarantine, net)
            }
        }
    }

    /// Whether exactly `net`'s own record, or the subscriber holding it,
    /// asks for `set`.
    fn demanded(&self, set: Set, net: &IpNet) -> bool {
        let by_holder = |s: &cordon_proto::subscriber::SubscriberId| match set {
            Set::Quarantine => self.lifecycle.subscriber_quarantined(s),
            Set::Notice => self.lifecycle.subscriber_showing_notice(s),
        };
        let by_addr = match set {
            Set::Quarantine => self.lifecycle.addr_quarantined(net),
            Set::Notice => self.lifecycle.addr_showing_notice(net),
        };
        by_addr
            || self
                .sessions
                .holding_of(net)
                .is_some_and(|h| by_holder(&h.subscriber))
    }

    /// Whether a strictly wider range that `set` must hold covers `net`.
    fn covered(&self, set: Set, net: IpNet) -> bool {
        let wider = |len: u8| IpNet::new(net.network(), len).ok().map(|w| w.trunc());
        self.lifecycle
            .lens()
            .shorter_than(net)
            .chain(self.sessions.lens().shorter_than(net))
            .filter_map(wider)
            .any(|w| self.demanded(set, &w))
    }

    /// Everything `set` must hold, worked out from scratch (at start).
    pub(super) fn wanted_from_scratch(&self, set: Set) -> BTreeSet<SubscriberAddr> {
        let subjects = match set {
            Set::Quarantine => self.lifecycle.quarantined(),
            Set::Notice => self.lifecycle.showing_notice(),
        };
        subjects
            .iter()
            .flat_map(|s| self.addresses_of(s))
            .filter(|a| self.wanted(set, a))
            .collect()
    }
}

/// Elements of `set` strictly inside `net`.
fn inside(set: &BTreeSet<SubscriberAddr>, net: IpNet) -> Vec<SubscriberAddr> {
    let last = net.broadcast();
    let net = net.trunc();
    set.range::<IpNet, _>((Bound::Excluded(net), Bound::Unbounded))
        .take_while(|a| a.net().network() <= last)
        .filter(|a| net.contains(&a.net()))
        .copied()
        .collect()
}
