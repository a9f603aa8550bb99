//! Whole sets read back over netlink (one dump per set) against the real
//! kernel, each test in a network namespace of its own (removed by a guard
//! even when the test fails). The reference is what `nft -j list set`
//! says the same set holds, read in the same test.

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

mod common;

use common::addrs;

use std::net::IpAddr;
use std::time::Duration;

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Kernel, NftCommand, RulesError};
use cordon_testkit::{Fixture, Netns};
use ipnet::IpNet;
use serde_json::Value;

/// IPv4 hosts and IPv6 subscribers of /56, quiet after an hour.
fn config() -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16, 2001:db8:100::/48]")
        .set("subscribers.ipv6_quarantine_prefix", 56)
        .set("quarantine.quiet_period", "1h")
        .load()
}

/// The namespace's table installed, and a `Kernel` driving it.
fn installed(tag: &str) -> (Netns, Config, Kernel) {
    common::installed(tag, config())
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = list.iter().map(|n| n.parse().unwrap()).collect();
    out.sort();
    out
}

/// The elements `nft -j list set` shows of one set.
fn nft_elements(ns: &Netns, set: &str) -> Vec<Value> {
    let out = ns.nft(&["-j", "list", "set", "inet", "cordon", set], None);
    let doc: Value = serde_json::from_str(&out).unwrap();
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|item| item.get("set"))
        .and_then(|s| s.get("elem"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// One listed element as a prefix: an address, a prefix, either wrapped
/// in `elem`; `None` for a range (`{"range": […]}`).
fn nft_prefix(v: &Value) -> Option<IpNet> {
    if let Some(a) = v.as_str() {
        return Some(IpNet::from(a.parse::<IpAddr>().unwrap()));
    }
    if let Some(p) = v.get("prefix") {
        let addr: IpAddr = p["addr"].as_str().unwrap().parse().unwrap();
        let len = u8::try_from(p["len"].as_u64().unwrap()).unwrap();
        return Some(IpNet::new(addr, len).unwrap());
    }
    if let Some(e) = v.get("elem") {
        return nft_prefix(&e["val"]);
    }
    assert!(v.get("range").is_some(), "an element nft lists: {v}");
    None
}

/// What `nft` lists in both families' sets named `base`, IPv6 elements
/// of the hash sets widened to the subscriber prefix (`unit`), sorted:
/// what `Kernel` should read.
fn nft_listed(ns: &Netns, base: &str, unit: Option<u8>) -> Vec<IpNet> {
    let mut out = Vec::new();
    for family in ["v4", "v6"] {
        for v in nft_elements(ns, &format!("{base}_{family}")) {
            let Some(net) = nft_prefix(&v) else { continue };
            out.push(match (net, unit) {
                (IpNet::V6(_), Some(len)) => IpNet::new(net.addr(), len).unwrap().trunc(),
                _ => net,
            });
        }
    }
    out.sort();
    out
}

/// Quarantines (hosts, /56 prefixes, ranges) and notices read back as the
/// prefixes given.
fn placed_reference(ns: &Netns, hash: &str, ranges: &str) -> Vec<IpNet> {
    let mut out = nft_listed(ns, hash, Some(56));
    out.extend(nft_listed(ns, ranges, None));
    out.sort();
    out
}

#[test]
fn ipv4_hosts_and_ipv6_subscriber_prefixes_read_back_as_nft_lists_them() {
    let (ns, c, k) = installed("sethost");
    let quarantined = addrs(
        &c,
        &[
            "100.64.3.7",
            "100.64.255.255",
            "2001:db8:100:700::/56",
            "2001:db8:100:ff00::5",
        ],
    );
    k.change_quarantined(&quarantined, &[]).unwrap();
    let noticed = addrs(&c, &["100.64.0.1", "2001:db8:100:1200::1"]);
    k.change_noticed(&noticed, &[]).unwrap();

    let want = nets(&[
        "100.64.3.7/32",
        "100.64.255.255/32",
        "2001:db8:100:700::/56",
        "2001:db8:100:ff00::/56",
    ]);
    assert_eq!(k.quarantined().unwrap(), want);
    assert_eq!(
        placed_reference(&ns, "quarantined", "quarantined_ranges"),
        want
    );
    let want = nets(&["100.64.0.1/32", "2001:db8:100:1200::/56"]);
    assert_eq!(k.noticed().unwrap(), want);
    assert_eq!(placed_reference(&ns, "noticed", "noticed_ranges"), want);
}

#[test]
fn ranges_from_zero_to_the_top_read_back_as_nft_lists_them() {
    let (ns, c, k) = installed("setrange");
    let garden = nets(&[
        "0.0.0.0/8",
        "100.64.9.0/24",
        "100.64.10.0/24",
        "255.255.255.0/24",
        "::/16",
        "2001:db8::/32",
        "ffff:ff00::/24",
    ]);
    k.change_garden(&garden, &[]).unwrap();
    // A range that is no prefix, as an operator might add by hand: `nft`
    // lists it as a range, and it is read as none (as before).
    ns.nft(
        &[
            "add",
            "element",
            "inet",
            "cordon",
            "garden_v4",
            "{ 100.64.20.1-100.64.20.5 }",
        ],
        None,
    );
    let read = k.garden().unwrap();
    assert_eq!(read, nft_listed(&ns, "garden", None));
    for net in &garden {
        assert!(read.contains(net), "{net} in {read:?}");
    }
    assert!(
        read.iter()
            .all(|n| !n.contains(&"100.64.20.3".parse::<IpAddr>().unwrap())),
        "{read:?}"
    );

    let wide = addrs(&c, &["100.64.128.0/17", "2001:db8:100:f000::/52"]);
    k.change_quarantined(&wide, &[]).unwrap();
    let want = nets(&["100.64.128.0/17", "2001:db8:100:f000::/52"]);
    assert_eq!(k.quarantined().unwrap(), want);
    assert_eq!(
        placed_reference(&ns, "quarantined", "quarantined_ranges"),
        want
    );
}

#[test]
fn recent_smtp_attempts_read_back_to_the_millisecond_with_their_counters() {
    let (ns, c, k) = installed("setsmtp");
    for (set, elems) in [
        (
            "smtp_recent_v4",
            "{ 100.64.1.2 counter packets 7 bytes 420, 100.64.1.3 }",
        ),
        (
            "smtp_recent_v6",
            "{ 2001:db8:100:100:: counter packets 3 bytes 180 }",
        ),
        ("smtp_held_v4", "{ 100.64.1.2 counter packets 2 bytes 120 }"),
    ] {
        ns.nft(&["add", "element", "inet", "cordon", set, elems], None);
    }
    let host = c.subscriber_addr("100.64.1.2").unwrap();
    let before = k.smtp_seen(&host).unwrap().unwrap();
    let recent = k.smtp_recent().unwrap();
    let after = k.smtp_seen(&host).unwrap().unwrap();

    let mut keys: Vec<String> = recent.iter().map(|s| s.key.to_string()).collect();
    keys.sort();
    assert_eq!(keys, ["100.64.1.2", "100.64.1.3", "2001:db8:100:100::"]);
    let dumped = recent.iter().find(|s| s.key == host.net().addr()).unwrap();
    // The lookup and the dump read the same element alike: to the
    // millisecond, between the lookups made before and after it.
    assert_eq!(dumped.attempts, 7);
    assert_eq!(dumped.attempts, before.attempts);
    assert!(
        after.expires <= dumped.expires && dumped.expires <= before.expires,
        "{after:?} <= {dumped:?} <= {before:?}"
    );
    assert!(c.quarantine.quiet_period - dumped.expires < Duration::from_secs(60));
    let v6 = recent.iter().find(|s| s.key.is_ipv6()).unwrap();
    assert_eq!(v6.attempts, 3);
    let plain = recent
        .iter()
        .find(|s| s.key.to_string() == "100.64.1.3")
        .unwrap();
    assert_eq!(plain.attempts, 0, "an element without a counter");

    // The reference: `nft` lists whole seconds left, cut down.
    let listed = nft_elements(&ns, "smtp_recent_v4");
    let nft_secs = listed
        .iter()
        .find(|v| v["elem"]["val"] == "100.64.1.2")
        .map(|v| v["elem"]["expires"].as_u64().unwrap())
        .unwrap();
    assert!(
        dumped.expires.as_secs() >= nft_secs && dumped.expires.as_secs() <= nft_secs + 1,
        "{dumped:?} against {nft_secs} s"
    );

    let held = k.smtp_held().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].key, held[0].attempts), (host.net().addr(), 2));
}

#[test]
fn a_missing_set_is_an_error_naming_it_and_missing_marks_are_none() {
    let ns = Netns::new("setgone");
    let c = config();
    let k = Kernel::new(&c, NftCommand::in_netns(ns.name()));
    // A table of that name, but none of Cordon's sets in it.
    ns.nft(&["add", "table", "inet", "cordon"], None);
    match k.quarantined().unwrap_err() {
        RulesError::MissingSet { set, table } => {
            assert_eq!((set.as_str(), table.as_str()), ("quarantined_v4", "cordon"));
        }
        other => panic!("not a missing set: {other}"),
    }
    let err = k.smtp_recent().unwrap_err();
    assert!(err.to_string().contains("smtp_recent_v4"), "{err}");
    assert!(err.to_string().contains("reinstall"), "{err}");
    // A table from before the marks has no `unrecorded` sets: none marked.
    assert_eq!(k.unrecorded().unwrap(), Vec::<IpAddr>::new());
    // No table at all: the same.
    ns.nft(&["delete", "table", "inet", "cordon"], None);
    assert!(matches!(
        k.garden().unwrap_err(),
        RulesError::MissingSet { .. }
    ));
    assert_eq!(k.unrecorded().unwrap(), Vec::<IpAddr>::new());
}

#[test]
fn twenty_thousand_hosts_read_back_from_a_dump_of_many_datagrams() {
    let (ns, c, k) = installed("setbig");
    let hosts: Vec<SubscriberAddr> = (0..20_000u32)
        .map(|i| {
            c.subscriber_addr(&format!("100.64.{}.{}", i / 250, 1 + i % 250))
                .unwrap()
        })
        .collect();
    let units: Vec<SubscriberAddr> = (0..256u32)
        .map(|i| {
            c.subscriber_addr(&format!("2001:db8:100:{:x}00::/56", i))
                .unwrap()
        })
        .collect();
    k.change_quarantined(&[hosts.clone(), units.clone()].concat(), &[])
        .unwrap();
    let read = k.quarantined().unwrap();
    let mut want: Vec<IpNet> = hosts
        .iter()
        .chain(&units)
        .map(SubscriberAddr::net)
        .collect();
    want.sort();
    assert_eq!(read.len(), 20_256);
    assert_eq!(read, want);
    assert_eq!(
        read,
        placed_reference(&ns, "quarantined", "quarantined_ranges")
    );
}
