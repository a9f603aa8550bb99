//! The `Kernel` API against real nftables, each test in a network namespace
//! of its own (removed by a guard even when the test fails). Packet-level
//! behaviour of the ruleset is tested in the lab (`tests/` crate).

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use std::path::Path;
use std::time::Duration;

use cordon_config::{Config, SubscriberAddr, load_file};
use cordon_rules::{Carried, Installed, Kernel, NftCommand, render};
use cordon_testkit::{Fixture, Netns};

/// What the packet path does when a host tries port 25.
fn saw_smtp(ns: &Netns, set: &str, elem: &str) {
    ns.nft(&["add", "element", "inet", "cordon", set, elem], None);
}

/// A `Kernel` that drives the namespace's nftables.
fn kernel(ns: &Netns, config: &Config) -> Kernel {
    Kernel::new(config, NftCommand::in_netns(ns.name()))
}

/// What the store would hand over: these quarantines, nothing else.
fn holding(quarantined: Vec<SubscriberAddr>) -> Carried {
    Carried {
        quarantined,
        ..Carried::default()
    }
}

fn example() -> Config {
    load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../cordon.example.yaml")).unwrap()
}

#[test]
fn the_example_ruleset_passes_nft_check() {
    let ns = Netns::new("kchk");
    let text = render(&example(), &Carried::default()).unwrap();
    ns.nft(&["-c", "-f", "-"], Some(&text));
}

#[test]
fn install_change_and_read_back() {
    let ns = Netns::new("kchg");
    let c = example();
    let k = kernel(&ns, &c);
    assert!(!k.exists().unwrap());
    k.install(&c, &Carried::default()).unwrap();
    assert!(k.exists().unwrap());
    assert!(k.quarantined().unwrap().is_empty());

    let a = c.subscriber_addr("100.64.3.7").unwrap();
    let b = c.subscriber_addr("100.64.9.0/24").unwrap();
    let v6 = c.subscriber_addr("2001:db8:1000:7::99").unwrap();
    k.change_quarantined(&[a, b, v6], &[]).unwrap();
    let got: Vec<String> = k
        .quarantined()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        ["100.64.3.7/32", "100.64.9.0/24", "2001:db8:1000:7::/64"]
    );

    // Adds and removes in one transaction.
    let d = c.subscriber_addr("100.64.4.4").unwrap();
    k.change_quarantined(&[d], &[a, v6]).unwrap();
    let got: Vec<String> = k
        .quarantined()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(got, ["100.64.4.4/32", "100.64.9.0/24"]);

    // A refused batch changes nothing: removing an absent element fails the whole transaction.
    let err = k.change_quarantined(&[a], &[v6]).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot delete 2001:db8:1000:7:: in set quarantined_v6"),
        "{err}"
    );
    assert_eq!(k.quarantined().unwrap().len(), 2);
}

#[test]
fn reinstalling_updates_in_place_and_spares_other_tables() {
    let ns = Netns::new("krep");
    let c = example();
    let k = kernel(&ns, &c);
    ns.nft(
        &["-f", "-"],
        Some("table inet isp {\n chain input {\n type filter hook input priority 0; policy accept;\n tcp dport 22 counter accept comment \"ssh\"\n }\n}\n"),
    );
    let other_before = ns.nft(&["list", "table", "inet", "isp"], None);

    let a = c.subscriber_addr("100.64.3.7").unwrap();
    let b = c.subscriber_addr("100.64.3.8").unwrap();
    let v6 = c.subscriber_addr("2001:db8:1000:7::99").unwrap();
    assert_eq!(
        k.install(&c, &holding(vec![a, v6])).unwrap(),
        Installed::Created
    );
    // What the packet path would have added: a sender and a detection meter.
    saw_smtp(&ns, "smtp_recent_v4", "{ 100.64.5.5 }");
    saw_smtp(&ns, "smtp_recent_v6", "{ 2001:db8:1000:5:: }");
    saw_smtp(&ns, "alerted_v4", "{ 100.64.5.5 }");

    // Reload with a changed config and a changed quarantine list: the store
    // is the truth for quarantines, the config for the garden; the kernel's
    // own memory survives untouched.
    let mut changed = c.clone();
    changed.portal.redirect_port = 9090;
    changed.walled_garden.destinations = Fixture::new()
        .set("walled_garden.destinations", "[198.51.100.0/24]")
        .load()
        .walled_garden
        .destinations;
    assert_eq!(
        k.install(&changed, &holding(vec![b, v6])).unwrap(),
        Installed::Updated
    );
    let table = ns.nft(&["list", "table", "inet", "cordon"], None);
    assert!(table.contains("redirect to :9090"), "{table}");
    assert!(
        !table.contains("redirect to :8081"),
        "old rules left: {table}"
    );
    assert_eq!(k.quarantined().unwrap(), vec![b.net(), v6.net()]);
    let garden: Vec<String> = k
        .garden()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(garden, ["198.51.100.0/24"]);
    let recent = k.smtp_recent().unwrap();
    let keys: Vec<String> = recent.iter().map(|s| s.key.to_string()).collect();
    assert!(keys.contains(&"100.64.5.5".to_string()), "{keys:?}");
    assert!(keys.contains(&"2001:db8:1000:5::".to_string()), "{keys:?}");
    let alerted = ns.nft(&["list", "set", "inet", "cordon", "alerted_v4"], None);
    assert!(alerted.contains("100.64.5.5"), "meters are kept: {alerted}");
    // Every rule is there once: nothing appended to the old rules.
    let twice = ns.nft(&["list", "chain", "inet", "cordon", "forward"], None);
    assert_eq!(
        twice.matches("ct state established,related accept").count(),
        1,
        "{twice}"
    );

    // A changed quiet period makes the recent-attempts sets anew, carrying
    // what they held.
    let mut quieter = changed.clone();
    quieter.quarantine.quiet_period = Duration::from_secs(600);
    assert_eq!(
        k.install(&quieter, &holding(vec![b, v6])).unwrap(),
        Installed::Updated
    );
    let recent = k.smtp_recent().unwrap();
    assert_eq!(recent.len(), 2, "{recent:?}");
    assert!(
        recent
            .iter()
            .all(|s| s.since_last(quieter.quarantine.quiet_period) < Duration::from_secs(60)),
        "{recent:?}"
    );
    let set = ns.nft(&["list", "set", "inet", "cordon", "smtp_recent_v4"], None);
    assert!(set.contains("timeout 10m"), "{set}");

    assert_eq!(
        ns.nft(&["list", "table", "inet", "isp"], None),
        other_before
    );
    k.remove().unwrap();
    assert!(!k.exists().unwrap());
    assert_eq!(
        ns.nft(&["list", "table", "inet", "isp"], None),
        other_before
    );
}

#[test]
fn a_table_that_cannot_be_updated_in_place_is_replaced() {
    let ns = Netns::new("kold");
    let c = example();
    let k = kernel(&ns, &c);
    // As an older release might have left it: `forward` hooked elsewhere,
    // and a chain and a set this release no longer has.
    ns.nft(
        &["-f", "-"],
        Some("table inet cordon {\n set old_v4 { type ipv4_addr; }\n chain forward {\n type filter hook prerouting priority 0; policy accept;\n }\n chain gone {\n ip saddr @old_v4 drop\n }\n}\n"),
    );
    let a = c.subscriber_addr("100.64.3.7").unwrap();
    let got = k.install(&c, &holding(vec![a])).unwrap();
    assert!(
        matches!(&got, Installed::Replaced { refusal } if !refusal.is_empty()),
        "{got:?}"
    );
    let table = ns.nft(&["list", "table", "inet", "cordon"], None);
    assert!(table.contains("hook forward"), "{table}");
    assert!(
        !table.contains("chain gone") && !table.contains("old_v4"),
        "{table}"
    );
    assert_eq!(k.quarantined().unwrap(), vec![a.net()]);

    // Leftovers that do not block an update are removed by it.
    ns.nft(
        &["-f", "-"],
        Some("table inet cordon {\n set old_v4 { type ipv4_addr; }\n chain gone {\n ip saddr @old_v4 drop\n }\n}\n"),
    );
    assert_eq!(
        k.install(&c, &holding(vec![a])).unwrap(),
        Installed::Updated
    );
    let table = ns.nft(&["list", "table", "inet", "cordon"], None);
    assert!(
        !table.contains("chain gone") && !table.contains("old_v4"),
        "{table}"
    );
}

#[test]
fn one_host_is_looked_up_without_listing_the_set() {
    let ns = Netns::new("kget");
    let c = Fixture::new()
        .prefixes("[100.64.0.0/16, 2001:db8:100::/48]")
        .set("quarantine.quiet_period", "1h")
        .load();
    let k = kernel(&ns, &c);
    k.install(&c, &Carried::default()).unwrap();
    let host = c.subscriber_addr("100.64.1.2").unwrap();
    let v6 = c.subscriber_addr("2001:db8:100:1::2").unwrap();
    assert_eq!(k.smtp_seen(&host).unwrap(), None);
    saw_smtp(&ns, "smtp_recent_v4", "{ 100.64.1.2 }");
    saw_smtp(&ns, "smtp_recent_v6", "{ 2001:db8:100:1:: }");
    let seen = k.smtp_seen(&host).unwrap().expect("present");
    assert!(seen.since_last(c.quarantine.quiet_period) < Duration::from_secs(60));
    assert!(k.smtp_seen(&v6).unwrap().is_some());
    assert_eq!(
        k.smtp_seen(&c.subscriber_addr("100.64.1.3").unwrap())
            .unwrap(),
        None
    );
}

#[test]
fn the_shape_leaves_elements_out_and_names_changes_by_hand() {
    let ns = Netns::new("shp");
    let c = example();
    let k = kernel(&ns, &c);
    assert_eq!(k.shape().unwrap(), None, "no table, no shape");
    k.install(&c, &Carried::default()).unwrap();
    let installed = k.shape().unwrap().expect("a table");

    // Quarantines and what the packet path counts are not changes.
    let hosts: Vec<SubscriberAddr> = (0..1000u32)
        .map(|i| {
            c.subscriber_addr(&format!("100.64.{}.{}", 10 + i / 250, 1 + i % 250))
                .unwrap()
        })
        .collect();
    k.change_quarantined(&hosts, &[]).unwrap();
    saw_smtp(&ns, "smtp_recent_v4", "{ 100.64.5.5 }");
    assert_eq!(installed.differences(&k.shape().unwrap().unwrap()), []);

    // A change by hand is.
    ns.nft(
        &["flush", "chain", "inet", "cordon", "to_quarantined"],
        None,
    );
    let found: Vec<String> = installed
        .differences(&k.shape().unwrap().unwrap())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(found, ["chain to_quarantined: 0 rules, expected 1"]);

    k.remove().unwrap();
    assert_eq!(k.shape().unwrap(), None);
}

/// The notice set changes over netlink beside the quarantine set, and
/// never in it: hosts, IPv6 prefixes and ranges go where they belong, a
/// look-up finds one without listing, and a reinstall keeps what the
/// store hands over.
#[test]
fn notices_change_their_own_sets() {
    let ns = Netns::new("knot");
    let c = example();
    let k = kernel(&ns, &c);
    k.install(&c, &Carried::default()).unwrap();
    let a = c.subscriber_addr("100.64.3.7").unwrap();
    let v6 = c.subscriber_addr("2001:db8:1000:7::99").unwrap();
    let range = c.subscriber_addr("100.64.9.0/24").unwrap();
    let inside = c.subscriber_addr("100.64.9.5").unwrap();
    assert!(!k.is_noticed(&a).unwrap());
    k.change_noticed(&[a, v6, range], &[]).unwrap();
    assert!(k.is_noticed(&a).unwrap());
    assert!(k.is_noticed(&v6).unwrap());
    assert!(k.is_noticed(&inside).unwrap(), "inside a noticed range");
    assert!(
        k.quarantined().unwrap().is_empty(),
        "the quarantine set is untouched"
    );
    let list = |set: &str| ns.nft(&["list", "set", "inet", "cordon", set], None);
    assert!(list("noticed_v4").contains("100.64.3.7"));
    assert!(list("noticed_v6").contains("2001:db8:1000:7::"));
    assert!(list("noticed_ranges_v4").contains("100.64.9.0/24"));
    // Read back as the units noticed, as the quarantines are.
    let noticed = |k: &Kernel| -> Vec<String> {
        k.noticed()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        noticed(&k),
        ["100.64.3.7/32", "100.64.9.0/24", "2001:db8:1000:7::/64"]
    );
    k.change_noticed(&[], &[a, range]).unwrap();
    assert_eq!(noticed(&k), ["2001:db8:1000:7::/64"]);
    assert!(!k.is_noticed(&a).unwrap());
    assert!(!k.is_noticed(&inside).unwrap());
    assert!(k.is_noticed(&v6).unwrap());
    // A reinstall brings the set to what the store says.
    let carried = Carried {
        noticed: vec![a],
        ..Carried::default()
    };
    k.install(&c, &carried).unwrap();
    assert!(k.is_noticed(&a).unwrap());
    assert!(!k.is_noticed(&v6).unwrap());
}
