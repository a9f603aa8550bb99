//! Overlaps and coverage among prefixes, by sorting instead of comparing
//! every pair: 100 000 subscriber prefixes took over a minute pair by pair.
//!
//! Two CIDR prefixes are either disjoint or one holds the other. Sorted by
//! first address (wider first on a tie), a prefix overlaps an earlier one
//! exactly when the outermost prefix open at that point holds it.

use std::net::IpAddr;

use crate::types::Prefix;

/// Prefixes sorted for overlap and coverage questions.
#[derive(Debug)]
pub(crate) struct Prefixes<'a> {
    list: &'a [Prefix],
    /// Indices into `list` in sorted order.
    order: Vec<usize>,
    /// The outermost prefixes (held by no other), disjoint and sorted.
    outer: Vec<Prefix>,
}

fn key(p: &Prefix) -> (IpAddr, u8) {
    (p.net().network(), p.net().prefix_len())
}

impl<'a> Prefixes<'a> {
    /// Sorts `list` (n log n).
    pub(crate) fn new(list: &'a [Prefix]) -> Self {
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by_key(|&i| (key(&list[i]), i));
        let mut outer: Vec<Prefix> = Vec::new();
        for &i in &order {
            if !outer.last().is_some_and(|o| o.covers(&list[i])) {
                outer.push(list[i]);
            }
        }
        Prefixes { list, order, outer }
    }

    /// Each prefix that lies inside (or equals) another, as (the one listed
    /// later, the one listed earlier), in the order they are listed; one pair
    /// per prefix, with the outermost prefix that holds it.
    pub(crate) fn overlaps(&self) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        let mut open: Option<usize> = None;
        for &i in &self.order {
            match open {
                Some(o) if self.list[o].covers(&self.list[i]) => {
                    found.push((i.max(o), i.min(o)));
                }
                _ => open = Some(i),
            }
        }
        found.sort_unstable();
        found
    }

    /// True when some prefix holds `p` (log n).
    pub(crate) fn covers(&self, p: &Prefix) -> bool {
        let k = key(p);
        let after = self.outer.partition_point(|o| key(o) <= k);
        after > 0 && self.outer[after - 1].covers(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes(s: &[&str]) -> Vec<Prefix> {
        s.iter().map(|p| p.parse().unwrap()).collect()
    }

    /// The pairwise answer, to compare against.
    fn slow_covers(list: &[Prefix], p: &Prefix) -> bool {
        list.iter().any(|s| s.covers(p))
    }

    #[test]
    fn finds_nested_and_repeated_prefixes() {
        let list = prefixes(&[
            "10.1.0.0/16",
            "192.0.2.0/24",
            "10.0.0.0/8",
            "2001:db8::/32",
            "192.0.2.0/24",
            "10.1.2.0/24",
            "2001:db8:1::/48",
            "172.16.0.0/12",
        ]);
        let s = Prefixes::new(&list);
        assert_eq!(s.overlaps(), vec![(2, 0), (4, 1), (5, 2), (6, 3)]);
        for probe in ["10.9.9.9", "192.0.2.5", "2001:db8:5::1", "172.31.0.0/16"] {
            let p: Prefix = probe.parse().unwrap();
            assert!(s.covers(&p), "{probe}");
        }
        for probe in ["11.0.0.1", "192.0.3.0", "2001:db9::1", "0.0.0.0/0", "::/0"] {
            let p: Prefix = probe.parse().unwrap();
            assert!(!s.covers(&p), "{probe}");
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_comparing_every_pair(
            nets in proptest::collection::vec((0u32..64, 24u8..=32), 0..40),
            probes in proptest::collection::vec((0u32..64, 24u8..=32), 0..20),
        ) {
            let make = |(a, l): (u32, u8)| {
                Prefix::new(ipnet::IpNet::V4(
                    ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(0x0a00_0000 | (a << 2)), l).unwrap(),
                ))
            };
            let list: Vec<Prefix> = nets.into_iter().map(make).collect();
            let s = Prefixes::new(&list);
            let found = s.overlaps();
            let overlap = |a: usize, b: usize| list[a].covers(&list[b]) || list[b].covers(&list[a]);
            for &(a, b) in &found {
                proptest::prop_assert!(a > b && overlap(a, b), "{:?} -> {:?}", list, found);
            }
            // Every prefix that overlaps another is in some reported pair.
            for i in 0..list.len() {
                let overlaps_any = (0..list.len()).any(|j| j != i && overlap(i, j));
                let reported = found.iter().any(|&(a, b)| a == i || b == i);
                proptest::prop_assert_eq!(overlaps_any, reported, "{} in {:?} -> {:?}", i, list, found);
            }
            for probe in probes.into_iter().map(make) {
                proptest::prop_assert_eq!(s.covers(&probe), slow_covers(&list, &probe));
            }
        }
    }
}
