//! The session lifecycle from accounting: Start, Interim-Update and Stop;
//! an Interim-Update standing in for a lost Start; a wrong secret refused;
//! a retransmitted Start answered again and applied once.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::common::{cordond_log, metric};
use super::{acct, lab, listener, open, radclient, send, sessions, v4};

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

/// A UDP relay in the gateway's namespace, in front of cordond's listener,
/// that loses cordond's first answer, so radclient retransmits the same
/// request (same identifier, authenticator and source port, as cordond
/// sees the relay's one back socket). Runs until `stop` is set.
fn lossy_relay(lab: &cordon_lab::Lab, to: SocketAddr, stop: Arc<AtomicBool>) -> SocketAddr {
    let (front, back) = lab
        .gateway()
        .run(|| {
            (
                UdpSocket::bind("127.0.0.1:0").unwrap(),
                UdpSocket::bind("127.0.0.1:0").unwrap(),
            )
        })
        .unwrap();
    let addr = front.local_addr().unwrap();
    for s in [&front, &back] {
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    }
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut client, mut answers) = (None, 0);
        let mut buf = [0u8; 4097];
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if let Ok((n, from)) = front.recv_from(&mut buf) {
                client = Some(from);
                back.send_to(&buf[..n], to).unwrap();
            }
            if let Ok((n, _)) = back.recv_from(&mut buf) {
                answers += 1;
                if let (Some(c), true) = (client, answers > 1) {
                    front.send_to(&buf[..n], c).unwrap();
                }
            }
        }
    });
    addr
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

    let stop = Arc::new(AtomicBool::new(false));
    let relay = lossy_relay(&lab, to, stop.clone());
    let packet = acct("Start", "alice", "sess-r", "bng1", &[&addr]);
    let sent = radclient(&lab, relay, &secret, &packet, 3, "0.5");
    stop.store(true, Ordering::Relaxed);
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
    assert!(
        metric(&lab, replayed) >= 1.0,
        "answered from the replay cache"
    );
    assert_eq!(metric(&lab, applied), applied_before + 1.0, "applied once");
    assert_eq!(
        metric(&lab, changes),
        changes_before + 1.0,
        "one session change"
    );
}
