//! The whole product in the lab: the real `cordond`, `cordon-portal` and
//! `cordon` CLI, with real clients in the subscribers' namespaces.
//!
//! These need the workspace's binaries beside the test executable, which
//! `cargo test --workspace` (scripts/test) builds before running any test.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::lab;
use cordon_lab::addresses::{WEB_V4, mail_server_v4};
use cordon_lab::{Host, TcpOutcome, url, wait_for};

const SHORT: Duration = Duration::from_secs(2);

/// A kept-alive HTTP connection from inside a subscriber's namespace.
struct KeptAlive(TcpStream);

impl KeptAlive {
    fn open(host: &Host, to: SocketAddr) -> KeptAlive {
        let s = host
            .run(move || TcpStream::connect_timeout(&to, SHORT))
            .unwrap()
            .unwrap();
        s.set_read_timeout(Some(SHORT)).unwrap();
        KeptAlive(s)
    }

    /// Sends one request and returns what came back (empty when the
    /// connection was reset or closed).
    fn get(&mut self) -> String {
        let req = "GET /again HTTP/1.1\r\nHost: example.org\r\nConnection: keep-alive\r\n\r\n";
        if self.0.write_all(req.as_bytes()).is_err() {
            return String::new();
        }
        let mut buf = vec![0u8; 65536];
        match self.0.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(_) => String::new(),
        }
    }
}

/// Questions the portal has had answered by cordond, from its metrics.
fn questions(lab: &cordon_lab::Lab) -> u64 {
    let metrics = lab.config().portal.metrics_listen.unwrap();
    let scrape = lab
        .gateway()
        .curl(&format!("http://{metrics}/metrics"), &[])
        .unwrap();
    scrape
        .body
        .lines()
        .find_map(|l| l.strip_prefix("cordon_portal_cordond_wait_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn quarantine_lands_http_on_the_portal_and_release_brings_the_real_site_back() {
    let lab = lab("story").subscribers(2).daemons(true).up().unwrap();
    let (free, caught) = (lab.subscriber(0), lab.subscriber(1));
    let addr = caught.ipv4().to_string();
    let web = SocketAddr::new(WEB_V4.into(), 80);
    assert!(
        caught
            .curl(&url(WEB_V4, 80, "/"), &[])
            .unwrap()
            .from_real_site()
    );
    assert_eq!(lab.state(&addr).unwrap(), "clean");
    // A connection to the real site, kept alive across the quarantine.
    let mut before = KeptAlive::open(&caught, web);
    assert!(before.get().contains("real site"));

    lab.cordon_ok(&["quarantine", &addr, "--reason", "lab story"])
        .unwrap();
    assert_eq!(lab.state(&addr).unwrap(), "quarantined");
    // The record names the host's MAC from the gateway's neighbour table.
    let mac = lab.show(&addr).unwrap()["mac"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let link = caught.exec("ip", &["-br", "link", "show", "eth0"]).unwrap();
    assert!(
        !mac.is_empty() && String::from_utf8_lossy(&link.stdout).contains(&mac),
        "MAC {mac:?} is not the subscriber's: {}",
        String::from_utf8_lossy(&link.stdout)
    );
    // Its conntrack entry is gone, so the established flow does not escape
    // the walled garden.
    let after = before.get();
    assert!(
        !after.contains("real site"),
        "an established flow escaped: {after}"
    );

    // Any http:// page lands on the portal, whatever its Host.
    let page = caught
        .curl(&url(WEB_V4, 80, "/news"), &["-H", "Host: news.example"])
        .unwrap();
    let location = page.header("location").unwrap_or_default().to_owned();
    assert!(location.starts_with(lab.gateway().portal_url()), "{page:?}");
    let cleanup = caught
        .curl(&location, &["-H", "Accept-Language: es-MX,es;q=0.9"])
        .unwrap();
    assert_eq!(cleanup.status, Some(200));
    assert!(
        cleanup.body.contains("lang=\"es\""),
        "Spanish page: {}",
        cleanup.body
    );
    // The host's own connection to the portal goes, by the kernel's rules,
    // to the captive listener, which answers without asking cordond.
    let asked = questions(&lab);
    assert!(asked > 0, "the cleanup page above was asked about");
    let captive = caught
        .curl(&format!("{}api/captive", lab.gateway().portal_url()), &[])
        .unwrap();
    assert!(
        captive.body.contains("\"captive\":true"),
        "{}",
        captive.body
    );
    assert_eq!(questions(&lab), asked, "the captive answer asked cordond");
    let captive = free
        .curl(&format!("{}api/captive", lab.gateway().portal_url()), &[])
        .unwrap();
    assert!(
        captive.body.contains("\"captive\":false"),
        "{}",
        captive.body
    );
    assert!(
        free.curl(&url(WEB_V4, 80, "/"), &[])
            .unwrap()
            .from_real_site()
    );

    // A connection kept alive while quarantined is redirected...
    let mut kept = KeptAlive::open(&caught, web);
    let first = kept.get();
    assert!(
        first.contains("302") && !first.contains("real site"),
        "{first}"
    );

    lab.cordon_ok(&["release", &addr, "--reason", "cleaned"])
        .unwrap();
    assert_eq!(lab.state(&addr).unwrap(), "probation");
    // ...and after release it no longer reaches the portal: its conntrack
    // entry is gone, so the old redirection does not outlive the quarantine.
    let again = kept.get();
    assert!(
        !again.contains("302"),
        "kept-alive connection still redirected: {again}"
    );
    // New connections reach the real site.
    assert!(
        caught
            .curl(&url(WEB_V4, 80, "/"), &[])
            .unwrap()
            .from_real_site()
    );
    let history = lab.cordon_ok(&["history", &addr]).unwrap();
    assert!(
        history.contains("lab story") && history.contains("cleaned"),
        "{history}"
    );
}

#[test]
fn the_subscriber_releases_itself_once_the_computer_is_quiet() {
    let lab = lab("selfrel")
        .subscribers(1)
        .quiet_period(Duration::from_secs(3))
        .min_hold(Duration::from_secs(1))
        .daemons(true)
        .up()
        .unwrap();
    let caught = lab.subscriber(0);
    let addr = caught.ipv4().to_string();
    lab.cordon_ok(&["quarantine", &addr, "--reason", "lab zombie"])
        .unwrap();
    // The zombie still tries to send: counted in the kernel, reset.
    let mx: IpAddr = mail_server_v4(1).into();
    assert_eq!(
        caught.tcp_connect(mx, 25, SHORT).unwrap(),
        TcpOutcome::Reset
    );

    let portal = lab.gateway().portal_url().to_owned();
    let press = |caught: &Host| {
        let page = caught.curl(&portal, &[]).unwrap();
        let token = page
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no self-release form: {}", page.body))
            .to_owned();
        caught
            .curl(
                &format!("{portal}release"),
                &["--data", &format!("csrf={token}&lang=en")],
            )
            .unwrap()
    };
    let answer = press(&caught);
    assert!(
        answer.body.contains("Not yet"),
        "still sending moments ago: {}",
        answer.body
    );
    assert_eq!(lab.state(&addr).unwrap(), "quarantined");

    // Once quiet for the quiet period, the button works.
    wait_for(
        Duration::from_secs(10),
        "the host to be quiet long enough",
        || {
            let b = press(&caught).body;
            b.contains("Your internet works again")
        },
    )
    .unwrap();
    assert_eq!(lab.state(&addr).unwrap(), "probation");
    assert!(
        caught
            .curl(&url(WEB_V4, 80, "/"), &[])
            .unwrap()
            .from_real_site()
    );
}
