//! The dump's retry against the real kernel: a transaction committed
//! while a set is being dumped (between two of its parts) makes the
//! kernel mark the dump interrupted, and the set is read again whole.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use cordon_testkit::Netns;

use super::{connect, dump_set};

/// A table with one plain set of `n` IPv4 hosts, in a namespace of its own.
fn set_of(tag: &str, n: u32) -> (Netns, BTreeSet<IpAddr>) {
    let ns = Netns::new(tag);
    let hosts: BTreeSet<IpAddr> = (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x6440_0000 + i)))
        .collect();
    let list: Vec<String> = hosts.iter().map(ToString::to_string).collect();
    let script = format!(
        "table inet cordon {{\n set s {{ type ipv4_addr; elements = {{ {} }} }}\n}}\n",
        list.join(", ")
    );
    ns.nft(&["-f", "-"], Some(&script));
    (ns, hosts)
}

#[test]
fn a_dump_interrupted_by_a_commit_is_read_again_whole() {
    let (ns, mut want) = set_of("dintr", 5000);
    let mut conn = connect(Some(ns.name())).unwrap();
    let first_seq = conn.seq;
    let late: IpAddr = "100.65.0.1".parse().unwrap();
    let mut parts = 0;
    let got = dump_set(&mut conn, "cordon", "s", &mut || {
        parts += 1;
        if parts == 1 {
            // Committed after the first part went out, before the next.
            ns.nft(
                &["add", "element", "inet", "cordon", "s", "{ 100.65.0.1 }"],
                None,
            );
        }
    })
    .unwrap()
    .unwrap();
    want.insert(late);
    let keys: BTreeSet<IpAddr> = got.iter().filter_map(|f| f.key).collect();
    assert_eq!(keys.len(), got.len(), "no element read twice");
    assert_eq!(keys, want);
    assert_eq!(
        conn.seq.wrapping_sub(first_seq),
        2,
        "asked twice: the kernel marked the first dump interrupted"
    );
    assert!(parts > 2, "5000 hosts are several parts: {parts}");

    // Undisturbed, one dump is enough.
    let before = conn.seq;
    let again = dump_set(&mut conn, "cordon", "s", &mut || {})
        .unwrap()
        .unwrap();
    assert_eq!(again.len(), want.len());
    assert_eq!(conn.seq.wrapping_sub(before), 1);
}

#[test]
fn a_set_that_keeps_changing_is_an_error_after_a_few_tries() {
    let (ns, _) = set_of("dbusy", 2000);
    let mut conn = connect(Some(ns.name())).unwrap();
    let mut next = 0u32;
    let err = dump_set(&mut conn, "cordon", "s", &mut || {
        next += 1;
        let host = Ipv4Addr::from(0x6441_0000 + next);
        ns.nft(
            &[
                "add",
                "element",
                "inet",
                "cordon",
                "s",
                &format!("{{ {host} }}"),
            ],
            None,
        );
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "{err}");
    assert!(err.to_string().contains("kept changing"), "{err}");
    // The socket answers the next call.
    assert!(
        dump_set(&mut conn, "cordon", "s", &mut || {})
            .unwrap()
            .is_some()
    );
    assert_eq!(
        dump_set(&mut conn, "cordon", "gone", &mut || {}).unwrap(),
        None
    );
}
