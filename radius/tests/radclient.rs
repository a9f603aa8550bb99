//! The codec under a real client: Debian's `radclient` (freeradius-utils)
//! against `cordon-radius-responder` on 127.0.0.1, a free port each test.
//! `radclient` checks the Accounting-Response's authenticator and exits 0
//! only when every request was answered correctly, so its exit code proves
//! the response; the responder's JSON lines prove what was decoded.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use cordon_testkit::command::output_within;
use serde_json::Value;

const SECRET: &str = "s3cret-for-tests";
/// Longest wait for anything: radclient's runs take at most a few seconds.
const WITHIN: Duration = Duration::from_secs(15);

/// The responder, killed (and reaped) on drop, even when the test fails.
struct Responder {
    child: Child,
    lines: Receiver<Value>,
    addr: SocketAddr,
}

impl Responder {
    fn start() -> Responder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cordon-radius-responder"))
            .args(["127.0.0.1:0", SECRET])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line).unwrap();
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut r = Responder {
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let first = r.next();
        r.addr = first["listening"].as_str().unwrap().parse().unwrap();
        r
    }

    /// The next JSON line, waited for up to [`WITHIN`].
    fn next(&self) -> Value {
        self.lines
            .recv_timeout(WITHIN)
            .expect("the responder printed nothing in time")
    }

    /// Every line printed so far, without waiting.
    fn rest(&self) -> Vec<Value> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `radclient -x -r RETRIES -t TIMEOUT ADDR acct SECRET` with `attributes`
/// (packets separated by blank lines) from a file.
fn radclient(
    to: SocketAddr,
    secret: &str,
    attributes: &str,
    retries: &str,
    timeout: &str,
) -> Output {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(attributes.as_bytes()).unwrap();
    let mut cmd = Command::new("radclient");
    cmd.args(["-x", "-r", retries, "-t", timeout, "-f"])
        .arg(file.path())
        .arg(to.to_string())
        .args(["acct", secret]);
    output_within(cmd, WITHIN).unwrap()
}

fn succeeded(out: &Output) -> bool {
    if !out.status.success() {
        eprintln!(
            "radclient: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

const START: &str = "Acct-Status-Type = Start
User-Name = \"alice@isp\"
Acct-Session-Id = \"sess-0001\"
Framed-IP-Address = 100.64.0.7
Delegated-IPv6-Prefix = 2001:db8:100::/56
Framed-IPv6-Prefix = 2001:db8:0:7::/64
Calling-Station-Id = \"02:00:00:00:00:07\"
NAS-Identifier = \"bng-1\"
";

#[test]
fn radclients_start_is_decoded_whole_and_its_response_verifies() {
    let r = Responder::start();
    let out = radclient(r.addr, SECRET, START, "1", "2");
    assert!(succeeded(&out), "radclient did not accept the response");
    let line = r.next();
    assert_eq!(line["event"], "accepted", "{line}");
    let req = &line["request"];
    assert_eq!(req["status"], "start");
    assert_eq!(req["user_name"], "alice@isp");
    assert_eq!(req["acct_session_id"], "sess-0001");
    assert_eq!(req["framed_ip"], "100.64.0.7");
    assert_eq!(
        req["delegated_ipv6_prefix"],
        serde_json::json!(["2001:db8:100::/56"])
    );
    assert_eq!(
        req["framed_ipv6_prefix"],
        serde_json::json!(["2001:db8:0:7::/64"])
    );
    assert_eq!(req["calling_station_id"], "02:00:00:00:00:07");
    assert_eq!(req["nas_identifier"], "bng-1");
}

#[test]
fn a_wrong_secret_gets_no_answer_and_is_reported() {
    let r = Responder::start();
    let out = radclient(r.addr, "not-the-secret", START, "1", "1");
    assert!(
        !out.status.success(),
        "radclient got an answer to a wrongly signed request"
    );
    let line = r.next();
    assert_eq!(line["event"], "refused", "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("check the shared secret"), "{error}");
    assert!(
        r.rest().iter().all(|l| l["event"] == "refused"),
        "nothing accepted"
    );
}

#[test]
fn interim_update_and_stop_are_decoded_and_answered() {
    let r = Responder::start();
    let packets = "Acct-Status-Type = Interim-Update
User-Name = \"alice@isp\"
Acct-Session-Id = \"sess-0001\"
Framed-IP-Address = 100.64.0.8

Acct-Status-Type = Stop
User-Name = \"alice@isp\"
Acct-Session-Id = \"sess-0001\"
";
    let out = radclient(r.addr, SECRET, packets, "1", "2");
    assert!(succeeded(&out), "radclient did not accept both responses");
    let first = r.next();
    let second = r.next();
    assert_eq!(first["request"]["status"], "interim-update", "{first}");
    assert_eq!(first["request"]["framed_ip"], "100.64.0.8", "{first}");
    assert_eq!(second["request"]["status"], "stop", "{second}");
    assert_eq!(
        second["request"]["acct_session_id"], "sess-0001",
        "{second}"
    );
}

/// A UDP relay between radclient and the responder that loses the
/// responder's first answer, so radclient retransmits (same identifier,
/// same authenticator) after its timeout. Stops when `stop` is set.
fn lossy_relay(to: SocketAddr, stop: Arc<AtomicBool>) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").unwrap();
    let back = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = front.local_addr().unwrap();
    front
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    back.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + WITHIN;
        let mut client = None;
        let mut answers = 0;
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
fn a_retransmission_is_answered_again_and_applied_once() {
    let r = Responder::start();
    let stop = Arc::new(AtomicBool::new(false));
    let relay = lossy_relay(r.addr, stop.clone());
    let out = radclient(relay, SECRET, START, "3", "0.5");
    stop.store(true, Ordering::Relaxed);
    assert!(
        succeeded(&out),
        "radclient got no answer to its retransmission"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.matches("Sent Accounting-Request").count() >= 2,
        "{stdout}"
    );
    let first = r.next();
    let second = r.next();
    assert_eq!(first["event"], "accepted", "{first}");
    assert_eq!(second["event"], "replayed", "{second}");
    assert_eq!(second["identifier"], first["request"]["identifier"]);
    assert!(
        r.rest().iter().all(|l| l["event"] != "accepted"),
        "applied once"
    );
}
