//! What the kernel's quarantine set must hold, worked out from the records
//! and the sessions together.
//!
//! An address must be in the set when its own record is quarantined, or
//! when the subscriber holding it is. The set is an interval set, which
//! cannot hold a range and something inside it, so an element covered by a
//! wider element that must be there is left out; when the wider one leaves,
//! what it covered goes in. Each batch compares, for the addresses it
//! touched and what lies inside them, what must be in the set with what the
//! engine last put there: the difference is the plan's kernel change.

use std::collections::BTreeSet;
use std::ops::Bound;

use cordon_config::SubscriberAddr;
use ipnet::IpNet;

use super::{Engine, Plan};

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
            affected.extend(inside(&self.in_kernel, net));
            affected.extend(self.sessions.within(net).map(|h| h.addr));
            affected.extend(
                self.lifecycle
                    .addr_hosts_within(net)
                    .filter_map(|h| h.subject.addr()),
            );
        }
        for a in affected {
            let want = self.demanded(&a.net()) && !self.covered(a.net());
            let have = self.in_kernel.contains(&a);
            if want == have {
                continue;
            }
            self.kernel_journal.touch(a, || have.then_some(()));
            if want {
                self.in_kernel.insert(a);
                plan.add.push(a);
            } else {
                self.in_kernel.remove(&a);
                plan.remove.push(a);
            }
            // A flow that began before the change would keep going.
            plan.flush.push(a);
        }
    }

    /// Whether exactly `net` must be walled in: its own record is
    /// quarantined, or the subscriber holding it is.
    fn demanded(&self, net: &IpNet) -> bool {
        self.lifecycle.addr_quarantined(net)
            || self
                .sessions
                .holding_of(net)
                .is_some_and(|h| self.lifecycle.subscriber_quarantined(&h.subscriber))
    }

    /// Whether a strictly wider range that must be walled in covers `net`.
    fn covered(&self, net: IpNet) -> bool {
        let wider = |len: u8| IpNet::new(net.network(), len).ok().map(|w| w.trunc());
        self.lifecycle
            .lens()
            .shorter_than(net)
            .filter_map(wider)
            .any(|w| self.lifecycle.addr_quarantined(&w))
            || self
                .sessions
                .lens()
                .shorter_than(net)
                .filter_map(wider)
                .any(|w| {
                    self.sessions
                        .holding_of(&w)
                        .is_some_and(|h| self.lifecycle.subscriber_quarantined(&h.subscriber))
                })
    }

    /// Everything the set must hold, worked out from scratch (at start).
    pub(super) fn wanted_in_kernel(&self) -> BTreeSet<SubscriberAddr> {
        self.lifecycle
            .quarantined()
            .iter()
            .flat_map(|s| self.addresses_of(s))
            .filter(|a| !self.covered(a.net()))
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
