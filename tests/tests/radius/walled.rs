//! A quarantine follows the subscriber through accounting: a quarantined
//! subscriber's new address is walled in before cordond answers the Start,
//! a delegated IPv6 prefix is walled in whole, and a NAS that restarts
//! (Accounting-On) ends its sessions and frees their addresses.

use std::sync::{Arc, Mutex};

use super::common::{cordond_log, quarantined_in_kernel};
use super::{
    Relay, acct, browse, http_head, kernel_set, lab, listener, open, radclient, send, sessions, v4,
    walled,
};

#[test]
fn a_quarantined_subscribers_new_address_is_walled_before_the_answer() {
    let lab = lab("rwall", 2);
    let (old_pc, new_pc) = (lab.subscriber(0), lab.subscriber(1));
    let (old, new) = (v4(&old_pc), v4(&new_pc));
    send(&lab, &acct("Start", "alice", "a-1", "bng1", &[&old]));
    lab.cordon_ok(&["quarantine", &old, "--reason", "lab zombie"])
        .unwrap();
    let shown = lab.show(&old).unwrap();
    assert_eq!(shown["subscriber"], "alice", "bound to its holder: {shown}");
    assert!(walled(&lab, &old_pc));
    send(&lab, &acct("Stop", "alice", "a-1", "bng1", &[&old]));

    // alice reconnects: her computer is now subscriber 1's namespace. The
    // relay in front of cordond makes an HTTP request from there the
    // moment the Accounting-Response arrives, before radclient has it.
    let (to, secret) = listener(&lab);
    let at_answer = Arc::new(Mutex::new(Vec::new()));
    let relay = {
        let (at_answer, new_pc) = (at_answer.clone(), new_pc.clone());
        Relay::start(&lab, to, 0, move || {
            at_answer.lock().unwrap().push(http_head(&new_pc));
        })
    };
    let packet = acct("Start", "alice", "a-2", "bng1", &[&new]);
    let sent = radclient(&lab, relay.addr(), &secret, &packet, 1, "5");
    let round_trips = relay.round_trips();
    drop(relay);
    assert!(sent.answered(), "{}", sent.transcript());
    eprintln!(
        "Start for a quarantined subscriber: cordond answered in {round_trips:?}; radclient ran {:?}",
        sent.took
    );
    let heads = at_answer.lock().unwrap().clone();
    let portal = lab.gateway().portal_url().to_owned();
    for head in &heads {
        let status = head.lines().next().unwrap_or_default();
        assert!(
            status.contains(" 302 ")
                && head
                    .to_ascii_lowercase()
                    .contains(&format!("location: {portal}")),
            "alice's new address was not walled in when the Accounting-Response \
             arrived: {head:?}\n--- cordond.log ---\n{}",
            cordond_log(&lab)
        );
    }
    assert_eq!(heads.len(), 1, "one answer: {heads:?}");
    // Right after radclient returns, with no wait: the kernel set, curl.
    assert!(quarantined_in_kernel(&lab, &new));
    assert!(walled(&lab, &new_pc), "alice's new address browsed out");
    assert_eq!(lab.state(&new).unwrap(), "quarantined");
    assert_eq!(lab.show(&new).unwrap()["subscriber"], "alice");

    // The old address is nobody's, then bob's: free either way.
    assert!(!quarantined_in_kernel(&lab, &old));
    assert!(browse(&old_pc).from_real_site());
    send(&lab, &acct("Start", "bob", "b-1", "bng1", &[&old]));
    assert!(browse(&old_pc).from_real_site());
    assert_eq!(lab.show(&old).unwrap()["subscriber"], "bob");
    assert_ne!(lab.state(&old).unwrap(), "quarantined");
}

/// True when the kernel's IPv6 range set holds `addr` (inside one of its
/// intervals).
fn in_ranges(lab: &cordon_lab::Lab, addr: &str) -> bool {
    let element = format!("{{ {addr} }}");
    let args = [
        "get",
        "element",
        "inet",
        "cordon",
        "quarantined_ranges_v6",
        &element,
    ];
    lab.gateway().exec("nft", &args).unwrap().status.success()
}

#[test]
fn a_delegated_ipv6_prefix_of_a_quarantined_subscriber_is_walled_whole() {
    let lab = lab("rv6", 1);
    let addr = v4(&lab.subscriber(0));
    send(&lab, &acct("Start", "alice", "a-1", "bng1", &[&addr]));
    lab.cordon_ok(&["quarantine", &addr, "--reason", "lab zombie"])
        .unwrap();

    // A /56 inside the subscriber prefix 2001:db8:100::/48 that does not
    // touch the portal's 2001:db8:100::1.
    let delegated = "2001:db8:100:200::/56";
    send(
        &lab,
        &acct(
            "Interim-Update",
            "alice",
            "a-1",
            "bng1",
            &[&addr, delegated],
        ),
    );
    // Wider than one subscriber /64: one interval element, the /56 whole.
    let set = kernel_set(&lab, "quarantined_ranges_v6");
    assert!(set.contains(delegated), "the /56 whole in the set: {set}");
    assert!(in_ranges(&lab, "2001:db8:100:2ff::5"), "{set}");
    assert!(!in_ranges(&lab, "2001:db8:100:300::5"), "{set}");
    // An address in another /64 of it is alice's, quarantined.
    let inside = "2001:db8:100:2ff::5";
    let shown = lab.show(inside).unwrap();
    assert_eq!(shown["state"], "quarantined", "{shown}");
    assert_eq!(shown["subscriber"], "alice", "{shown}");
    // Outside it, nothing.
    let outside = lab.show("2001:db8:100:300::5").unwrap();
    assert_eq!(outside["state"], "clean", "{outside}");
    assert!(outside["subscriber"].is_null(), "{outside}");
}

#[test]
fn accounting_on_from_the_nas_ends_its_sessions() {
    let lab = lab("rnas", 3);
    let hosts = lab.subscribers();
    let addrs: Vec<String> = hosts.iter().map(v4).collect();
    send(&lab, &acct("Start", "alice", "a-1", "bng1", &[&addrs[0]]));
    send(&lab, &acct("Start", "bob", "b-1", "bng1", &[&addrs[1]]));
    send(&lab, &acct("Start", "carol", "c-1", "bng2", &[&addrs[2]]));
    lab.cordon_ok(&["quarantine", &addrs[0], "--reason", "lab zombie"])
        .unwrap();
    assert!(quarantined_in_kernel(&lab, &addrs[0]));

    // bng1 restarted: its subscribers are gone until they come back.
    send(
        &lab,
        "Acct-Status-Type = Accounting-On\nNAS-Identifier = \"bng1\"\n",
    );
    for id in ["alice", "bob"] {
        let rows = sessions(&lab, Some(id));
        assert_eq!(rows.len(), 1, "{id}: {rows:?}");
        assert!(open(&rows).is_empty(), "{id}'s session ended: {rows:?}");
    }
    assert_eq!(
        open(&sessions(&lab, Some("carol"))).len(),
        1,
        "another NAS's session stays"
    );
    assert!(
        !quarantined_in_kernel(&lab, &addrs[0]),
        "the quarantined subscriber's address left the set"
    );
    assert!(browse(&hosts[0]).from_real_site());
    // alice is still quarantined: her next session is walled again.
    send(&lab, &acct("Start", "alice", "a-2", "bng1", &[&addrs[0]]));
    assert!(quarantined_in_kernel(&lab, &addrs[0]));
}
