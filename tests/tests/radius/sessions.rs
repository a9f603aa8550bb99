//! The session lifecycle from accounting: Start, Interim-Update and Stop;
//! an Interim-Update standing in for a lost Start; a wrong secret refused;
//! a retransmitted Start answered again and applied once; a User-Name with
//! control characters refused without reaching the log raw.

use super::common::{cordond_log, metric};
use super::{Relay, acct, lab, listener, open, radclient, send, sessions, v4};

#[test]
fn start_interim_and_stop_open_refresh_and_end_one_session() {
    let lab = lab("rlife", 1);
    let addr = v4(&lab.subscriber(0));
    let req = |status| acct(status, "alice", "sess-1", "bng1", &[&addr]);

    let took = send(&lab, &req("Start"));
    eprintln!("Start answered in {took:?} (radclient run)");
    let rows = sessions(&lab, Some("alice"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert!(row["ended"].is_null(), "open after Start: {row}");
    assert_eq!(row["address"], addr.as_str(), "{row}");
    assert_eq!(row["session_id"], "sess-1", "{row}");
    assert_eq!(row["nas"], "bng1", "{row}");
    assert_eq!(lab.show(&addr).unwrap()["subscriber"], "alice");

    send(&lab, &req("Interim-Update"));
    let rows = sessions(&lab, Some("alice"));
    assert_eq!(
        rows.len(),
        1,
        "an Interim-Update refreshes, adds no row: {rows:?}"
    );
    assert!(rows[0]["ended"].is_null(), "still open: {rows:?}");
    assert_eq!(rows[0]["started"], row["started"], "the same session");

    send(&lab, &req("Stop"));
    let rows = sessions(&lab, Some("alice"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0]["ended"].is_i64(), "ended after Stop: {rows:?}");
    assert!(
        lab.show(&addr).unwrap()["subscriber"].is_null(),
        "nobody holds {addr} any more"
    );
    assert!(metric(&lab, "cordon_radius_requests_total{result=\"applied\"}") >= 3.0);
}

#[test]
fn an_interim_update_after_a_lost_start_opens_the_session() {
    let lab = lab("rinterim", 1);
    let addr = v4(&lab.subscriber(0));
    assert!(sessions(&lab, Some("alice")).is_empty());
    // The Start never arrived; the BNG's next Interim-Update does.
    send(
        &lab,
        &acct("Interim-Update", "alice", "sess-9", "bng1", &[&addr]),
    );
    let rows = sessions(&lab, Some("alice"));
    assert_eq!(open(&rows).len(), 1, "{rows:?}");
    assert_eq!(rows[0]["address"], addr.as_str(), "{rows:?}");
    assert_eq!(lab.show(&addr).unwrap()["subscriber"], "alice");
}

#[test]
fn a_wrong_secret_is_refused_logged_and_changes_nothing() {
    let lab = lab("rsecret", 1);
    let addr = v4(&lab.subscriber(0));
    send(&lab, &acct("Start", "bob", "sess-b", "bng1", &[&addr]));
    let before = sessions(&lab, None);
    let refused = "cordon_radius_requests_total{result=\"refused\"}";
    let refused_before = metric(&lab, refused);

    let (to, _) = listener(&lab);
    let packet = acct("Start", "alice", "sess-a", "bng1", &[&addr]);
    let sent = radclient(&lab, to, "not-the-lab-secret", &packet, 1, "1");
    assert!(
        !sent.answered(),
        "a wrongly signed request was answered: {}",
        sent.transcript()
    );
    let log = cordond_log(&lab);
    let line = log
        .lines()
        .find(|l| l.contains("RADIUS accounting request refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("check the shared secret"), "{line}");
    assert!(metric(&lab, refused) >= refused_before + 1.0);
    assert_eq!(sessions(&lab, None), before, "nothing changed");
    assert_eq!(lab.show(&addr).unwrap()["subscriber"], "bob");
}

#[test]
fn a_retransmitted_start_is_answered_again_and_applied_once() {
    let lab = lab("rretx", 1);
    let addr = v4(&lab.subscriber(0));
    let (to, secret) = listener(&lab);
    let applied = "cordon_radius_requests_total{result=\"applied\"}";
    let replayed = "cordon_radius_requests_total{result=\"replayed\"}";
    let changes = "cordon_session_changes_total";
    let (applied_before, changes_before) = (metric(&lab, applied), metric(&lab, changes));

    // The relay loses cordond's first answer, so radclient retransmits.
    let relay = Relay::start(&lab, to, 1, || {});
    let packet = acct("Start", "alice", "sess-r", "bng1", &[&addr]);
    let sent = radclient(&lab, relay.addr(), &secret, &packet, 3, "0.5");
    eprintln!("first answer, then the replay: {:?}", relay.round_trips());
    drop(relay);
    assert!(
        sent.answered(),
        "no answer to the retransmission: {}\n--- cordond.log ---\n{}",
        sent.transcript(),
        cordond_log(&lab)
    );
    let stdout = String::from_utf8_lossy(&sent.out.stdout);
    assert!(
        stdout.matches("Sent Accounting-Request").count() >= 2,
        "radclient did not retransmit: {stdout}"
    );
    let rows = sessions(&lab, Some("alice"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0]["ended"].is_null(), "{rows:?}");
    assert_eq!(metric(&lab, applied), applied_before + 1.0, "applied once");
    assert_eq!(
        metric(&lab, changes),
        changes_before + 1.0,
        "one session change"
    );
    assert!(
        metric(&lab, replayed) >= 1.0,
        "answered from the replay cache"
    );
}

#[test]
fn control_characters_in_a_user_name_never_reach_the_log_raw() {
    let lab = lab("rctl", 1);
    let addr = v4(&lab.subscriber(0));
    let (to, secret) = listener(&lab);
    // radclient turns the octal escape into a real ESC byte.
    let packet = acct("Start", "a\\033[2Jb", "sess-x", "bng1", &[&addr]);
    let sent = radclient(&lab, to, &secret, &packet, 1, "1");
    assert!(!sent.answered(), "{}", sent.transcript());
    let log = cordond_log(&lab);
    assert!(!log.contains('\u{1b}'), "a raw ESC in cordond.log:\n{log}");
    assert!(log.contains("User-Name is not plain text"), "{log}");
    assert!(sessions(&lab, None).is_empty(), "nothing applied");
}
