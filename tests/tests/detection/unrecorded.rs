//! Enforce first, against the real kernel and the real `cordond`: a
//! crossing is walled in and its mark in the kernel's `unrecorded` set is
//! gone once its record is written; a mark a crash left behind (the
//! quarantine in the kernel, its record never written) is recorded by the
//! next start instead of being dropped by the install.

use std::time::Duration;

use super::common::lab;
use super::{quarantined_in_kernel, until_quarantined, with_log};
use cordon_lab::{Lab, wait_for};

/// The elements of the gateway's `unrecorded_v4` set, as `nft` lists them.
fn marked(lab: &Lab) -> String {
    let out = lab
        .gateway()
        .exec("nft", &["list", "set", "inet", "cordon", "unrecorded_v4"])
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_once("elements = {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(list, _)| list.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The notes of the audit trail about `addr`.
fn notes(lab: &Lab, addr: &str) -> Vec<(String, String)> {
    let doc = lab.cordon_json(&["history", addr]).unwrap();
    doc.as_array()
        .or_else(|| doc["entries"].as_array())
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("actor"), text("note"))
        })
        .collect()
}

#[test]
fn a_crossing_is_marked_until_recorded_and_a_crashs_mark_is_recorded_at_start() {
    let mut lab = lab("unrec").subscribers(2).daemons(true).up().unwrap();
    let (zombie, left) = (lab.subscriber(0), lab.subscriber(1));
    let (zombie_ip, left_ip) = (zombie.ipv4().to_string(), left.ipv4().to_string());

    zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
    until_quarantined(&lab, &zombie_ip, Duration::from_secs(10));
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(5),
            "the zombie's mark to come off",
            || marked(&lab).is_empty(),
        ),
    );
    assert_eq!(lab.show(&zombie_ip).unwrap()["state"], "quarantined");

    // cordond dies between enforcing a crossing and recording it: the
    // kernel holds the quarantine and its mark, the store nothing.
    lab.kill_cordond().unwrap();
    // One `nft` command line is one transaction, as cordond's is.
    let script = format!(
        "add element inet cordon quarantined_v4 {{ {left_ip} }}; \
         add element inet cordon unrecorded_v4 {{ {left_ip} }}"
    );
    let out = lab.gateway().exec("nft", &[script]).unwrap();
    assert!(out.status.success(), "{out:?}");
    lab.start_cordond().unwrap();

    let h = lab.show(&left_ip).unwrap();
    assert_eq!(
        h["state"], "quarantined",
        "the start did not record it: {h}"
    );
    assert!(quarantined_in_kernel(&lab, &left_ip), "the start freed it");
    assert_eq!(marked(&lab), "", "the install leaves no mark");
    let history = notes(&lab, &left_ip);
    assert!(
        history
            .iter()
            .any(|(actor, note)| actor == "detection" && note.contains("recorded at start")),
        "{history:?}"
    );
    // The quarantine recorded before the crash is still there, once.
    assert_eq!(lab.show(&zombie_ip).unwrap()["state"], "quarantined");
}
