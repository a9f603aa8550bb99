//! The kernel's part of one commit's batches as one change per set.
//!
//! A commit carries every batch decided while the one before it was being
//! written: in a login storm or an outbreak, dozens. Carried out batch by
//! batch, each was a kernel transaction of its own (a storm of 10 000
//! Accounting-Starts made 182 of them for 114 commits). Their changes are
//! instead folded, in the order the batches were decided, into each
//! element's net effect, and go to the kernel as one transaction per set.
//!
//! The policy only adds an element the kernel lacks and only removes one
//! it holds, so an element's first change says whether the kernel held it
//! before the commit, and its last whether it must hold it after. Within a
//! batch, removals come before additions, as the kernel applies them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use cordon_config::SubscriberAddr;

/// One set's changes over several batches, folded per element.
#[derive(Debug, Default)]
pub(super) struct NetChange {
    /// Elements in the order they were first changed, so the kernel sees
    /// them in the order the batches named them.
    order: Vec<SubscriberAddr>,
    /// Per element: whether its first change added it, and whether its
    /// last one did.
    ends: HashMap<SubscriberAddr, (bool, bool)>,
}

impl NetChange {
    /// Folds in the next batch's change: its removals, then its additions.
    pub(super) fn then(&mut self, remove: &[SubscriberAddr], add: &[SubscriberAddr]) {
        for (list, added) in [(remove, false), (add, true)] {
            for addr in list {
                match self.ends.entry(*addr) {
                    Entry::Vacant(v) => {
                        self.order.push(*addr);
                        v.insert((added, added));
                    }
                    Entry::Occupied(mut o) => o.get_mut().1 = added,
                }
            }
        }
    }

    /// The net change, as `(add, remove)`. An element held before and
    /// after that was taken out and put back in between is removed and
    /// added again, as its batches asked (an element's timeout starts
    /// anew); one put in and taken out again never reaches the kernel.
    pub(super) fn into_lists(self) -> (Vec<SubscriberAddr>, Vec<SubscriberAddr>) {
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        for addr in self.order {
            let Some(&(first_added, last_added)) = self.ends.get(&addr) else {
                continue;
            };
            let held_before = !first_added;
            if held_before {
                remove.push(addr);
            }
            if last_added {
                add.push(addr);
            }
        }
        (add, remove)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn addr(i: u8) -> SubscriberAddr {
        static CONFIG: std::sync::LazyLock<cordon_config::Config> =
            std::sync::LazyLock::new(crate::store::battery::config);
        CONFIG.subscriber_addr(&format!("100.64.7.{i}")).unwrap()
    }

    /// Applies one batch's change to a set as the kernel does: removals
    /// (each must be there) then additions (each must be absent).
    fn apply(
        set: &mut BTreeSet<SubscriberAddr>,
        add: &[SubscriberAddr],
        remove: &[SubscriberAddr],
    ) {
        for a in remove {
            assert!(set.remove(a), "{a} removed while absent");
        }
        for a in add {
            assert!(set.insert(*a), "{a} added while present");
        }
    }

    #[test]
    fn put_in_and_taken_out_again_never_reaches_the_kernel() {
        let mut net = NetChange::default();
        net.then(&[], &[addr(1), addr(2)]);
        net.then(&[addr(1)], &[]);
        assert_eq!(net.into_lists(), (vec![addr(2)], vec![]));
    }

    #[test]
    fn taken_out_and_put_back_is_both() {
        let mut net = NetChange::default();
        net.then(&[addr(1)], &[]);
        net.then(&[], &[addr(1)]);
        net.then(&[addr(3)], &[]);
        assert_eq!(net.into_lists(), (vec![addr(1)], vec![addr(1), addr(3)]));
    }

    proptest! {
        /// Whatever the batches (each one the policy could have made from
        /// the set as the earlier ones left it), their net change leaves
        /// the set as applying them one by one does, and is a change the
        /// kernel takes from the set as it was.
        #[test]
        fn the_net_change_ends_where_the_batches_one_by_one_do(
            start in proptest::collection::btree_set(0u8..12, 0..12),
            batches in proptest::collection::vec(proptest::collection::vec((0u8..12, any::<bool>()), 0..8), 1..8),
        ) {
            let start: BTreeSet<SubscriberAddr> = start.into_iter().map(addr).collect();
            let mut one_by_one = start.clone();
            let mut net = NetChange::default();
            for batch in batches {
                // Each element once per batch, toggled: removed if held,
                // added if not (and only when the batch says so).
                let mut seen = BTreeSet::new();
                let (mut add, mut remove) = (Vec::new(), Vec::new());
                for (i, wanted) in batch {
                    let a = addr(i);
                    if !wanted || !seen.insert(a) {
                        continue;
                    }
                    if one_by_one.contains(&a) { remove.push(a) } else { add.push(a) }
                }
                apply(&mut one_by_one, &add, &remove);
                net.then(&remove, &add);
            }
            let (add, remove) = net.into_lists();
            let mut folded = start;
            apply(&mut folded, &add, &remove);
            prop_assert_eq!(folded, one_by_one);
        }
    }
}
