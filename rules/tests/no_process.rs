//! Whole sets are read over netlink from the calling process: reading
//! every set the reconcile, the quiet checks and the start read starts no
//! `nft` (each would cost 5-10 ms, and 0.3 s at 100 000 elements, while
//! cordond's core waits). Alone in its test binary, so no other test's
//! processes are counted.

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use cordon_rules::{Carried, Kernel, NftCommand};
use cordon_testkit::{Fixture, Netns};
use nix::sys::resource::{UsageWho, getrusage};

/// Page faults of this process's finished children: every process
/// started and waited for adds hundreds.
fn children_faults() -> i64 {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
    usage.minor_page_faults() + usage.major_page_faults()
}

#[test]
fn sets_are_read_without_starting_a_process() {
    let ns = Netns::new("noproc");
    let c = Fixture::new()
        .prefixes("[100.64.0.0/16, 2001:db8:100::/48]")
        .load();
    let k = Kernel::new(&c, NftCommand::in_netns(ns.name()));
    k.install(&c, &Carried::default()).unwrap();
    let held: Vec<_> = ["100.64.1.1", "100.64.9.0/24", "2001:db8:100:1::/64"]
        .iter()
        .map(|a| c.subscriber_addr(a).unwrap())
        .collect();
    k.change_quarantined(&held, &[]).unwrap();
    ns.nft(
        &[
            "add",
            "element",
            "inet",
            "cordon",
            "smtp_recent_v4",
            "{ 100.64.1.1 }",
        ],
        None,
    );

    let before = children_faults();
    let quarantined = k.quarantined().unwrap();
    k.noticed().unwrap();
    k.garden().unwrap();
    let recent = k.smtp_recent().unwrap();
    k.smtp_held().unwrap();
    k.unrecorded().unwrap();
    assert_eq!(children_faults(), before, "a process was started");

    assert_eq!(quarantined.len(), 3, "{quarantined:?}");
    assert_eq!(recent.len(), 1, "{recent:?}");
}
