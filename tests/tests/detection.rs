//! Detection end to end: the real `cordond` reading the kernel's NFLOG
//! crossings, the real `cordon` CLI handing in reports, a real DNS block
//! list (Debian's `rbldnsd`) in the internet namespace, and real clients
//! (TCP floods, swaks) in the subscribers' namespaces.
//!
//! Needs root, and the workspace's binaries beside the test executable
//! (`cargo build -p cordon-orchestrator -p cordon-portal` first, or
//! `cargo test --workspace`). Every wait polls with a deadline.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::lab;
use cordon_config::{Action, DnsblZone};
use cordon_lab::addresses::{RELAY_V4, mail_server_v4};
use cordon_lab::{Lab, TcpOutcome, poll_until, wait_for};
use cordon_proto::time::{Clock, SystemClock};

const SHORT: Duration = Duration::from_secs(2);

// ---- what the gateway says ----

fn metrics(lab: &Lab) -> String {
    let out = lab
        .gateway()
        .exec(
            "curl",
            &["-s", "--max-time", "5", "http://127.0.0.1:9464/metrics"],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of a metric line that starts with `name` (labels included).
fn metric(lab: &Lab, name: &str) -> f64 {
    metrics(lab)
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn cordond_log(lab: &Lab) -> String {
    std::fs::read_to_string(lab.run_dir().join("cordond.log")).unwrap_or_default()
}

/// Explains a failed wait with the daemon's log.
fn with_log<T>(lab: &Lab, r: Result<T, cordon_lab::LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}\n--- cordond.log ---\n{}", cordond_log(lab)))
}

fn quarantined_in_kernel(lab: &Lab, addr: &str) -> bool {
    // An IPv6 subscriber prefix is held by its first address.
    let (set, addr) = if addr.contains(':') {
        ("quarantined_v6", addr.split('/').next().unwrap_or(addr))
    } else {
        ("quarantined_v4", addr)
    };
    lab.gateway()
        .exec(
            "nft",
            &[
                "get",
                "element",
                "inet",
                "cordon",
                set,
                &format!("{{ {addr} }}"),
            ],
        )
        .unwrap()
        .status
        .success()
}

/// Waits until `addr` is quarantined (in the store's view and the
/// kernel's set) and returns how long that took.
fn until_quarantined(lab: &Lab, addr: &str, within: Duration) -> Duration {
    let start = Instant::now();
    with_log(
        lab,
        wait_for(within, &format!("{addr} to be quarantined"), || {
            quarantined_in_kernel(lab, addr)
        }),
    );
    start.elapsed()
}

// ---- flooding, mailing ----

#[test]
fn a_zombie_is_quarantined_within_a_second_and_a_mail_user_never_is() {
    let lab = lab("detect").subscribers(3).daemons(true).up().unwrap();
    let (zombie, mailer, zombie6) = (lab.subscriber(0), lab.subscriber(1), lab.subscriber(2));

    // A person's mail program: submission through the ISP's relay.
    for i in 0..3 {
        let subject = format!("hello {i}");
        let sent = mailer
            .swaks(RELAY_V4, 587, &["--header", &format!("Subject: {subject}")])
            .unwrap();
        assert!(sent.delivered(), "{}", sent.transcript);
    }

    // The zombie: 40 direct-to-MX connections at once, to 40 servers.
    let addr = zombie.ipv4().to_string();
    let crossing = Instant::now();
    let outcomes = zombie.flood_smtp(40, zombie.ipv4().into()).unwrap();
    assert!(
        outcomes.iter().all(|o| *o == TcpOutcome::Reset),
        "{outcomes:?}"
    );
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(1).saturating_sub(crossing.elapsed()),
            "the zombie quarantined within 1 s of crossing the threshold",
            || quarantined_in_kernel(&lab, &addr),
        ),
    );
    let took = crossing.elapsed();
    eprintln!("crossing to quarantine (seen by the test): {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    let host = lab.show(&addr).unwrap();
    assert_eq!(host["state"], "quarantined");
    assert_eq!(host["reason"], "detection");
    assert_eq!(host["actor"], "detection");
    // Forty attempts to forty servers cross both signals (20 attempts, 10
    // destinations); whichever the kernel logged first decided, and the
    // record names it with its threshold and the attempts counted by then.
    let evidence = &host["evidence"];
    let threshold = ["smtp_attempts_threshold", "smtp_destinations_threshold"]
        .iter()
        .find_map(|k| evidence[*k].as_u64())
        .unwrap_or_else(|| panic!("no signal's threshold in the evidence: {host}"));
    assert!(
        evidence["smtp_attempts"].as_u64().unwrap() >= threshold,
        "{host}"
    );

    // The same for an IPv6 zombie: its whole /64.
    let crossing = Instant::now();
    zombie6.flood_smtp(40, zombie6.ipv6().into()).unwrap();
    let prefix = lab.show(&zombie6.ipv6().to_string()).unwrap()["address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prefix.ends_with("/64"), "{prefix}");
    until_quarantined(
        &lab,
        &prefix,
        Duration::from_secs(1).saturating_sub(crossing.elapsed()),
    );

    // The mail user is untouched, and no port-25 attempt was ever counted.
    let m = lab.show(&mailer.ipv4().to_string()).unwrap();
    assert_eq!(m["state"], "clean", "{m}");
    assert_eq!(m["smtp_attempts"], 0, "{m}");
    assert_eq!(
        lab.internet()
            .stats()
            .unwrap()
            .smtp_messages_from(587, mailer.ipv4().into()),
        3
    );

    // Measured and exported by cordond too.
    assert!(metric(&lab, "cordon_detection_latency_seconds_count") >= 2.0);
    let log = cordond_log(&lab);
    assert!(log.contains("quarantined by detection"), "{log}");
    assert!(log.contains("latency_ms"), "{log}");
}

#[test]
fn a_zombie_that_keeps_trying_stays_in_and_one_that_stops_is_released_then_relapses() {
    let lab = lab("relapse")
        .subscribers(1)
        .min_hold(Duration::from_secs(2))
        .quiet_period(Duration::from_secs(4))
        .daemons(true)
        .up()
        .unwrap();
    let zombie = lab.subscriber(0);
    let addr = zombie.ipv4().to_string();
    zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
    until_quarantined(&lab, &addr, SHORT);
    let first = lab.show(&addr).unwrap();
    let first_hold = first["hold_until"].as_i64().unwrap() - first["since"].as_i64().unwrap();
    assert_eq!(first["self_releases_left"], 2, "{first}");

    // It keeps trying, well past the hold: it stays in. (The pauses are
    // the zombie's own pace, not synchronisation.)
    let mx: IpAddr = mail_server_v4(7).into();
    let past_hold = first["hold_until"].as_i64().unwrap() + 2;
    while SystemClock.now() <= past_hold {
        assert_eq!(
            zombie.tcp_connect(mx, 25, SHORT).unwrap(),
            TcpOutcome::Reset
        );
        assert_eq!(lab.state(&addr).unwrap(), "quarantined");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(lab.state(&addr).unwrap(), "quarantined");

    // It stops: released once quiet for the quiet period.
    let stopped = Instant::now();
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(10),
            "release after the quiet period",
            || lab.state(&addr).unwrap() == "probation",
        ),
    );
    assert!(
        stopped.elapsed() >= Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert!(!quarantined_in_kernel(&lab, &addr));

    // It relapses: quarantined again, for longer, with no self-release.
    // (The kernel repeats an alert for a host at most every 10 s, so the
    // zombie floods until it is caught, as a real one would.)
    let again = with_log(
        &lab,
        poll_until(Duration::from_secs(15), "the relapse to be caught", || {
            zombie.flood_smtp(30, zombie.ipv4().into()).unwrap();
            let h = lab.show(&addr).unwrap();
            (h["state"] == "quarantined").then_some(h)
        }),
    );
    assert_eq!(again["relapses"], 1, "{again}");
    assert_eq!(again["self_releases_left"], 0, "{again}");
    let hold = again["hold_until"].as_i64().unwrap() - again["since"].as_i64().unwrap();
    assert!(
        hold > first_hold,
        "relapse hold {hold} s, first {first_hold} s"
    );
    let history = lab.cordon_ok(&["history", &addr]).unwrap();
    assert!(history.contains("smtp_"), "{history}");
}

#[test]
fn observe_mode_logs_and_counts_but_quarantines_nobody() {
    let lab = lab("observe")
        .subscribers(1)
        .smtp_attempts_action(Action::Observe)
        .configure(|c| c.detection.smtp_destinations.action = Action::Observe)
        .daemons(true)
        .up()
        .unwrap();
    let zombie = lab.subscriber(0);
    let addr = zombie.ipv4().to_string();
    zombie.flood_smtp(40, zombie.ipv4().into()).unwrap();
    let host = with_log(
        &lab,
        poll_until(SHORT, "the zombie to be a suspect", || {
            let h = lab.show(&addr).unwrap();
            (!h["suspect"].is_null()).then_some(h)
        }),
    );
    // The decision is made (it is a suspect): nobody was quarantined.
    assert_eq!(host["state"], "clean", "{host}");
    assert_eq!(host["suspect"]["action"], "observe", "{host}");
    assert!(!quarantined_in_kernel(&lab, &addr));
    let list = lab.cordon_ok(&["list"]).unwrap();
    assert!(list.contains(&addr) && list.contains("suspect"), "{list}");
    let m = metrics(&lab);
    assert!(
        m.lines()
            .any(|l| l.starts_with("cordon_detections_total") && l.contains("action=\"observe\"")),
        "{m}"
    );
    assert!(cordond_log(&lab).contains("suspect"));
    // Its attempts are still counted.
    assert!(host["smtp_attempts"].as_u64().unwrap() >= 20, "{host}");
}

// ---- outside reports ----

/// An ARF report (RFC 5965) about `ip`, dated now, for message `id`.
fn arf(ip: &str, id: &str) -> String {
    let date = String::from_utf8(Command::new("date").arg("-R").output().unwrap().stdout).unwrap();
    let date = date.trim();
    format!(
        "From fbl@fbl.example.net {date}\n\
From: <abuse@fbl.example.net>\n\
Date: {date}\n\
Subject: FW: Earn money\n\
To: <abuse@isp.example>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=feedback-report;\n boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain; charset=\"US-ASCII\"\n\
\n\
An abuse report for a message received from {ip}.\n\
\n\
--b1\n\
Content-Type: message/feedback-report\n\
\n\
Feedback-Type: abuse\n\
User-Agent: LabFbl/1.0\n\
Version: 1\n\
Arrival-Date: {date}\n\
Reporting-MTA: dns; mail.fbl.example.net\n\
Source-IP: {ip}\n\
\n\
--b1\n\
Content-Type: message/rfc822\n\
Content-Disposition: inline\n\
\n\
From: <spammer@example.net>\n\
Subject: Earn money\n\
Message-ID: <{id}@example.net>\n\
\n\
Spam Spam Spam\n\
--b1--\n\
\n"
    )
}

fn write(lab: &Lab, name: &str, text: &str) -> PathBuf {
    let path = lab.run_dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn reports_from_csv_and_arf_quarantine_at_the_score_and_bad_lines_are_listed() {
    let lab = lab("reports")
        .subscribers(3)
        .report_score(3)
        .daemons(true)
        .up()
        .unwrap();
    let (a, b, c) = (
        lab.subscriber(0).ipv4().to_string(),
        lab.subscriber(1).ipv4().to_string(),
        lab.subscriber(2).ipv4().to_string(),
    );
    let t = SystemClock.now() - 60;
    let csv = write(
        &lab,
        "feed.csv",
        &format!(
            "address,time,source,evidence\n\
{a},{t},spamtrap-1,spam to trap\n\
{a},{t},spamtrap-2,\"spam, again\"\n\
this is not a report\n\
{a},{t},abuse-desk,customer complaint\n\
198.51.100.7,{t},spamtrap-1,not our subscriber\n\
100.64.0.1,{t},spamtrap-1,the portal itself\n\
{c},{t},spamtrap-1,one\n\
{c},{t},spamtrap-2,two\n"
        ),
    );
    // Three complaints about b, one of them sent twice, and one cut short.
    let truncated: String = arf(&b, "cut")
        .lines()
        .take(12)
        .collect::<Vec<_>>()
        .join("\n");
    let mbox = format!(
        "{}{}{}{}{truncated}\n",
        arf(&b, "m1"),
        arf(&b, "m2"),
        arf(&b, "m1"),
        arf(&b, "m3")
    );
    let arf_file = write(&lab, "fbl.mbox", &mbox);

    let out = lab
        .cordon(&["import", csv.to_str().unwrap(), arf_file.to_str().unwrap()])
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // Bad lines are listed with their numbers, and nothing valid is lost.
    for line in ["line 4:", "line 6:", "line 7:"] {
        assert!(stderr.contains(line), "{line} missing: {stderr}");
    }
    assert!(stderr.contains("fbl.mbox: line "), "{stderr}");
    assert!(
        stdout.contains("feed.csv: 5 reports accepted, 3 lines rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fbl.mbox: 4 reports accepted, 1 lines rejected"),
        "{stdout}"
    );

    // a: three CSV reports; b: three distinct complaints (the duplicate
    // counts once); c: two reports, below the score.
    for addr in [&a, &b] {
        let h = lab.show(addr).unwrap();
        assert_eq!(h["state"], "quarantined", "{addr}: {h}");
        assert_eq!(h["reason"], "report", "{h}");
        assert_eq!(h["evidence"]["score"], 3, "{h}");
        assert!(quarantined_in_kernel(&lab, addr));
    }
    let h = lab.show(&c).unwrap();
    assert_eq!(
        (h["state"].as_str(), h["report_score"].as_u64()),
        (Some("clean"), Some(2)),
        "{h}"
    );
    let history = lab.cordon_ok(&["history", &b]).unwrap();
    assert!(
        history.contains("report from mail.fbl.example.net"),
        "{history}"
    );

    // The abuse desk's third report brings c to the score.
    let said = lab
        .cordon_ok(&[
            "report",
            &c,
            "--source",
            "abuse-desk",
            "--evidence",
            "phoned in",
        ])
        .unwrap();
    assert!(said.contains("score 3 of 3, quarantined"), "{said}");
    assert!(quarantined_in_kernel(&lab, &c));

    // A feed with nothing valid: exit 2, nobody touched.
    let junk = write(&lab, "junk.csv", "garbage\n198.51.100.9,0,x,y\n");
    let out = lab.cordon(&["import", junk.to_str().unwrap()]).unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A report about a non-subscriber is refused as bad input.
    let out = lab
        .cordon(&["report", "198.51.100.9", "--source", "x", "--evidence", "y"])
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

// ---- DNS block lists ----

const ZONE: &str = "xbl.lab.example";
/// rbldnsd's address in the internet namespace.
const DNSBL_SERVER: &str = "192.0.2.2:5353";
/// Nobody answers here: nothing on the uplink has this address.
const DEAD_SERVER: &str = "192.0.2.99:53";

/// rbldnsd serving ZONE in the lab's internet; killed on drop.
struct Rbldnsd(Child);

impl Drop for Rbldnsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rbldnsd(lab: &Lab, listed: &str) -> Rbldnsd {
    use std::os::unix::fs::PermissionsExt;
    let dir = lab.run_dir().join("rbldnsd");
    std::fs::create_dir_all(&dir).unwrap();
    // rbldnsd drops to its own user and must read its zone files.
    for d in [lab.run_dir(), dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let file = dir.join("xbl4");
    std::fs::write(
        &file,
        format!(":127.0.0.4:Listed: infected host\n{listed}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.internet().netns(),
            "rbldnsd",
            "-n",
            "-u",
            "rbldns",
        ])
        .args(["-b", &DNSBL_SERVER.replace(':', "/"), "-w"])
        .arg(&dir)
        .arg(format!("{ZONE}:ip4set:xbl4"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Rbldnsd(child);
    wait_for(SHORT, "rbldnsd to listen", || {
        let out = lab.internet().exec("ss", &["-uln"]).unwrap();
        String::from_utf8_lossy(&out.stdout).contains(DNSBL_SERVER)
    })
    .unwrap();
    server
}

fn few_smtp_attempts(host: &cordon_lab::Host) {
    for n in 1..=3 {
        let out = host.tcp_connect(mail_server_v4(n), 25, SHORT).unwrap();
        assert_eq!(out, TcpOutcome::Reset);
    }
}

#[test]
fn a_listed_sender_is_reported_by_its_dnsbl_zone_and_an_unreachable_server_delays_nothing() {
    let lab = lab("dnsbl")
        .subscribers(3)
        .report_score(3)
        .configure(|c| {
            c.detection.dnsbl.zones = vec![DnsblZone {
                zone: ZONE.parse().unwrap(),
                weight: 3,
            }];
            // The dead server first: every early check tries it.
            c.detection.dnsbl.servers =
                vec![DEAD_SERVER.parse().unwrap(), DNSBL_SERVER.parse().unwrap()];
        })
        .daemons(true)
        .up()
        .unwrap();
    let (listed, unlisted, zombie) = (lab.subscriber(0), lab.subscriber(1), lab.subscriber(2));
    let _server = rbldnsd(&lab, &listed.ipv4().to_string());

    // Two subscribers try port 25 a few times (below every threshold), and
    // a zombie floods while the block-list checks wait on the dead server.
    few_smtp_attempts(&listed);
    few_smtp_attempts(&unlisted);
    let crossing = Instant::now();
    zombie.flood_smtp(40, zombie.ipv4().into()).unwrap();
    let took = until_quarantined(
        &lab,
        &zombie.ipv4().to_string(),
        Duration::from_secs(1).saturating_sub(crossing.elapsed()),
    );
    assert!(took < Duration::from_secs(1));
    assert_eq!(
        lab.show(&zombie.ipv4().to_string()).unwrap()["reason"],
        "detection"
    );

    // The listed one is reported with the zone as source: at the score,
    // quarantined.
    let addr = listed.ipv4().to_string();
    until_quarantined(&lab, &addr, Duration::from_secs(15));
    let h = lab.show(&addr).unwrap();
    assert_eq!(h["reason"], "report", "{h}");
    let history = lab.cordon_ok(&["history", &addr]).unwrap();
    assert!(
        history.contains(&format!("report from {ZONE}")),
        "{history}"
    );

    // The unlisted one was asked about and is not listed.
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(10),
            "the unlisted hosts' checks",
            || metric(&lab, "cordon_dnsbl_checks_total{result=\"not_listed\"}") >= 2.0,
        ),
    );
    let h = lab.show(&unlisted.ipv4().to_string()).unwrap();
    assert_eq!(
        (h["state"].as_str(), h["report_score"].as_u64()),
        (Some("clean"), Some(0)),
        "{h}"
    );

    // The dead server was logged once, not per query.
    let log = cordond_log(&lab);
    assert_eq!(log.matches("DNSBL server unreachable").count(), 1, "{log}");
}

// ---- relay limits ----

#[test]
fn relay_limit_hits_are_counted() {
    let lab = lab("relayhits")
        .subscribers(1)
        .relay_rate(1, 1)
        .daemons(true)
        .up()
        .unwrap();
    let s = lab.subscriber(0);
    let targets: Vec<(IpAddr, u16)> = (0..6).map(|_| (RELAY_V4.into(), 587)).collect();
    let outcomes = s.tcp_connect_all(&targets, SHORT).unwrap();
    let refused = outcomes.iter().filter(|o| **o == TcpOutcome::Reset).count();
    assert!(refused >= 1, "{outcomes:?}");
    // cordond reads the kernel's counters every 10 s.
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(15),
            "relay-limit hits in the metrics",
            || metric(&lab, "cordon_relay_limit_hits_total") >= refused as f64,
        ),
    );
    // The sender is not a zombie: relay use is never a detection signal.
    assert_eq!(lab.state(&s.ipv4().to_string()).unwrap(), "clean");
}
