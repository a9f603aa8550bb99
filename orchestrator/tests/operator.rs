//! What operators' tools show and send, against the real `cordond` in a
//! namespace of its own: listings survive oversized records, no control
//! character reaches a terminal or the text log, a 100 000-line feed
//! imports, a closed pipe is not a crash, refusals are counted, and `show`
//! lists the reports' evidence. Needs root (CAP_NET_ADMIN) and nftables.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Lab;
use cordon_proto::time::{Clock, SystemClock};

/// Whether `text` holds a character that may not reach a terminal raw: C0
/// controls but the line feed, DEL and C1 controls.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c != '\n' && c.is_control())
        .collect()
}

fn ok(o: &std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// One raw request on the control socket, as any client could send it;
/// returns the first answer frame (None when cordond closed instead).
fn raw_call(socket: &str, request: &serde_json::Value) -> Option<serde_json::Value> {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = serde_json::to_vec(request).unwrap();
    s.write_all(&u32::try_from(body.len()).unwrap().to_be_bytes())
        .unwrap();
    s.write_all(&body).unwrap();
    let mut len = [0u8; 4];
    std::io::Read::read_exact(&mut s, &mut len).ok()?;
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    std::io::Read::read_exact(&mut s, &mut answer).ok()?;
    Some(serde_json::from_slice(&answer).unwrap())
}

#[test]
fn listings_stay_intact_after_oversized_reasons() {
    let mut lab = Lab::new("big");
    lab.start();
    // 33 quarantines with the longest reason allowed.
    let allowed = "r".repeat(1024);
    for i in 0..33 {
        let addr = format!("100.64.3.{}", i + 10);
        ok(&lab.cordon(&["quarantine", &addr, "--reason", &allowed]));
    }
    // Longer is refused by the CLI (exit 2, says why) and by cordond from
    // any other client, before anything is stored.
    let o = lab.cordon(&["quarantine", "100.64.4.1", "--reason", &"x".repeat(1025)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("at most 1024"));
    let refused = raw_call(
        &lab.socket(),
        &serde_json::json!({"op": "quarantine", "address": "100.64.4.2",
                            "reason": "y".repeat(4_000_000), "hold_s": null}),
    )
    .expect("cordond answers an oversized reason");
    assert_eq!(refused["class"], "bad_input", "{refused}");
    // Records stored oversized (by an older version) are written straight
    // into the store while cordond is down: 33 × 131 kB reasons.
    lab.signal("-TERM");
    lab.wait_exit();
    {
        let db = rusqlite::Connection::open(lab.dir.path().join("cordon.db")).unwrap();
        let big = "z".repeat(131_000);
        let n = db
            .execute(
                "UPDATE hosts SET record = replace(record, ?1, ?2) WHERE instr(record, ?1) > 0",
                [
                    format!("\"note\":\"{allowed}\""),
                    format!("\"note\":\"{big}\""),
                ],
            )
            .unwrap();
        assert_eq!(n, 33);
        for i in 0..33 {
            db.execute(
                "INSERT INTO audit (at, address, from_state, to_state, actor, note)
                 VALUES (strftime('%s','now'), ?1, 'clean', 'quarantined', 'old', ?2)",
                [format!("100.64.3.{}", i + 10), big.clone()],
            )
            .unwrap();
        }
        db.execute(
            "INSERT INTO audit (at, address, from_state, to_state, actor, note)
             VALUES (strftime('%s','now'), '100.64.3.10', 'clean', 'quarantined', 'old', ?1)",
            ["w".repeat(4_500_000)],
        )
        .unwrap();
    }
    lab.start();
    let list: serde_json::Value =
        serde_json::from_str(&ok(&lab.cordon(&["--json", "list"]))).unwrap();
    let hosts = list["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 33);
    for h in hosts {
        let note = h["note"].as_str().unwrap();
        assert!(
            note.len() <= 8192 && note.contains("more bytes not shown"),
            "{note}"
        );
    }
    let history: serde_json::Value =
        serde_json::from_str(&ok(&lab.cordon(&["--json", "history", "--limit", "1000"]))).unwrap();
    assert!(history["entries"].as_array().unwrap().len() >= 67);
    let one = ok(&lab.cordon(&["history", "100.64.3.10"]));
    assert!(one.contains("more bytes not shown"), "{one}");
    ok(&lab.cordon(&["show", "100.64.3.10"]));
    ok(&lab.cordon(&["list"]));
}

const HOSTILE: &str = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\nFAKE line\u{9b}1m";

/// An ARF report (RFC 5965) about `@ADDR@` from a reporter whose
/// User-Agent is `@UA@`.
const ARF: &str = "From: <fbl@complaints.example.net>\r
Date: Thu, 8 Mar 2024 14:00:00 +0000\r
Subject: Complaint about a message from your network\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=feedback-report;\r
     boundary=\"b1\"\r
\r
--b1\r
Content-Type: text/plain\r
\r
An abuse report.\r
\r
--b1\r
Content-Type: message/feedback-report\r
\r
Feedback-Type: abuse\r
User-Agent: @UA@\r
Version: 1\r
Arrival-Date: @DATE@\r
Reporting-MTA: dns; mx1.complaints.example.net\r
Source-IP: @ADDR@\r
\r
--b1--\r
";

fn arf_text(addr: &str, ua: &str) -> String {
    let date = Command::new("date")
        .args(["-R"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap();
    ARF.replace("@ADDR@", addr)
        .replace("@UA@", ua)
        .replace("@DATE@", &date)
}

#[test]
fn no_control_character_reaches_the_terminal_or_the_log() {
    let mut lab = Lab::new("esc");
    lab.start();
    ok(&lab.cordon(&["quarantine", "100.64.5.1", "--reason", HOSTILE]));
    let csv = lab.dir.path().join("feed.csv");
    std::fs::write(
        &csv,
        format!(
            "100.64.5.2,{},\"src{HOSTILE}\",\"ev{HOSTILE}\"\n",
            SystemClock.now()
        ),
    )
    .unwrap();
    ok(&lab.cordon(&["import", csv.to_str().unwrap()]));
    let arf = lab.dir.path().join("report.eml");
    std::fs::write(
        &arf,
        arf_text("100.64.5.3", "Evil\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{9b}1m/1.0"),
    )
    .unwrap();
    ok(&lab.cordon(&["import", arf.to_str().unwrap()]));
    for args in [
        vec!["history"],
        vec!["list"],
        vec!["show", "100.64.5.1"],
        vec!["show", "100.64.5.2"],
        vec!["show", "100.64.5.3"],
    ] {
        let out = ok(&lab.cordon(&args));
        assert!(raw_controls(&out).is_empty(), "{args:?}: {out:?}");
        assert!(
            !out.lines().any(|l| l.starts_with("FAKE")),
            "{args:?}: {out}"
        );
    }
    let history = ok(&lab.cordon(&["history"]));
    assert!(history.contains("\\u{1b}]0;PWNED"), "{history}");
    let log = lab.log();
    assert!(
        log.contains("FAKE line"),
        "the reason was not logged: {log}"
    );
    assert!(raw_controls(&log).is_empty(), "{log:?}");
    assert!(!log.lines().any(|l| l.starts_with("FAKE")), "{log}");
}

#[test]
fn a_100000_line_csv_imports_in_seconds() {
    let mut lab = Lab::new("imp");
    lab.start();
    let csv = lab.dir.path().join("big.csv");
    let mut text = String::with_capacity(100_000 * 48);
    let now = SystemClock.now();
    for i in 0..100_000u32 {
        // Distinct addresses (one report each, under the score): IPv4 in
        // 100.64.0.0/16 past the gateway, then IPv6 subscriber prefixes.
        if i < 60_000 {
            text.push_str(&format!(
                "100.64.{}.{},{now},feed,line {i}\n",
                (i + 256) / 256,
                (i + 256) % 256
            ));
        } else {
            let (hi, lo) = (i >> 16, i & 0xffff);
            text.push_str(&format!("2001:db8:{hi:x}:{lo:x}::5,{now},feed,line {i}\n"));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let start = Instant::now();
    let out = ok(&lab.cordon(&["import", csv.to_str().unwrap()]));
    let took = start.elapsed();
    eprintln!("100 000-line CSV imported in {took:?}");
    assert!(out.contains("100000 reports accepted"), "{out}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    let o = lab.cordon(&["--json", "show", "2001:db8:1:869f::5"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["report_score"], 1, "{doc}");
}

#[test]
fn a_closed_pipe_ends_the_output_without_a_panic() {
    let mut lab = Lab::new("pipe");
    lab.start();
    ok(&lab.cordon(&["quarantine", "100.64.6.1", "--reason", "pipe"]));
    for args in [
        vec!["show", "100.64.6.1"],
        vec!["history"],
        vec!["--json", "list"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
            .arg("--config")
            .arg(lab.config())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before cordon writes (as `| head -1` may).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And through a real shell pipe: cordon's own status, not head's.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} --config {} show 100.64.6.1 | head -1; echo \"status $?\"",
            env!("CARGO_BIN_EXE_cordon"),
            lab.config().display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("address") && text.ends_with("status 0\n"),
        "{text}"
    );
}

#[test]
fn reports_cordond_refuses_count_as_refused_and_show_lists_evidence() {
    let mut lab = Lab::new("ref");
    lab.start();
    // Without a config the CLI cannot check the address; cordond refuses
    // it, and nothing taken means exit 2.
    let arf = lab.dir.path().join("outside.eml");
    std::fs::write(&arf, arf_text("192.0.2.77", "Gen/1.0")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["--socket", &lab.socket(), "import"])
        .arg(&arf)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("refused by cordond"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("1 reports accepted"));
    // A scored host shows what the reports said.
    ok(&lab.cordon(&[
        "report",
        "100.64.7.1",
        "--source",
        "fbl",
        "--evidence",
        "spam to 40 domains",
    ]));
    let o = lab.cordon(&["--json", "show", "100.64.7.1"]);
    let doc: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(doc["reports"][0]["evidence"], "spam to 40 domains", "{doc}");
    assert_eq!(doc["evidence"]["score"], 1, "{doc}");
    let shown = ok(&lab.cordon(&["show", "100.64.7.1"]));
    assert!(shown.contains("fbl (other): spam to 40 domains"), "{shown}");
    // Evidence over the bound: the CLI refuses it, exit 2.
    let o = lab.cordon(&[
        "report",
        "100.64.7.1",
        "--source",
        "fbl",
        "--evidence",
        &"e".repeat(4097),
    ]);
    assert_eq!(o.status.code(), Some(2));
}
