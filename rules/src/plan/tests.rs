//! The install plans for each case a live table can be in, without root:
//! the live layout is what nft 1.0.6 listed for the example config
//! (`drift/listing.json`), changed where a case needs it.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use cordon_config::load_file;

use super::*;

/// What `nft -j -t list table inet cordon` answered for the example table.
const LISTING: &str = include_str!("../drift/listing.json");

fn example() -> Config {
    load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../cordon.example.yaml")).unwrap()
}

fn layout() -> Layout {
    Layout::from_listing(LISTING, "test").unwrap()
}

fn holding(config: &Config, addrs: &[&str]) -> Carried {
    Carried {
        quarantined: addrs
            .iter()
            .map(|a| config.subscriber_addr(a).unwrap())
            .collect(),
        ..Carried::default()
    }
}

/// The live table of `layout`, its sets read as `update_reads` names them,
/// holding what an install for `config` and `in_kernel` put there.
fn live_holding(config: &Config, layout: Layout, in_kernel: &Carried) -> Live {
    let reads = update_reads(config, &layout);
    let mut live = Live {
        layout,
        ..Live::default()
    };
    for set in sets(config, in_kernel) {
        if let (true, Members::Prefixes(members)) = (reads.members.contains(&set.name), set.members)
        {
            live.members.insert(set.name, members);
        }
    }
    live
}

/// The script's lines that change elements.
fn element_lines(script: &str) -> Vec<&str> {
    script
        .lines()
        .filter(|l| l.starts_with("add element ") || l.starts_with("delete element "))
        .collect()
}

fn seen(key: &str, attempts: u64) -> SmtpSeen {
    SmtpSeen {
        key: key.parse().unwrap(),
        expires: Duration::from_secs(3000),
        attempts,
    }
}

const CHAINS: [&str; 7] = [
    "forward",
    "from_subscriber",
    "smtp_attempt",
    "relay_limit",
    "walled_garden",
    "to_quarantined",
    "portal_redirect",
];

#[test]
fn a_fresh_install_is_the_rendered_table_with_its_members() {
    let c = example();
    let carried = holding(&c, &["100.64.3.7", "2001:db8:1000:7::99"]);
    let script = create(&c, &carried).unwrap();
    assert_eq!(script, render(&c, &carried).unwrap());
    assert!(script.contains("\ntable inet cordon {"), "{script}");
    assert!(script.contains("elements = { 100.64.3.7 }"), "{script}");
    assert!(
        script.contains("elements = { 2001:db8:1000:7:: }"),
        "{script}"
    );
}

#[test]
fn a_matching_layout_is_updated_by_element_differences_only() {
    let c = example();
    let layout = layout();
    let reads = update_reads(&c, &layout);
    // Every set Cordon fills is kept and read; no meter is made anew.
    assert!(reads.meters.is_empty(), "{reads:?}");
    for base in [names::QUARANTINED, names::QUARANTINED_RANGES, names::GARDEN] {
        for v4 in [true, false] {
            assert!(reads.members.contains(&set_name(base, v4)), "{reads:?}");
        }
    }
    assert!(!reads.members.iter().any(|s| s.starts_with("smtp_")));

    let before = holding(&c, &["100.64.3.7", "100.64.3.9", "2001:db8:1000:7::1"]);
    let live = live_holding(&c, layout, &before);
    let after = holding(
        &c,
        &[
            "100.64.3.7",
            "100.64.4.4",
            "2001:db8:1000:8::1",
            "2001:db8:1100::/56",
        ],
    );
    let script = update(&c, &after, &live).unwrap();
    for chain in CHAINS {
        assert!(
            script.contains(&format!("flush chain inet cordon {chain}\n")),
            "{chain}: {script}"
        );
    }
    assert!(!script.contains("delete chain"), "{script}");
    assert!(!script.contains("delete set"), "{script}");
    // Kept sets are not declared again: their elements and meters stay.
    assert!(!script.contains("set quarantined_v4 {"), "{script}");
    assert!(!script.contains("set smtp_recent_v4 {"), "{script}");
    assert!(
        script.contains("chain forward {"),
        "rules refilled: {script}"
    );
    assert_eq!(
        element_lines(&script),
        [
            "delete element inet cordon quarantined_v4 { 100.64.3.9 }",
            "add element inet cordon quarantined_v4 { 100.64.4.4 }",
            "delete element inet cordon quarantined_v6 { 2001:db8:1000:7:: }",
            "add element inet cordon quarantined_v6 { 2001:db8:1000:8:: }",
            "add element inet cordon quarantined_ranges_v6 { 2001:db8:1100::/56 }",
        ]
    );

    // The same members: nothing to add or delete, only the rules swapped.
    let same = live_holding(&c, self::layout(), &after);
    assert_eq!(
        element_lines(&update(&c, &after, &same).unwrap()),
        Vec::<&str>::new()
    );
}

#[test]
fn empty_sets_stay_empty_and_emptied_sets_lose_every_member() {
    let c = example();
    let nothing = Carried::default();
    let empty = live_holding(&c, layout(), &nothing);
    let script = update(&c, &nothing, &empty).unwrap();
    assert!(
        !element_lines(&script)
            .iter()
            .any(|l| l.contains("quarantined")),
        "{script}"
    );
    // A kept set that is not in the reads at all counts as empty.
    let mut unread = live_holding(&c, layout(), &nothing);
    unread.members.clear();
    let one = holding(&c, &["100.64.3.7"]);
    assert!(
        element_lines(&update(&c, &one, &unread).unwrap())
            .contains(&"add element inet cordon quarantined_v4 { 100.64.3.7 }")
    );

    let full = live_holding(
        &c,
        layout(),
        &holding(&c, &["100.64.3.7", "100.64.9.0/24", "2001:db8:1000:7::1"]),
    );
    let lines: Vec<String> = element_lines(&update(&c, &nothing, &full).unwrap())
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines,
        [
            "delete element inet cordon quarantined_v4 { 100.64.3.7 }",
            "delete element inet cordon quarantined_v6 { 2001:db8:1000:7:: }",
            "delete element inet cordon quarantined_ranges_v4 { 100.64.9.0/24 }",
        ]
    );
}

#[test]
fn a_large_member_set_is_changed_by_its_difference() {
    let c = example();
    // 50 000 IPv4 hosts and 50 000 IPv6 subscribers (a /64 each).
    let v4 = |i: u32| IpNet::from(IpAddr::V4(Ipv4Addr::from(0x6440_0100 + i)));
    let v6 = |i: u32| {
        let addr = Ipv6Addr::from((0x2001_0db8_1000_0001_u128 + u128::from(i)) << 64);
        IpNet::new(IpAddr::V6(addr), 64).unwrap()
    };
    let held = |range: std::ops::Range<u32>| -> Carried {
        let mut out = Carried::default();
        for i in range {
            for net in [v4(i), v6(i)] {
                out.quarantined
                    .push(c.subscriber_addr(&net.to_string()).unwrap());
            }
        }
        out
    };
    let live = live_holding(&c, layout(), &held(0..50_000));
    assert_eq!(live.members["quarantined_v4"].len(), 50_000);
    assert_eq!(live.members["quarantined_v6"].len(), 50_000);
    // One of each family released, one quarantined.
    let script = update(&c, &held(1..50_001), &live).unwrap();
    assert_eq!(
        element_lines(&script),
        [
            "delete element inet cordon quarantined_v4 { 100.64.1.0 }",
            "add element inet cordon quarantined_v4 { 100.64.196.80 }",
            "delete element inet cordon quarantined_v6 { 2001:db8:1000:1:: }",
            "add element inet cordon quarantined_v6 { 2001:db8:1000:c351:: }",
        ]
    );
    // All of them into empty sets: one line a set, every member once.
    let empty = live_holding(&c, layout(), &Carried::default());
    let script = update(&c, &held(0..50_000), &empty).unwrap();
    let lines = element_lines(&script);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l.matches(", ").count() == 49_999));
}

#[test]
fn a_changed_layout_declares_anew_what_changed_and_drops_what_is_gone() {
    let c = example();
    // As an older release might have left it: a chain and a set this
    // release no longer has, and a shorter quiet period.
    let mut objects: serde_json::Value = serde_json::from_str(LISTING).unwrap();
    let list = objects["nftables"].as_array_mut().unwrap();
    for o in list.iter_mut() {
        if let Some(set) = o.get_mut("set")
            && set["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("smtp_recent"))
        {
            set["timeout"] = serde_json::json!(600);
        }
    }
    list.push(serde_json::json!({"chain": {"family": "inet", "table": "cordon", "name": "gone"}}));
    list.push(serde_json::json!({"set": {"family": "inet", "table": "cordon", "name": "old_v4", "type": "ipv4_addr"}}));
    let layout = Layout::from_listing(&objects.to_string(), "test").unwrap();

    let reads = update_reads(&c, &layout);
    assert_eq!(reads.meters, ["smtp_recent_v4", "smtp_recent_v6"]);
    let mut live = live_holding(&c, layout, &Carried::default());
    live.meters
        .insert("smtp_recent_v4".into(), vec![seen("100.64.5.5", 4)]);
    live.meters
        .insert("smtp_recent_v6".into(), vec![seen("2001:db8:1000:5::", 2)]);
    let script = update(&c, &Carried::default(), &live).unwrap();
    for line in [
        "flush chain inet cordon gone",
        "delete chain inet cordon gone",
        "delete set inet cordon old_v4",
        "delete set inet cordon smtp_recent_v4",
        "delete set inet cordon smtp_recent_v6",
    ] {
        assert!(script.lines().any(|l| l == line), "{line}: {script}");
    }
    // Deletions come before the table that declares the sets again.
    let table_at = script.find("table inet cordon {").unwrap();
    assert!(script.rfind("delete ").unwrap() < table_at, "{script}");
    assert!(
        script.contains(
            "elements = { 100.64.5.5 counter packets 4 bytes 0 timeout 7200s expires 3000s }"
        ),
        "{script}"
    );
    assert!(
        script.contains("2001:db8:1000:5:: counter packets 2"),
        "{script}"
    );
    // The held set's definition did not change: kept, not carried.
    assert!(
        !script.contains("delete set inet cordon smtp_held"),
        "{script}"
    );
    assert!(!script.contains("set smtp_held_v4 {"), "{script}");
}

#[test]
fn a_replacement_deletes_the_table_and_carries_every_recent_attempt() {
    let c = example();
    let layout = layout();
    let reads = replace_reads(&layout);
    assert_eq!(
        reads,
        Reads {
            members: Vec::new(),
            meters: [
                "smtp_recent_v4",
                "smtp_recent_v6",
                "smtp_held_v4",
                "smtp_held_v6"
            ]
            .map(String::from)
            .to_vec(),
        }
    );
    let mut live = Live {
        layout,
        ..Live::default()
    };
    live.meters
        .insert("smtp_held_v4".into(), vec![seen("100.64.3.7", 9)]);
    let carried = holding(&c, &["100.64.3.7"]);
    let script = replace(&c, &carried, &live).unwrap();
    let mut expected_carry = carried.clone();
    expected_carry.smtp_held = vec![seen("100.64.3.7", 9)];
    assert_eq!(
        script,
        format!(
            "add table inet cordon\ndelete table inet cordon\n{}",
            render(&c, &expected_carry).unwrap()
        )
    );
    assert!(script.contains("100.64.3.7 counter packets 9"), "{script}");
    assert_eq!(
        remove("cordon"),
        "add table inet cordon\ndelete table inet cordon\n"
    );
}

#[test]
fn element_batches_delete_before_they_add_by_family() {
    let c = example();
    assert!(change_quarantined(64, &[], &[]).is_empty());
    assert!(change_garden(&[], &[]).is_empty());
    let a = c.subscriber_addr("100.64.3.7").unwrap();
    let v6 = c.subscriber_addr("2001:db8:1000:7::99").unwrap();
    let range = c.subscriber_addr("100.64.9.0/24").unwrap();
    let changes = change_quarantined(64, &[v6, range], &[a]);
    let got: Vec<(String, Op, bool, Vec<String>)> = changes
        .into_iter()
        .map(|c| {
            let nets = c.nets.iter().map(ToString::to_string).collect();
            (c.set, c.op, c.interval, nets)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "quarantined_v4".into(),
                Op::Delete,
                false,
                vec!["100.64.3.7/32".into()]
            ),
            (
                "quarantined_v6".into(),
                Op::Add,
                false,
                vec!["2001:db8:1000:7::/128".into()]
            ),
            (
                "quarantined_ranges_v4".into(),
                Op::Add,
                true,
                vec!["100.64.9.0/24".into()]
            ),
        ]
    );
    let garden = change_garden(&["198.51.100.0/24".parse().unwrap()], &[]);
    assert!(garden[0].interval && garden[0].set == "garden_v4");
}
