//! The dump's retry against the real kernel: a transaction committed
//! while a set is being dumped (between two of its parts) makes the kernel
//! walk the changed set for the rest (skipping or repeating elements,
//! unmarked), and the set is read again whole.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use cordon_testkit::Netns;

use super::connect;
use super::dump::dump_set;

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

fn add(ns: &Netns, host: Ipv4Addr) {
    let elem = format!("{{ {host} }}");
    ns.nft(&["add", "element", "inet", "cordon", "s", &elem], None);
}

#[test]
fn a_dump_interrupted_by_a_commit_is_read_again_whole() {
    let (ns, mut want) = set_of("dintr", 5000);
    let mut conn = connect(Some(ns.name())).unwrap();
    let late = Ipv4Addr::new(100, 65, 0, 1);
    let (mut attempts, mut parts) = (0, 0);
    let got = dump_set(&mut conn, "cordon", "s", &mut |part| {
        parts += 1;
        if part == 1 {
            attempts += 1;
            if attempts == 1 {
                // Committed after the first part went out, before the rest.
                add(&ns, late);
            }
        }
    })
    .unwrap()
    .unwrap();
    want.insert(IpAddr::V4(late));
    let keys: BTreeSet<IpAddr> = got.iter().filter_map(|f| f.key).collect();
    assert_eq!(keys, want);
    assert_eq!(got.len(), want.len());
    assert_eq!(attempts, 2, "read again: the set changed during the first");
    assert!(parts > 2, "5000 hosts are several parts: {parts}");

    // Undisturbed, one dump is enough.
    let mut attempts = 0;
    let again = dump_set(&mut conn, "cordon", "s", &mut |part| {
        attempts += usize::from(part == 1);
    })
    .unwrap()
    .unwrap();
    assert_eq!(again.len(), want.len());
    assert_eq!(attempts, 1);
}

#[test]
fn a_set_that_keeps_changing_is_an_error_after_a_few_tries() {
    let (ns, _) = set_of("dbusy", 2000);
    let mut conn = connect(Some(ns.name())).unwrap();
    let mut next = 0u32;
    let err = dump_set(&mut conn, "cordon", "s", &mut |part| {
        if part == 1 {
            next += 1;
            add(&ns, Ipv4Addr::from(0x6441_0000 + next));
        }
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Interrupted, "{err}");
    assert!(err.to_string().contains("kept changing"), "{err}");
    assert_eq!(next, 4, "asked four times");
    // The socket answers the next call.
    assert!(
        dump_set(&mut conn, "cordon", "s", &mut |_| {})
            .unwrap()
            .is_some()
    );
    assert_eq!(
        dump_set(&mut conn, "cordon", "gone", &mut |_| {}).unwrap(),
        None
    );
}

#[test]
fn a_dump_that_never_ends_is_given_up_in_time() {
    let (ns, _) = set_of("dlong", 2000);
    let mut conn = connect(Some(ns.name())).unwrap();
    let mut next = 0u32;
    // A change after every part: the kernel walks on to each new element.
    let err = dump_set(&mut conn, "cordon", "s", &mut |_| {
        next += 1;
        add(&ns, Ipv4Addr::from(0x6441_0000 + next));
    })
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("still being sent"), "{err}");
}

#[test]
fn the_first_dump_of_a_freshly_filled_hash_set_holds_every_host_once() {
    use super::super::message::{Op, SetChange};
    use super::ElementSocket;
    use ipnet::IpNet;

    let (ns, _) = set_of("dfill", 1);
    let socket = ElementSocket::new(Some(ns.name()));
    let hosts: Vec<IpNet> = (1..100_000u32)
        .map(|i| IpNet::from(IpAddr::V4(Ipv4Addr::from(0x6440_0000 + i))))
        .collect();
    for chunk in hosts.chunks(10_000) {
        let change = SetChange {
            set: "s".into(),
            op: Op::Add,
            interval: false,
            nets: chunk.to_vec(),
        };
        socket.change("cordon", &[change], "fill").unwrap();
    }
    // Measured: this first walk repeated (and skipped) thousands of hosts.
    let got = socket.dump("cordon", "s", "read").unwrap().unwrap();
    let keys: BTreeSet<IpAddr> = got.iter().filter_map(|f| f.key).collect();
    assert_eq!((got.len(), keys.len()), (100_000, 100_000));
}
