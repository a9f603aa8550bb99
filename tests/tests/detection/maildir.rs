//! The abuse mailbox as a source: messages delivered into a Maildir while
//! cordond crashes and comes back, each report counted exactly once; and
//! `cordon import -` reading a message from standard input, as an MTA's
//! pipe alias would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_lab::{Lab, wait_for};

use super::common::lab;
use super::reports::arf;
use super::{cordond_log, metric, with_log};

/// Subscribers the messages are about (each gets a quarter of them).
const ABOUT: usize = 4;
const MESSAGES: usize = 200;

/// The Maildir the lab's cordond watches: beside its control socket, in
/// the run directory (removed with the lab).
fn maildir_of(socket: &Path) -> PathBuf {
    socket.with_file_name("Maildir")
}

/// One ARF message as an MTA delivers it (no mbox `From ` line).
fn message(ip: &str, id: &str) -> String {
    let whole = arf(ip, id);
    whole.split_once('\n').map(|(_, m)| m.to_owned()).unwrap()
}

/// Delivers like an MTA: written in `tmp/`, then renamed into `new/`.
fn deliver(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join("tmp").join(name);
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("new").join(name)).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The audit trail's report entries about `addr`: (counted, not counted).
fn reports_in_history(lab: &Lab, addr: &str) -> (usize, usize) {
    let doc = lab
        .cordon_json(&["history", addr, "--limit", "10000"])
        .unwrap();
    let entries = doc
        .as_array()
        .or_else(|| doc["entries"].as_array())
        .cloned()
        .unwrap_or_default();
    let notes: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["note"].as_str())
        .filter(|n| n.contains(" report from "))
        .collect();
    let not_counted = notes.iter().filter(|n| n.contains("not counted")).count();
    (notes.len() - not_counted, not_counted)
}

#[test]
fn maildir_messages_survive_a_crash_and_count_exactly_once() {
    let mut lab = lab("maildir")
        .subscribers(ABOUT)
        .report_score(3)
        .configure(|c| c.detection.reports.maildir = Some(maildir_of(&c.control.socket)))
        .daemons(true)
        .up()
        .unwrap();
    let dir = maildir_of(lab.gateway().control_socket());
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let addrs: Vec<String> = (0..ABOUT)
        .map(|i| lab.subscriber(i).ipv4().to_string())
        .collect();
    let name = |i: usize| format!("1700000000.M{i}P1.mx.isp.example");
    let deliver_one = |i: usize| {
        deliver(
            &dir,
            &name(i),
            &message(&addrs[i % ABOUT], &format!("spam-{i}")),
        );
    };

    // The first half arrives while cordond runs; it is killed mid-way.
    (0..MESSAGES / 2).for_each(deliver_one);
    with_log(
        &lab,
        wait_for(Duration::from_secs(20), "some messages in cur/", || {
            names(&dir.join("cur")).len() >= 10
        }),
    );
    lab.kill_cordond().unwrap();
    // A crash after the store and before the rename leaves a stored
    // message in new/: put ten imported ones back where they were.
    let imported = names(&dir.join("cur"));
    for done in imported.iter().take(10) {
        let unique = done.split(':').next().unwrap();
        std::fs::copy(dir.join("cur").join(done), dir.join("new").join(unique)).unwrap();
    }
    // The second half, and a message with no report in it, arrive while
    // cordond is down.
    (MESSAGES / 2..MESSAGES).for_each(deliver_one);
    deliver(
        &dir,
        "1700000001.M999P1.mx.isp.example",
        "From: someone@example.net\nSubject: your service is \x1b[31mslow\n\nHello.\n",
    );
    // What the restarted cordond finds in new/ (its metrics start at 0).
    let waiting = names(&dir.join("new")).len();
    lab.start_cordond().unwrap();

    with_log(
        &lab,
        wait_for(Duration::from_secs(60), "new/ to be emptied", || {
            names(&dir.join("new")).is_empty()
        }),
    );
    // Each message it found is counted where it went, once moved.
    let messages = |result: &str| {
        metric(
            &lab,
            &format!("cordon_maildir_messages_total{{result=\"{result}\"}}"),
        )
    };
    with_log(
        &lab,
        wait_for(Duration::from_secs(10), "the messages' metrics", || {
            messages("imported") + messages("failed") >= waiting as f64
        }),
    );
    assert_eq!(
        (messages("imported"), messages("failed")),
        ((waiting - 1) as f64, 1.0)
    );
    let maildir_reports = |outcome: &str| {
        metric(
            &lab,
            &format!("cordon_maildir_reports_total{{outcome=\"{outcome}\"}}"),
        )
    };
    let cur = names(&dir.join("cur"));
    let failed = names(&dir.join("failed"));
    assert_eq!(cur.len(), MESSAGES, "{cur:?}");
    assert!(cur.iter().all(|n| n.ends_with(":2,S")), "{cur:?}");
    assert_eq!(failed, ["1700000001.M999P1.mx.isp.example"]);
    let log = cordond_log(&lab);
    let line = log
        .lines()
        .find(|l| l.contains("moved to failed/"))
        .unwrap_or_else(|| panic!("no failure logged:\n{log}"));
    assert!(line.contains("1700000001.M999P1.mx.isp.example"), "{line}");
    assert!(line.contains("reason"), "{line}");
    assert!(!log.contains('\x1b'), "a control character reached the log");

    // Every report counted once: 50 per address, in the ledger and in the
    // store's audit trail; the ten imported twice came in as duplicates.
    let mut duplicates = 0;
    for addr in &addrs {
        let h = lab.show(addr).unwrap();
        assert_eq!(h["report_score"], MESSAGES / ABOUT, "{addr}: {h}");
        assert_eq!(h["state"], "quarantined", "{addr}: {h}");
        let (counted, not_counted) = reports_in_history(&lab, addr);
        assert_eq!(counted, MESSAGES / ABOUT, "{addr}");
        duplicates += not_counted;
    }
    // At least the ten put back; more when the kill itself fell between
    // a store and the renames (it did in some runs: the very crash meant),
    // at most one batch of messages read together (cordond reads 16 at
    // once and moves them before reading more).
    assert!(
        (10..=10 + 16).contains(&duplicates),
        "the messages imported twice are duplicates: {duplicates}"
    );
    // One report a message: every one imported again after the restart
    // is a duplicate there; the rest counted.
    assert_eq!(
        (
            maildir_reports("counted"),
            maildir_reports("duplicate"),
            maildir_reports("refused")
        ),
        ((waiting - 1 - duplicates) as f64, duplicates as f64, 0.0)
    );

    // `cordon import -`: one message on standard input, as a pipe alias
    // hands it; the same message again counts nothing.
    let piped = message(&addrs[0], "piped-1");
    for (round, score) in [(1, MESSAGES / ABOUT + 1), (2, MESSAGES / ABOUT + 1)] {
        let mut child = super::import_from_stdin(&lab);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(piped.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{round}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("standard input: 1 reports accepted"),
            "{stdout}"
        );
        assert_eq!(lab.show(&addrs[0]).unwrap()["report_score"], score);
    }
}
