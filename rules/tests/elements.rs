//! Set elements changed and looked up over netlink (`Kernel`'s element
//! path) against the real kernel, each test in a network namespace of its
//! own (removed by a guard even when the test fails), the results read
//! back with `nft list set` as an operator would.

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

mod common;

use common::addrs;

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Carried, Kernel, NftCommand, RulesError};
use cordon_testkit::{Fixture, Netns};

/// A config with IPv4 and IPv6 subscribers, IPv6 quarantined by /64.
fn config() -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16, 2001:db8:100::/48]")
        .load()
}

/// The namespace's table installed, and a `Kernel` driving it.
fn installed(tag: &str) -> (Netns, Config, Kernel) {
    common::installed(tag, config())
}

/// The elements of one set as `nft list set` shows them.
fn listed(ns: &Netns, set: &str) -> String {
    let out = ns.nft(&["list", "set", "inet", "cordon", set], None);
    // nft wraps a long list over several lines.
    out.split_once("elements = {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(list, _)| list.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn hosts_and_ipv6_subscribers_go_to_their_own_sets_as_nft_lists_them() {
    let (ns, c, k) = installed("elhost");
    let v4 = addrs(&c, &["100.64.3.7", "100.64.3.8"]);
    let v6 = addrs(&c, &["2001:db8:100:7::99", "2001:db8:100:8::/64"]);
    k.change_quarantined(&[v4.clone(), v6.clone()].concat(), &[])
        .unwrap();
    assert_eq!(listed(&ns, "quarantined_v4"), "100.64.3.7, 100.64.3.8");
    assert_eq!(
        listed(&ns, "quarantined_v6"),
        "2001:db8:100:7::, 2001:db8:100:8::"
    );
    assert_eq!(listed(&ns, "quarantined_ranges_v4"), "");
    for a in v4.iter().chain(&v6) {
        assert!(k.is_quarantined(a).unwrap(), "{a}");
    }
    let never = addrs(&c, &["100.64.3.9", "2001:db8:100:9::1"]);
    for a in &never {
        assert!(!k.is_quarantined(a).unwrap(), "{a}");
    }

    // One transaction removes one host and one subscriber, adds another.
    k.change_quarantined(&never[..1], &[v4[0], v6[1]]).unwrap();
    assert_eq!(listed(&ns, "quarantined_v4"), "100.64.3.8, 100.64.3.9");
    assert_eq!(listed(&ns, "quarantined_v6"), "2001:db8:100:7::");
    assert!(!k.is_quarantined(&v4[0]).unwrap());
    assert_eq!(
        k.quarantined().unwrap(),
        [v4[1].net(), never[0].net(), v6[0].net()]
    );
}

#[test]
fn ranges_are_intervals_that_match_what_they_cover() {
    let (ns, c, k) = installed("elrange");
    let ranges = addrs(
        &c,
        &[
            "100.64.9.0/24",
            "2001:db8:100:100::/56",
            "2001:db8:100:f000::/52",
        ],
    );
    k.change_quarantined(&ranges, &[]).unwrap();
    assert_eq!(listed(&ns, "quarantined_ranges_v4"), "100.64.9.0/24");
    assert_eq!(
        listed(&ns, "quarantined_ranges_v6"),
        "2001:db8:100:100::/56, 2001:db8:100:f000::/52"
    );
    // A host inside a range is quarantined; the hosts either side are not.
    for (text, inside) in [
        ("100.64.9.0", true),
        ("100.64.9.255", true),
        ("100.64.8.255", false),
        ("100.64.10.0", false),
        ("2001:db8:100:1ff::1", true),
        ("2001:db8:100:200::1", false),
        ("2001:db8:100:f123::1", true),
        ("2001:db8:100:efff::1", false),
    ] {
        let a = c.subscriber_addr(text).unwrap();
        assert_eq!(k.is_quarantined(&a).unwrap(), inside, "{text}");
    }

    k.change_quarantined(&[], &ranges[..2]).unwrap();
    assert_eq!(listed(&ns, "quarantined_ranges_v4"), "");
    assert_eq!(
        listed(&ns, "quarantined_ranges_v6"),
        "2001:db8:100:f000::/52"
    );
    let host = c.subscriber_addr("100.64.9.1").unwrap();
    assert!(!k.is_quarantined(&host).unwrap());
}

#[test]
fn adjacent_ranges_stay_apart_and_overlaps_are_refused_as_nft_refuses_them() {
    let (ns, c, k) = installed("eladj");
    let [a, b] = [
        c.subscriber_addr("100.64.9.0/24").unwrap(),
        c.subscriber_addr("100.64.10.0/24").unwrap(),
    ];
    k.change_quarantined(&[a], &[]).unwrap();
    k.change_quarantined(&[b], &[]).unwrap();
    // nft merges nothing here (the sets have no auto-merge): two ranges.
    assert_eq!(
        listed(&ns, "quarantined_ranges_v4"),
        "100.64.9.0/24, 100.64.10.0/24"
    );
    // The same range again is accepted and changes nothing, as `nft add`.
    k.change_quarantined(&[a], &[]).unwrap();
    // Removing one leaves its neighbour whole.
    k.change_quarantined(&[], &[a]).unwrap();
    assert_eq!(listed(&ns, "quarantined_ranges_v4"), "100.64.10.0/24");
    assert!(
        k.is_quarantined(&c.subscriber_addr("100.64.10.0").unwrap())
            .unwrap()
    );
    assert!(
        !k.is_quarantined(&c.subscriber_addr("100.64.9.255").unwrap())
            .unwrap()
    );

    // An overlap is refused (`nft` says "interval overlaps with an
    // existing one"), naming the range, and nothing of its batch is applied.
    let inner = c.subscriber_addr("100.64.10.128/25").unwrap();
    let host = c.subscriber_addr("100.64.3.3").unwrap();
    let err = k.change_quarantined(&[host, inner], &[]).unwrap_err();
    match &err {
        RulesError::ElementRefused(r) => {
            assert_eq!(r.element, "100.64.10.128/25", "{err}");
            assert_eq!(r.set, "quarantined_ranges_v4", "{err}");
        }
        other => panic!("not a refusal: {other}"),
    }
    assert!(err.to_string().contains("overlaps"), "{err}");
    assert_eq!(listed(&ns, "quarantined_ranges_v4"), "100.64.10.0/24");
    assert_eq!(listed(&ns, "quarantined_v4"), "");
}

#[test]
fn a_batch_with_one_bad_element_is_refused_whole_and_names_it() {
    let (ns, c, k) = installed("elbad");
    let held = addrs(&c, &["100.64.1.1", "2001:db8:100:1::/64"]);
    k.change_quarantined(&held, &[]).unwrap();
    let before = ns.nft(&["list", "table", "inet", "cordon"], None);

    // Adds of both families and a range, removal of one held host, and
    // the removal of a host that is not held: the kernel refuses the last.
    let add = addrs(&c, &["100.64.2.2", "2001:db8:100:2::/64", "100.64.20.0/24"]);
    let absent = c.subscriber_addr("100.64.99.99").unwrap();
    let err = k.change_quarantined(&add, &[held[0], absent]).unwrap_err();
    match &err {
        RulesError::ElementRefused(r) => {
            assert_eq!(
                (r.op.as_str(), r.element.as_str(), r.set.as_str()),
                ("delete", "100.64.99.99", "quarantined_v4"),
                "{err}"
            );
        }
        other => panic!("not a refusal: {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("not in the set"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert_eq!(ns.nft(&["list", "table", "inet", "cordon"], None), before);

    // The socket is still good after a refusal.
    k.change_quarantined(&add, &[held[0]]).unwrap();
    assert_eq!(listed(&ns, "quarantined_v4"), "100.64.2.2");
    assert_eq!(listed(&ns, "quarantined_ranges_v4"), "100.64.20.0/24");
}

#[test]
fn a_thousand_hosts_are_one_transaction() {
    let (ns, c, k) = installed("elbulk");
    let hosts: Vec<SubscriberAddr> = (0..1000u32)
        .map(|i| {
            c.subscriber_addr(&format!("100.64.{}.{}", 10 + i / 200, i % 200))
                .unwrap()
        })
        .collect();
    k.change_quarantined(&hosts, &[]).unwrap();
    let listed = ns.nft(
        &["-j", "list", "set", "inet", "cordon", "quarantined_v4"],
        None,
    );
    assert_eq!(listed.matches("\"100.64.").count(), 1000);
    assert!(k.is_quarantined(&hosts[999]).unwrap());
    k.change_quarantined(&[], &hosts).unwrap();
    assert!(k.quarantined().unwrap().is_empty());
}

#[test]
fn changes_without_a_table_are_refused_with_the_remedy() {
    let ns = Netns::new("elnotab");
    let c = config();
    let k = Kernel::new(&c, NftCommand::in_netns(ns.name()));
    let host = c.subscriber_addr("100.64.1.1").unwrap();
    let err = k.change_quarantined(&[host], &[]).unwrap_err();
    assert!(err.to_string().contains("reinstall the ruleset"), "{err}");
    assert!(!k.is_quarantined(&host).unwrap());
    assert_eq!(k.smtp_seen(&host).unwrap(), None);
}

#[test]
fn crossings_enforced_before_their_records_are_marked_until_recorded() {
    let (ns, c, k) = installed("elunrec");
    let held = addrs(&c, &["100.64.4.1", "100.64.4.2", "2001:db8:100:4::9"]);
    k.enforce_unrecorded(&held).unwrap();
    assert_eq!(listed(&ns, "quarantined_v4"), "100.64.4.1, 100.64.4.2");
    assert_eq!(listed(&ns, "unrecorded_v4"), "100.64.4.1, 100.64.4.2");
    assert_eq!(listed(&ns, "unrecorded_v6"), "2001:db8:100:4::");
    let mut marked = k.unrecorded().unwrap();
    marked.sort();
    assert_eq!(
        marked,
        ["100.64.4.1", "100.64.4.2", "2001:db8:100:4::"]
            .map(|a| a.parse::<std::net::IpAddr>().unwrap())
    );
    // The first one's record is written: its mark comes off, its wall stays.
    k.mark_recorded(&held[..1]).unwrap();
    assert_eq!(listed(&ns, "unrecorded_v4"), "100.64.4.2");
    assert!(k.is_quarantined(&held[0]).unwrap());
    // The store refused the second's: out of both sets, in one transaction.
    k.withdraw_unrecorded(&held[1..2]).unwrap();
    assert_eq!(listed(&ns, "quarantined_v4"), "100.64.4.1");
    assert_eq!(listed(&ns, "unrecorded_v4"), "");
    // An install (every start) empties the marks and keeps the carried walls.
    let carried = Carried {
        quarantined: held[..1].to_vec(),
        ..Carried::default()
    };
    k.install(&c, &carried).unwrap();
    assert!(k.unrecorded().unwrap().is_empty());
    assert_eq!(listed(&ns, "quarantined_v4"), "100.64.4.1");
}

#[test]
fn only_single_subscribers_are_enforced_before_their_records() {
    let (ns, c, k) = installed("elunwide");
    let wide = addrs(&c, &["100.64.4.1", "100.64.8.0/24"]);
    let e = k.enforce_unrecorded(&wide).unwrap_err();
    assert!(matches!(e, RulesError::NotAUnit { .. }), "{e}");
    assert_eq!(listed(&ns, "quarantined_v4"), "", "nothing of it went in");
}
