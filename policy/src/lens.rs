//! Which prefix lengths a map of ranges holds, so "is there a wider range
//! covering this one?" looks up only the lengths in use (a /32 among /32s
//! asks nothing; a /64 among delegated /56s asks one length) instead of
//! every shorter length: at a restart with 100 000 quarantines that is the
//! difference between a few and a few million map look-ups.

use std::collections::BTreeMap;

use ipnet::IpNet;

/// How many ranges of each (family, prefix length) a map holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixLens(BTreeMap<(bool, u8), usize>);

impl PrefixLens {
    /// A range was added.
    pub fn add(&mut self, net: IpNet) {
        *self.0.entry(key(net)).or_default() += 1;
    }

    /// A range was removed.
    pub fn remove(&mut self, net: IpNet) {
        let k = key(net);
        if let Some(n) = self.0.get_mut(&k) {
            *n -= 1;
            if *n == 0 {
                self.0.remove(&k);
            }
        }
    }

    /// The lengths in use in `net`'s family that are shorter than it,
    /// shortest first.
    pub fn shorter_than(&self, net: IpNet) -> impl Iterator<Item = u8> + '_ {
        let v4 = matches!(net, IpNet::V4(_));
        self.0
            .range((v4, 0)..(v4, net.prefix_len()))
            .map(|((_, len), _)| *len)
    }
}

fn key(net: IpNet) -> (bool, u8) {
    (matches!(net, IpNet::V4(_)), net.prefix_len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_lengths_in_use_and_shorter_are_named() {
        let mut l = PrefixLens::default();
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        l.add(n("2001:db8::/56"));
        l.add(n("2001:db8:1::/56"));
        l.add(n("2001:db8:2::/64"));
        l.add(n("100.64.0.0/24"));
        let v6: Vec<u8> = l.shorter_than(n("2001:db8:5::/64")).collect();
        assert_eq!(v6, [56]);
        let v4: Vec<u8> = l.shorter_than(n("100.64.0.7/32")).collect();
        assert_eq!(v4, [24]);
        l.remove(n("2001:db8::/56"));
        assert_eq!(l.shorter_than(n("2001:db8:5::/64")).count(), 1);
        l.remove(n("2001:db8:1::/56"));
        assert_eq!(l.shorter_than(n("2001:db8:5::/64")).count(), 0);
    }
}
