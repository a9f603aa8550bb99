//! Webhooks end to end: a real HTTP receiver in the lab's internet
//! namespace gets every transition of a quarantine and a release, signed
//! (the HMAC checked here, independently of cordond's code); the events
//! decided while it is down arrive, once each and in order, after it is
//! back, across a crash and restart of cordond too.
//!
//! Needs the workspace's binaries beside the test executable (see story.rs).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::lab;
use cordon_config::{Webhook, WebhookEvent};
use cordon_lab::addresses::WEB_V4;
use cordon_lab::{Host, Lab, poll_until};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use sha2::Sha256;

/// Where the receiver listens in the internet namespace (the lab's own
/// web server has 80 and 443).
const PORT: u16 = 8099;
const KEY: &[u8] = b"a webhook key of well over thirty-two bytes, for the lab";
/// The sender backs off up to a minute; a receiver back from an outage
/// hears within that.
const ARRIVES: Duration = Duration::from_secs(90);

/// One POST as received.
#[derive(Debug, Clone)]
struct Got {
    signature: String,
    event_id: String,
    body: Bytes,
}

impl Got {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver: hyper's server on a socket of the internet
/// namespace, answering 200 and keeping every POST. Stopping it closes the
/// listener and every connection, so cordond finds it down.
struct Receiver {
    rt: tokio::runtime::Runtime,
    task: Option<tokio::task::JoinHandle<()>>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn new() -> Self {
        Receiver {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            task: None,
            got: Arc::default(),
        }
    }

    fn start(&mut self, internet: &Host) {
        let listener = internet
            .run(|| std::net::TcpListener::bind(("0.0.0.0", PORT)))
            .unwrap()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let got = self.got.clone();
        self.task = Some(self.rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Dropped with this task: aborting it ends every connection.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let got = got.clone();
                conns.spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let got = got.clone();
                            async move {
                                let header = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or_default()
                                        .to_owned()
                                };
                                let (signature, event_id) =
                                    (header("cordon-signature"), header("cordon-event-id"));
                                let body = req.into_body().collect().await?.to_bytes();
                                got.lock().push(Got {
                                    signature,
                                    event_id,
                                    body,
                                });
                                Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(
                                    b"ok",
                                ))))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }));
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = self.rt.block_on(task);
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().clone()
    }

    /// Waits until `n` POSTs arrived in all.
    fn wait_for(&self, n: usize, what: &str) -> Vec<Got> {
        poll_until(ARRIVES, what, || {
            let got = self.got();
            (got.len() >= n).then_some(got)
        })
        .unwrap()
    }
}

/// Checks the signature as a receiver would: HMAC-SHA256 over
/// `TIMESTAMP.BODY`, a recent timestamp.
fn verify(got: &Got) {
    let (t, v1) = got
        .signature
        .split_once(',')
        .unwrap_or_else(|| panic!("malformed signature {:?}", got.signature));
    let t = t.strip_prefix("t=").unwrap();
    let v1 = v1.strip_prefix("v1=").unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&got.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        v1,
        want,
        "signature of {}",
        String::from_utf8_lossy(&got.body)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t: i64 = t.parse().unwrap();
    assert!((now - t).abs() < 300, "timestamp {t} is not recent ({now})");
    assert_eq!(got.event_id, got.json()["id"], "the header names the event");
}

fn quarantine_and_release(lab: &Lab, addr: &str, why: &str) {
    let gw = lab.gateway();
    gw.cordon_ok(&["quarantine", addr, "--reason", why])
        .unwrap();
    gw.cordon_ok(&["release", addr, "--reason", why]).unwrap();
}

/// Each event's type and the operator's reason (the note, without what
/// the lifecycle adds in brackets, such as a relapse's longer hold).
fn story(got: &[Got]) -> Vec<(String, String)> {
    got.iter()
        .map(|g| {
            let j = g.json();
            (
                j["type"].as_str().unwrap().to_owned(),
                j["note"]
                    .as_str()
                    .unwrap()
                    .split(" (")
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_transition_reaches_the_receiver_signed_and_once_even_across_an_outage_and_a_crash() {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("hook.key");
    std::fs::write(&key_file, KEY).unwrap();
    let url = format!("http://{WEB_V4}:{PORT}/cordon");
    let hook = Webhook {
        url: url.parse().unwrap(),
        events: WebhookEvent::all(),
        secret_file: key_file.clone(),
        ca_file: None,
        timeout: Duration::from_secs(2),
        max_age: Duration::from_secs(86_400),
        max_queued: 1000,
    };
    let mut lab = lab("wh")
        .subscribers(1)
        .daemons(true)
        .configure(move |c| c.webhooks = vec![hook.clone()])
        .up()
        .unwrap();
    let addr = lab.subscriber(0).ipv4().to_string();
    let mut receiver = Receiver::new();
    receiver.start(&lab.internet());

    // Up: a quarantine and a release, each one signed event.
    quarantine_and_release(&lab, &addr, "first");
    let got = receiver.wait_for(2, "the first quarantine's two events");
    assert_eq!(
        story(&got),
        [
            ("quarantined".into(), "first".into()),
            ("released".into(), "first".into())
        ]
    );
    for g in &got {
        verify(g);
        let j = g.json();
        assert!(
            j["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == addr.as_str())
                || j["subject"]["id"] == addr.as_str(),
            "{j}"
        );
        assert_eq!(j["gateway"].as_str().map(str::is_empty), Some(false), "{j}");
    }
    let states = |g: &Got| {
        let j = g.json();
        (
            j["from"].as_str().unwrap().to_owned(),
            j["to"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(states(&got[0]), ("clean".into(), "quarantined".into()));
    assert_eq!(states(&got[1]), ("quarantined".into(), "probation".into()));
    assert_eq!(
        got[0].json()["actor"],
        got[1].json()["actor"],
        "the same operator"
    );

    // Down: decided while nobody listens, and cordond crashes meanwhile.
    receiver.stop();
    quarantine_and_release(&lab, &addr, "while down");
    lab.restart_cordond().unwrap();
    quarantine_and_release(&lab, &addr, "after the crash");
    assert_eq!(receiver.got().len(), 2, "nothing arrives while it is down");

    // Back: everything queued arrives, in order, signed.
    receiver.start(&lab.internet());
    let got = receiver.wait_for(6, "the events queued while the receiver was down");
    // One more event after them: the sender has passed every earlier row,
    // so a repeat of any of them would be here by now.
    lab.gateway()
        .cordon_ok(&["quarantine", &addr, "--reason", "last"])
        .unwrap();
    let got = {
        let _ = got;
        receiver.wait_for(7, "the last event")
    };
    assert_eq!(
        story(&got),
        [
            ("quarantined", "first"),
            ("released", "first"),
            ("quarantined", "while down"),
            ("released", "while down"),
            ("quarantined", "after the crash"),
            ("released", "after the crash"),
            ("quarantined", "last"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    for g in &got {
        verify(g);
    }
    let mut ids: Vec<&str> = got.iter().map(|g| g.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 7, "each event once");
    receiver.stop();
    lab.down().unwrap();
}
