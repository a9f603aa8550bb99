//! Sets read back: the elements Cordon's own batches carry, read as the
//! kernel's answers are read ([`super::found`]) and turned back into
//! prefixes ([`crate::elements`]), in the kernel's order or any other.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use super::found::{Found, every};
use super::message::{NEWSETELEM, Op, SetChange, batch, msg_type};
use super::tests::{NFT_ADD_RANGE_TO_THE_TOP_V4, as_cordon_sends, bytes};
use crate::elements::{hosts, ranges};

/// Every element a batch adding `nets` carries (an interval set's zero
/// end included), read from its bytes.
fn carried(interval: bool, nets: &[IpNet]) -> Vec<Found> {
    let change = SetChange {
        set: "s".into(),
        op: Op::Add,
        interval,
        nets: nets.to_vec(),
    };
    let sent = batch("cordon", &[change], 1).unwrap().bytes;
    let mut out = Vec::new();
    let mut rest = &sent[..];
    while !rest.is_empty() {
        let len = u32::from_ne_bytes(rest[..4].try_into().unwrap()) as usize;
        if u16::from_ne_bytes([rest[4], rest[5]]) == msg_type(NEWSETELEM) {
            out.extend(every(&rest[16..len]));
        }
        rest = &rest[len..];
    }
    out
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

/// `candidates` truncated, sorted, and thinned to prefixes that do not
/// overlap (an interval set refuses overlaps).
fn disjoint(candidates: Vec<IpNet>) -> Vec<IpNet> {
    let mut all: Vec<IpNet> = candidates.into_iter().map(|n| n.trunc()).collect();
    all.sort();
    let mut out: Vec<IpNet> = Vec::new();
    for n in all {
        if out
            .last()
            .is_none_or(|last| !last.contains(&n.network()) && !n.contains(&last.network()))
        {
            out.push(n);
        }
    }
    out
}

#[test]
fn ranges_from_zero_to_the_top_and_the_whole_space_read_back() {
    for list in [
        &[
            "0.0.0.0/8",
            "100.64.9.0/24",
            "100.64.10.0/24",
            "255.255.255.0/24",
        ][..],
        &["0.0.0.0/0"],
        &["255.255.255.255/32"],
        &["0.0.0.0/32", "10.0.0.0/8"],
        &["::/64", "2001:db8:100:100::/56", "ffff:ffff:ffff:ffff::/64"],
        &["::/0"],
    ] {
        let want = nets(list);
        let mut found = carried(true, &want);
        assert_eq!(ranges(&found), want, "{list:?}");
        found.reverse(); // the kernel's rbtree dumps from the top down
        assert_eq!(ranges(&found), want, "{list:?} reversed");
    }
}

#[test]
fn the_open_interval_mark_is_read_from_the_element_user_data() {
    // `nft`'s element message, its list elements typed as the kernel
    // types them in its answers (`NFTA_LIST_ELEM`).
    let capture = as_cordon_sends(&bytes(NFT_ADD_RANGE_TO_THE_TOP_V4));
    // Batch begin (20 bytes), then the element message.
    let len = u32::from_ne_bytes(capture[20..24].try_into().unwrap()) as usize;
    let found: Vec<Found> = every(&capture[36..20 + len]).collect();
    let top = found.iter().find(|f| !f.end).unwrap();
    assert_eq!(top.key, Some("255.255.255.0".parse().unwrap()));
    assert!(top.open, "{found:?}");
    assert!(found.iter().all(|f| f.end != f.open), "{found:?}");
}

#[test]
fn a_range_that_is_no_prefix_is_skipped_and_the_others_kept() {
    let elem = |key: &str, end: bool| Found {
        key: Some(key.parse::<IpAddr>().unwrap()),
        end,
        ..Found::default()
    };
    // 100.64.1.1-100.64.1.5 (what `nft add element … { 100.64.1.1-100.64.1.5 }`
    // makes), 100.64.2.0/24, and the zero end.
    let found = [
        elem("0.0.0.0", true),
        elem("100.64.1.1", false),
        elem("100.64.1.6", true),
        elem("100.64.2.0", false),
        elem("100.64.3.0", true),
    ];
    assert_eq!(ranges(&found), nets(&["100.64.2.0/24"]));
    // An end without its start, and a start whose end is missing in the
    // middle of the set, are no ranges either.
    let found = [
        elem("100.64.1.0", false),
        elem("100.64.2.0", false),
        elem("100.64.3.0", true),
    ];
    assert_eq!(ranges(&found), nets(&["100.64.2.0/24"]));
}

#[test]
fn hash_set_keys_read_back_as_single_addresses() {
    let want = nets(&["100.64.3.7/32", "2001:db8:100:7::/128"]);
    assert_eq!(hosts(&carried(false, &want)), want);
}

proptest! {
    #[test]
    fn disjoint_ipv4_prefixes_read_back_in_any_order(
        candidates in prop::collection::vec((any::<u32>(), 0u8..=32), 1..40),
        rotate in any::<usize>(),
        reverse in any::<bool>(),
    ) {
        let want = disjoint(candidates
            .into_iter()
            .map(|(a, len)| IpNet::V4(Ipv4Net::new(a.into(), len).unwrap()))
            .collect());
        let mut found = carried(true, &want);
        if reverse {
            found.reverse();
        }
        let n = found.len();
        found.rotate_left(rotate % n);
        prop_assert_eq!(ranges(&found), want);
    }

    #[test]
    fn disjoint_ipv6_prefixes_read_back_in_any_order(
        candidates in prop::collection::vec((any::<u128>(), 0u8..=128), 1..40),
        reverse in any::<bool>(),
    ) {
        let want = disjoint(candidates
            .into_iter()
            .map(|(a, len)| IpNet::V6(Ipv6Net::new(a.into(), len).unwrap()))
            .collect());
        let mut found = carried(true, &want);
        if reverse {
            found.reverse();
        }
        prop_assert_eq!(ranges(&found), want);
    }
}
