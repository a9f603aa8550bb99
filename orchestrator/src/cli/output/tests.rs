//! What `cordon` prints for people: tables, times, the store's and the
//! table's state, names.

use super::*;

/// In a fleet the history names the gateway that made each decision
/// (escaped like every cell); a single gateway's entries read as before.
#[test]
fn history_names_the_gateway_when_there_is_one() {
    let entry = |gateway: Option<&str>| AuditEntry {
        id: 1,
        at: 0,
        address: "100.64.1.7".into(),
        subscriber: None,
        from: HostState::Clean,
        to: HostState::Quarantined,
        actor: "alice".into(),
        note: "ticket".into(),
        gateway: gateway.map(String::from),
    };
    let text = history(&[entry(Some("bng-a")), entry(None)], 0);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].contains("alice on bng-a"), "{text}");
    assert!(
        lines[2].contains("alice  ") && !lines[2].contains(" on "),
        "{text}"
    );
    let text = history(&[entry(Some("x\u{1b}[2J"))], 0);
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[test]
fn relative_times_read_naturally() {
    assert_eq!(relative(1000, 1000), "just now");
    assert_eq!(relative(1000 - 12 * 60, 1000), "12 min ago");
    assert_eq!(relative(1000 + 3 * 3600, 1000), "in 3 h");
    assert_eq!(relative(0, 3 * 86_400), "3 days ago");
    // A deadline a few seconds away is not "just now".
    assert_eq!(relative(1002, 1000), "in 2 s");
    assert_eq!(relative(995, 1000), "just now");
}

/// A daemon's status with an installed table, a local store and nothing held.
fn daemon_status() -> DaemonStatus {
    DaemonStatus {
        version: "1".into(),
        started: 0,
        table: "cordon".into(),
        table_present: true,
        table_differences: Vec::new(),
        table_repair_failed: false,
        store: "s.db".into(),
        store_unreachable_since: None,
        store_outbox: None,
        store_outbox_refused: None,
        quarantined: 0,
        noticed: 0,
        probation: 0,
        last_reconcile: None,
    }
}

#[test]
fn status_says_when_the_table_is_not_the_one_installed() {
    let mut s = daemon_status();
    assert!(status(&s, 0).contains("table inet cordon: installed\n"));
    s.table_differences = vec!["chain forward: 0 rules, expected 15".into()];
    let text = status(&s, 0);
    assert!(
        text.contains("DIFFERS from what cordond installed: chain forward: 0 rules, expected 15 (cordond is repairing it)"),
        "{text}"
    );
    s.table_repair_failed = true;
    let text = status(&s, 0);
    assert!(
        text.contains("could not be repaired: chain forward: 0 rules"),
        "{text}"
    );
    assert!(!text.contains("installed\n"), "{text}");
}

#[test]
fn status_says_when_the_store_is_away_and_what_waits() {
    let mut s = DaemonStatus {
        store: "postgres://db/cordon".into(),
        ..daemon_status()
    };
    // A store without an outbox (SQLite): the line is as it was.
    assert!(status(&s, 1000).contains("store postgres://db/cordon\n"));
    s.store_outbox = Some(0);
    let text = status(&s, 1000);
    assert!(
        text.contains("store postgres://db/cordon: reachable, outbox empty\n"),
        "{text}"
    );
    s.store_unreachable_since = Some(1000 - 12 * 60);
    s.store_outbox = Some(7);
    let text = status(&s, 1000);
    assert!(
        text.contains("UNREACHABLE since 12 min ago; 7 batches of decisions queued in the outbox"),
        "{text}"
    );
    s.store_unreachable_since = None;
    let text = status(&s, 1000);
    assert!(
        text.contains("reachable; 7 batches of decisions still queued"),
        "{text}"
    );
    s.store_outbox = Some(0);
    s.store_outbox_refused = Some(2);
    let text = status(&s, 1000);
    assert!(
        text.contains("reachable, outbox empty; 2 batches REFUSED by the store kept aside"),
        "{text}"
    );
}

#[test]
fn cells_cannot_start_lines_or_send_escapes() {
    let t = table(
        &["WHY"],
        &[vec!["\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\nFAKE".into()]],
    );
    assert_eq!(t.lines().count(), 2, "{t}");
    assert!(
        !t.trim_end().chars().any(|c| c.is_control() && c != '\n'),
        "{t:?}"
    );
}

#[test]
fn a_subscriber_without_an_address_here_is_named_by_id() {
    let h: HostRecord = serde_json::from_value(serde_json::json!({
        "address": "", "subscriber": "alice", "state": "quarantined",
        "reason": null, "since": null, "until": null, "smtp_attempts": 0,
        "last_smtp_attempt": null, "self_releases_left": 0,
        "report_score": 0, "evidence": {}, "actor": null, "note": null,
        "relapses": 0
    }))
    .unwrap();
    assert_eq!(whom(&h), "subscriber alice");
    let listed = list(std::slice::from_ref(&h), 0);
    assert!(
        listed
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("subscriber alice  "),
        "{listed}"
    );
    let h = HostRecord {
        address: "100.64.1.7".into(),
        ..h
    };
    assert_eq!(whom(&h), "100.64.1.7");
}

#[test]
fn tables_align() {
    let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
    assert_eq!(t, "A    BB\nxxx  y\n");
}

#[test]
fn status_counts_noticed_hosts_beside_quarantined_ones() {
    let s = DaemonStatus {
        quarantined: 2,
        noticed: 3,
        probation: 1,
        ..daemon_status()
    };
    let text = status(&s, 0);
    assert!(
        text.contains("\nquarantined 2, noticed 3, on probation 1\n"),
        "{text}"
    );
}
