//! The notice end to end: the real `cordond`, `cordon-portal` and `cordon`
//! CLI, with curl and plain sockets in the subscribers' namespaces. An
//! operator notices a subscriber (by address, and by subscriber id through
//! its session); its first plain `http://` page lands on the notice page,
//! the button (CSRF token and all, posted as a browser would) returns it to
//! the exact page it asked for, which the real site then serves; the next
//! pages within the interval go straight through; HTTPS, DNS and mail
//! submission were never touched. With a one-minute interval (the shortest
//! the config accepts) the notice comes back once the interval has passed,
//! and not before.
//!
//! Needs the workspace's binaries beside the test executable (see story.rs).

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::lab;
use common::notice::{acknowledge, expect_notice, notice_form};
use cordon_lab::addresses::{RELAY_V4, RESOLVER_V4, WEB_V4, WEB_V6, subscriber_v6_prefix};
use cordon_lab::{Host, Lab, RecordType, TcpOutcome, poll_until, url};
use cordon_proto::time::{Clock, SystemClock};

const SHORT: Duration = Duration::from_secs(2);

/// What the subscriber asked for: an internet web address with a path and
/// a query (curl sends `Host: 192.0.2.80`, the port being the default).
fn asked_page() -> String {
    format!("http://{WEB_V4}/news/today?id=7&lang=en")
}

/// Acknowledges the notice `host` gets for `asked` and checks the way
/// back: a 303 to exactly `asked`, which the real site then serves.
fn acknowledge_and_return(host: &Host, asked: &str) {
    let form = expect_notice(host, asked);
    assert_eq!(form.url, asked, "the form carries the page asked for");
    assert!(!form.csrf.is_empty(), "{form:?}");
    assert!(
        form.browser_may_submit(),
        "the page's policy forbids posting its form: {form:?}"
    );
    let back = acknowledge(host, &form);
    assert_eq!(back.status, Some(303), "{back:?}");
    assert_eq!(back.header("location"), Some(asked), "{back:?}");
    let page = host.curl(asked, &[]).unwrap();
    assert!(page.from_real_site(), "after the button: {page:?}");
    assert!(
        page.body.contains("path: /news/today?id=7&lang=en"),
        "the real site served the page asked for: {}",
        page.body
    );
}

/// Everything a noticed subscriber does besides `http://`, as connect
/// outcomes: HTTPS, DNS, mail submission through the ISP's relay.
fn untouched(host: &Host) {
    let https = host.tcp_connect(WEB_V4, 443, SHORT).unwrap();
    assert_eq!(https, TcpOutcome::Connected, "HTTPS");
    let submission = host.tcp_connect(RELAY_V4, 587, SHORT).unwrap();
    assert_eq!(submission, TcpOutcome::Connected, "mail submission");
    let dns = host
        .dns(RESOLVER_V4, "anything.example", RecordType::A, SHORT)
        .unwrap();
    assert!(dns.answered(), "DNS: {dns:?}");
}

/// An HTTPS-port connection opened before the notice, used after it: the
/// notice must not cut established flows (the lab's site speaks plain
/// HTTP on 443, which is all this needs).
struct Established(TcpStream);

/// A connection from `host` to the lab's site on `port`, reads bounded.
fn open_to_site(host: &Host, port: u16) -> TcpStream {
    let to = SocketAddr::new(IpAddr::V4(WEB_V4), port);
    let s = host
        .run(move || TcpStream::connect_timeout(&to, SHORT))
        .unwrap()
        .unwrap();
    s.set_read_timeout(Some(SHORT)).unwrap();
    s
}

impl Established {
    fn open(host: &Host) -> Established {
        Established(open_to_site(host, 443))
    }

    /// One request on it; true when the real site answered.
    fn still_works(mut self) -> bool {
        let req = "GET /download HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n";
        if self.0.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut got = String::new();
        let _ = self.0.read_to_string(&mut got);
        got.contains("real site")
    }
}

/// A plain-`http://` connection to the site opened and left unused, as a
/// browser opens spare ones for the pages to come.
struct Spare(TcpStream);

impl Spare {
    fn open(host: &Host) -> Spare {
        Spare(open_to_site(host, 80))
    }

    /// The answer's head to `GET path` on it.
    fn get(mut self, path: &str) -> String {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {WEB_V4}\r\n\r\n");
        self.0.write_all(req.as_bytes()).unwrap();
        let mut got = String::new();
        let _ = self.0.read_to_string(&mut got);
        got.split("\r\n\r\n").next().unwrap_or("").to_owned() + "\r\n"
    }
}

fn noticed_lab(stem: &str, interval: Duration) -> Lab {
    lab(stem)
        .subscribers(3)
        .daemons(true)
        .configure(move |c| c.notice.interval = interval)
        .up()
        .unwrap()
}

#[test]
fn a_noticed_subscriber_sees_the_notice_once_and_the_button_returns_it_to_its_page() {
    let lab = noticed_lab("notice", Duration::from_secs(3600));
    let (noticed, by_id, free) = (lab.subscriber(0), lab.subscriber(1), lab.subscriber(2));
    let addr = noticed.ipv4().to_string();
    let asked = asked_page();
    let before = Established::open(&noticed);

    lab.cordon_ok(&["notice", &addr, "--reason", "lab notice"])
        .unwrap();
    // Nothing but http:// notices it, the flow opened before included.
    assert!(before.still_works(), "an established flow was cut");
    untouched(&noticed);
    let shown = lab.show(&addr).unwrap();
    assert_eq!(shown["state"], "noticed", "{shown}");
    assert!(shown["next_rung"]["review_at"].is_i64(), "{shown}");
    let text = lab.cordon_ok(&["show", &addr]).unwrap();
    assert!(
        text.contains("noticed") && text.contains("next rung") && text.contains("lab notice"),
        "{text}"
    );

    // A browser's spare connection to the site, opened while noticed (the
    // kernel sends it to the notice) and first used after the button.
    let spare = Spare::open(&noticed);
    // The first http:// page: the notice in place of the page, then the
    // way back to it.
    acknowledge_and_return(&noticed, &asked);
    let shown = lab.show(&addr).unwrap();
    assert_eq!(shown["state"], "noticed", "acknowledged, still noticed");
    assert!(shown["acknowledged_until"].is_i64(), "{shown}");
    // On it the page asked for is asked for again, on a new connection,
    // which the kernel no longer sends to the portal.
    let again = spare.get("/news/today?id=7&lang=en");
    assert!(
        again.starts_with("HTTP/1.1 307")
            && again.contains(&format!("location: {asked}\r\n"))
            && again.contains("connection: close\r\n"),
        "{again}"
    );

    // Within the interval, the next pages go straight to the site.
    for path in ["/", "/other?page=2"] {
        let page = noticed.curl(&url(WEB_V4, 80, path), &[]).unwrap();
        assert!(page.from_real_site(), "{path}: {page:?}");
    }
    untouched(&noticed);

    // A subscriber noticed by its id: every address its session holds,
    // its IPv4 address and its IPv6 prefix.
    let id_addr = by_id.ipv4().to_string();
    lab.cordon_ok(&[
        "session",
        "start",
        "--subscriber",
        "alice",
        "--address",
        &id_addr,
        "--prefix",
        &subscriber_v6_prefix(1),
    ])
    .unwrap();
    lab.cordon_ok(&["notice", "--subscriber", "alice", "--reason", "by id"])
        .unwrap();
    let alice = lab.cordon_json(&["show", "--subscriber", "alice"]).unwrap();
    assert_eq!(alice["state"], "noticed", "{alice}");
    assert_eq!(lab.show(&id_addr).unwrap()["subscriber"], "alice");
    untouched(&by_id);
    // Its first page over IPv6 shows the notice; the button (posted to
    // the portal over IPv4) acknowledges it for the subscriber, so its
    // IPv4 pages go straight through too.
    let asked6 = format!("http://[{WEB_V6}]/news/today?id=7&lang=en");
    acknowledge_and_return(&by_id, &asked6);
    let page = by_id.curl(&asked, &[]).unwrap();
    assert!(page.from_real_site(), "acknowledged for alice: {page:?}");

    // `list` shows both with their next rung; the neighbour browses freely.
    let list = lab.cordon_ok(&["list"]).unwrap();
    assert!(
        list.contains(&addr) && list.contains(&id_addr) && list.contains("reviewed"),
        "{list}"
    );
    let listed = lab.cordon_json(&["list"]).unwrap();
    assert!(
        listed["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["subscriber"] == "alice" && h["state"] == "noticed"),
        "{listed}"
    );
    let page = free.curl(&asked, &[]).unwrap();
    assert!(page.from_real_site(), "{page:?}");
    assert_eq!(lab.state(&free.ipv4().to_string()).unwrap(), "clean");
}

#[test]
fn the_notice_comes_back_once_the_interval_has_passed_and_not_before() {
    let interval = Duration::from_secs(60);
    let lab = noticed_lab("notice2", interval);
    let noticed = lab.subscriber(0);
    let addr = noticed.ipv4().to_string();
    let asked = asked_page();
    lab.cordon_ok(&["notice", &addr, "--reason", "lab notice"])
        .unwrap();
    acknowledge_and_return(&noticed, &asked);
    let until = lab.show(&addr).unwrap()["acknowledged_until"]
        .as_i64()
        .unwrap();
    assert!(
        until - SystemClock.now() <= interval.as_secs() as i64,
        "acknowledged for at most the interval"
    );

    // Within the interval every page is the real one. (One page every
    // couple of seconds is the subscriber's own pace, not a wait.)
    while SystemClock.now() < until - 2 {
        let page = noticed.curl(&asked, &[]).unwrap();
        assert!(page.from_real_site(), "within the interval: {page:?}");
        std::thread::sleep(SHORT);
    }

    // Once it has passed, the next page is the notice again.
    let deadline = Duration::from_secs(15);
    let started = Instant::now();
    let form = poll_until(deadline, "the notice to come back", || {
        notice_form(&noticed.curl(&asked, &[]).unwrap())
    })
    .unwrap();
    assert!(
        SystemClock.now() >= until,
        "back {:?} into the wait, before the interval ended",
        started.elapsed()
    );
    assert_eq!(form.url, asked);
    assert_eq!(lab.state(&addr).unwrap(), "noticed");
    // And it goes away again the same way.
    let back = acknowledge(&noticed, &form);
    assert_eq!(back.header("location"), Some(asked.as_str()), "{back:?}");
    assert!(noticed.curl(&asked, &[]).unwrap().from_real_site());
}
