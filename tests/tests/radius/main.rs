//! RADIUS accounting end to end: Debian's `radclient` (freeradius-utils)
//! in the gateway's namespace sends Accounting-Requests to the real
//! `cordond` listening on the gateway's loopback (the plan's
//! `gateway.radius_accounting`), and the tests read what changed through
//! the real `cordon` CLI, the gateway's nftables sets, cordond's metrics
//! and log, and real HTTP from the subscribers' namespaces.
//!
//! `radclient` checks the Accounting-Response's authenticator and exits 0
//! only when every request was answered, so its exit status proves the
//! answer. Needs root, and the workspace's binaries beside the test
//! executable (`cargo build -p cordon-orchestrator -p cordon-portal`).
//!
//! Split by what is shown: the session lifecycle, refusals and
//! retransmissions (`sessions`), and what a quarantined subscriber's new
//! addresses do in the kernel and to its traffic (`walled`).

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod sessions;
mod walled;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cordon_lab::addresses::WEB_V4;
use cordon_lab::{Host, Lab, url};
use cordon_testkit::command::output_within;
use serde_json::Value;

use common::cordond_log;

/// Longest any one `radclient` run may take (its own retries included).
const RADCLIENT_WITHIN: Duration = Duration::from_secs(30);

/// A lab with cordond and the portal, `k` subscribers.
fn lab(stem: &str, k: usize) -> Lab {
    common::lab(stem).subscribers(k).daemons(true).up().unwrap()
}

/// Where cordond listens for accounting, and the lab's shared secret.
fn listener(lab: &Lab) -> (SocketAddr, String) {
    let r = lab
        .plan()
        .gateway
        .radius_accounting
        .clone()
        .expect("the lab's plan names the accounting listener");
    (SocketAddr::new(r.address, r.port), r.secret)
}

/// One Accounting-Request in `radclient`'s attribute syntax. Addresses
/// with a `:` go in as `Delegated-IPv6-Prefix`, others as
/// `Framed-IP-Address`.
fn acct(status: &str, user: &str, session: &str, nas: &str, addrs: &[&str]) -> String {
    let mut text = format!(
        "Acct-Status-Type = {status}\nUser-Name = \"{user}\"\nAcct-Session-Id = \"{session}\"\nNAS-Identifier = \"{nas}\"\n"
    );
    for a in addrs {
        let attr = if a.contains(':') {
            "Delegated-IPv6-Prefix"
        } else {
            "Framed-IP-Address"
        };
        text.push_str(&format!("{attr} = {a}\n"));
    }
    text
}

/// What one `radclient` run did, and how long it took (process start to
/// exit: the Accounting-Request's round trip plus radclient's own start).
struct Sent {
    out: Output,
    took: Duration,
}

impl Sent {
    fn answered(&self) -> bool {
        self.out.status.success()
    }

    fn transcript(&self) -> String {
        format!(
            "radclient {}\n{}{}",
            self.out.status,
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }
}

/// Runs `radclient -x -r RETRIES -t TIMEOUT -f FILE TO acct SECRET` in the
/// gateway's namespace, `packet` in the file.
fn radclient(
    lab: &Lab,
    to: SocketAddr,
    secret: &str,
    packet: &str,
    retries: u32,
    timeout: &str,
) -> Sent {
    static N: AtomicUsize = AtomicUsize::new(0);
    let file = lab
        .run_dir()
        .join(format!("acct-{}.txt", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&file, packet).unwrap();
    let mut cmd = cordon_lab::netns::command(lab.gateway().netns(), "radclient");
    cmd.args(["-x", "-r", &retries.to_string(), "-t", timeout, "-f"])
        .arg(&file)
        .arg(to.to_string())
        .args(["acct", secret]);
    let started = Instant::now();
    let out = output_within(cmd, RADCLIENT_WITHIN).unwrap();
    Sent {
        out,
        took: started.elapsed(),
    }
}

/// Sends `packet` to cordond with the lab's secret, once (no retransmission:
/// the first answer must come), and asserts that it was answered.
fn send(lab: &Lab, packet: &str) -> Duration {
    let (to, secret) = listener(lab);
    let sent = radclient(lab, to, &secret, packet, 1, "5");
    assert!(
        sent.answered(),
        "no Accounting-Response to\n{packet}\n{}\n--- cordond.log ---\n{}",
        sent.transcript(),
        cordond_log(lab)
    );
    sent.took
}

/// `cordon --json sessions [ID]`: the session rows, newest first.
fn sessions(lab: &Lab, id: Option<&str>) -> Vec<Value> {
    let mut args = vec!["--json", "sessions"];
    args.extend(id);
    let text = lab.cordon_ok(&args).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    doc["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions list: {doc}"))
        .clone()
}

/// The rows still open (no `ended`).
fn open(rows: &[Value]) -> Vec<&Value> {
    rows.iter().filter(|r| r["ended"].is_null()).collect()
}

/// Fetches the lab's web server from `host` over IPv4.
fn browse(host: &Host) -> cordon_lab::CurlReply {
    host.curl(&url(WEB_V4, 80, "/"), &[]).unwrap()
}

/// True when `host`'s web request landed on the portal (redirected there)
/// and not on the real site.
fn walled(lab: &Lab, host: &Host) -> bool {
    let reply = browse(host);
    !reply.from_real_site()
        && reply
            .header("location")
            .is_some_and(|l| l.starts_with(lab.gateway().portal_url()))
}

/// The elements of one of cordond's sets in the gateway's kernel, as
/// `nft list set` prints them.
fn kernel_set(lab: &Lab, set: &str) -> String {
    let out = lab
        .gateway()
        .exec("nft", &["list", "set", "inet", "cordon", set])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A subscriber's IPv4 address as text.
fn v4(host: &Host) -> String {
    IpAddr::V4(host.ipv4()).to_string()
}

/// A UDP relay in the gateway's namespace in front of cordond's listener,
/// standing where the network between a BNG and cordond would: it loses
/// the first `lose` answers (so radclient retransmits the same request,
/// same identifier, authenticator and source port as cordond sees the
/// relay's one back socket), and calls `on_answer` the moment each answer
/// it passes on arrives, before radclient has it. Stops when dropped.
struct Relay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// cordond's own round trip for each answer: from the request leaving
    /// the relay to its answer arriving.
    round_trips: Arc<Mutex<Vec<Duration>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn start(
        lab: &Lab,
        to: SocketAddr,
        lose: usize,
        mut on_answer: impl FnMut() + Send + 'static,
    ) -> Relay {
        let bind = || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            Arc::new(s)
        };
        // Bound inside the gateway; they stay there on any thread.
        let (front, back) = lab.gateway().run(|| (bind(), bind())).unwrap();
        let addr = front.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let sent_at = Arc::new(Mutex::new(Instant::now()));
        let round_trips = Arc::new(Mutex::new(Vec::new()));
        let running = {
            let stop = stop.clone();
            move || !stop.load(Ordering::Relaxed)
        };
        let requests = {
            let (front, back, client, running, sent_at) = (
                front.clone(),
                back.clone(),
                client.clone(),
                running.clone(),
                sent_at.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 4097];
                while running() {
                    if let Ok((n, from)) = front.recv_from(&mut buf) {
                        *client.lock().unwrap() = Some(from);
                        *sent_at.lock().unwrap() = Instant::now();
                        back.send_to(&buf[..n], to).unwrap();
                    }
                }
            })
        };
        let answers = std::thread::spawn({
            let round_trips = round_trips.clone();
            move || {
                let (mut buf, mut seen) = ([0u8; 4097], 0);
                while running() {
                    if let Ok((n, _)) = back.recv_from(&mut buf) {
                        round_trips
                            .lock()
                            .unwrap()
                            .push(sent_at.lock().unwrap().elapsed());
                        seen += 1;
                        let c = *client.lock().unwrap();
                        if let (Some(c), true) = (c, seen > lose) {
                            on_answer();
                            front.send_to(&buf[..n], c).unwrap();
                        }
                    }
                }
            }
        });
        Relay {
            addr,
            stop,
            round_trips,
            threads: vec![requests, answers],
        }
    }

    /// Where radclient sends to.
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// cordond's round trip for each answer so far.
    fn round_trips(&self) -> Vec<Duration> {
        self.round_trips.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One plain HTTP request from `host` to the lab's web server, in this
/// process (no program to start, so it takes about a millisecond): the
/// response's head, or empty when none came.
fn http_head(host: &Host) -> String {
    let to = SocketAddr::new(WEB_V4.into(), 80);
    host.run(move || {
        let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) else {
            return String::new();
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let req = "GET / HTTP/1.0\r\nHost: example.org\r\nConnection: close\r\n\r\n";
        if s.write_all(req.as_bytes()).is_err() {
            return String::new();
        }
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        let text = String::from_utf8_lossy(&got).into_owned();
        text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    })
    .unwrap()
}
