//! The real `cordond` and `cordon` in a network namespace of their own (a
//! unique `cl-` name, removed by a guard even when a test panics): the
//! kernel's set follows the CLI, a `kill -9` mid-burst loses nothing that
//! was acknowledged, a table deleted by hand comes back (and elements of
//! the quarantine and notice sets changed by hand), a broken config on
//! SIGHUP is refused. Needs root (CAP_NET_ADMIN) and nftables.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Lab, set};
use cordon_testkit::eventually;

#[test]
fn the_systemd_watchdog_is_pinged_while_the_core_answers() {
    let mut lab = Lab::new("wd");
    let path = lab.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    lab.start_with_env(&[
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
    ]);
    let mut messages = Vec::new();
    let mut buf = [0u8; 256];
    while messages
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 2
    {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            // A signal to this test process (another test's child ending)
            // is not the end of the wait.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("no watchdog ping ({e}); got {messages:?}"),
        };
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(messages[0].contains("READY=1"), "{messages:?}");
}

#[test]
fn quarantine_and_release_through_the_cli_change_the_kernel_set() {
    let mut lab = Lab::new("qr");
    lab.start();
    assert_eq!(lab.kernel_set(), Some(set(&[])));

    let o = lab.cordon(&["quarantine", "100.64.1.7", "--reason", "ticket 1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = lab.cordon(&[
        "quarantine",
        "2001:db8:1:2::5",
        "--reason",
        "v6",
        "--hold",
        "2h",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Acknowledged means already in the kernel: no polling needed.
    assert_eq!(
        lab.kernel_set(),
        Some(set(&["100.64.1.7", "2001:db8:1:2::"]))
    );

    let o = lab.cordon(&["--json", "show", "100.64.1.7"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["state"], "quarantined");
    assert_eq!(doc["reason"], "operator");
    assert_eq!(doc["until"], serde_json::Value::Null);
    assert_eq!(doc["self_releases_left"], 2);
    for key in ["address", "since", "smtp_attempts", "last_smtp_attempt"] {
        assert!(doc.get(key).is_some(), "show --json lacks {key}");
    }
    let o = lab.cordon(&["--json", "show", "2001:db8:1:2::77"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["address"], "2001:db8:1:2::/64");
    assert!(doc["until"].is_i64());

    // Refusals: an overlapping range (2), a release of a clean host (1), and
    // bad input checked by the daemon itself when the CLI has no config (2).
    let o = lab.cordon(&["quarantine", "100.64.1.0/24", "--reason", "x"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = lab.cordon(&["release", "100.64.1.8", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(1));
    let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "--socket",
            &lab.socket(),
            "quarantine",
            "8.8.8.8",
            "--reason",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = lab.cordon(&["release", "100.64.1.7", "--reason", "cleaned"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lab.kernel_set(), Some(set(&["2001:db8:1:2::"])));
    let o = lab.cordon(&["--json", "show", "100.64.1.7"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["state"], "probation");

    let o = lab.cordon(&["--json", "history", "100.64.1.7"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["note"], "cleaned");
    assert_eq!(entries[0]["actor"], "root");

    // SIGTERM: a clean stop that leaves the table (and its quarantines) in place.
    lab.signal("-TERM");
    lab.wait_exit();
    assert_eq!(lab.kernel_set(), Some(set(&["2001:db8:1:2::"])));
}

#[test]
fn kill_9_during_200_parallel_quarantines_loses_nothing_acknowledged() {
    let mut lab = Lab::new("k9");
    lab.start();
    let config = lab.config();
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..40 {
        let (config, acked, done) = (config.clone(), acked.clone(), done.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0..5 {
                let n = t * 5 + i;
                let addr = format!("100.64.{}.{}", 10 + n / 200, n % 200 + 2);
                let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
                    .arg("--config")
                    .arg(&config)
                    .args(["quarantine", &addr, "--reason", "burst"])
                    .output()
                    .unwrap();
                if o.status.code() == Some(0) {
                    acked.lock().unwrap().insert(addr);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    eventually(
        Duration::from_secs(60),
        "some quarantines acknowledged",
        || done.load(Ordering::SeqCst) >= 20,
    );
    lab.signal("-KILL");
    for t in threads {
        t.join().unwrap();
    }
    lab.wait_exit();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 20 && acked.len() < 200,
        "acked {} (the kill came too late to test anything?)",
        acked.len()
    );

    lab.start();
    let stored = lab.listed();
    let kernel = lab.kernel_set().unwrap();
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the store: {missing:?}"
    );
    assert_eq!(
        stored, kernel,
        "store and kernel disagree after the restart"
    );
}

/// `cordon status` counts noticed hosts beside quarantined ones, in words
/// and in `--json`.
#[test]
fn status_counts_noticed_and_quarantined_hosts() {
    let mut lab = Lab::new("st");
    lab.start();
    for args in [
        ["quarantine", "100.64.5.1", "--reason", "x"],
        ["notice", "100.64.5.2", "--reason", "x"],
        ["notice", "2001:db8:1:5::9", "--reason", "x"],
    ] {
        let o = lab.cordon(&args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = lab.cordon(&["--json", "status"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["quarantined"], 1, "{doc}");
    assert_eq!(doc["noticed"], 2, "{doc}");
    assert_eq!(doc["probation"], 0, "{doc}");
    let o = lab.cordon(&["status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("\nquarantined 1, noticed 2, on probation 0\n"),
        "{text}"
    );
}

#[test]
fn a_table_deleted_by_hand_is_restored_at_the_next_reconcile() {
    let mut lab = Lab::new("rt");
    lab.start();
    let o = lab.cordon(&["quarantine", "100.64.3.3", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        lab.nft(&["delete", "table", "inet", "cordon"])
            .status
            .success()
    );
    eventually(
        Duration::from_secs(10),
        "the table restored with its quarantine",
        || lab.kernel_set() == Some(set(&["100.64.3.3"])),
    );
    // An element removed by hand comes back too.
    assert!(
        lab.nft(&[
            "delete",
            "element",
            "inet",
            "cordon",
            "quarantined_v4",
            "{ 100.64.3.3 }"
        ])
        .status
        .success()
    );
    eventually(Duration::from_secs(10), "the element restored", || {
        lab.kernel_set() == Some(set(&["100.64.3.3"]))
    });
}

/// The reconcile compares the notice sets with the store too: a notice
/// element deleted by hand comes back, and one added by hand (no notice in
/// the store) goes. (The nftables monitor hears no element changes; the
/// reconcile, every second here, is what finds these.)
#[test]
fn notice_elements_changed_by_hand_are_put_right_at_the_next_reconcile() {
    let mut lab = Lab::new("rn");
    lab.start();
    for addr in ["100.64.6.1", "2001:db8:1:6::9"] {
        let o = lab.cordon(&["notice", addr, "--reason", "x"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let noticed = set(&["100.64.6.1", "2001:db8:1:6::"]);
    assert_eq!(lab.kernel_noticed(), Some(noticed.clone()));
    let nft_ok = |args: &[&str]| {
        let o = lab.nft(args);
        assert!(
            o.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    nft_ok(&[
        "delete",
        "element",
        "inet",
        "cordon",
        "noticed_v4",
        "{ 100.64.6.1 }",
    ]);
    nft_ok(&[
        "add",
        "element",
        "inet",
        "cordon",
        "noticed_v4",
        "{ 100.64.6.2 }",
    ]);
    nft_ok(&[
        "delete",
        "element",
        "inet",
        "cordon",
        "noticed_v6",
        "{ 2001:db8:1:6:: }",
    ]);
    eventually(
        Duration::from_secs(10),
        "the notice set as the store says",
        || lab.kernel_noticed() == Some(noticed.clone()),
    );
    // The quarantine set was never part of it.
    assert_eq!(lab.kernel_set(), Some(set(&[])));
    let log = lab.log();
    assert!(
        log.contains(
            "in the kernel's notice set but not noticed (and showing) in the store; removing it"
        ),
        "{log}"
    );
}

#[test]
fn sighup_with_a_broken_config_keeps_the_running_one() {
    let mut lab = Lab::new("hup");
    lab.start();
    let o = lab.cordon(&["quarantine", "100.64.4.4", "--reason", "x"]);
    assert_eq!(o.status.code(), Some(0));
    let good = std::fs::read_to_string(lab.config()).unwrap();
    std::fs::write(lab.config(), "subscribers: [this is not valid\n").unwrap();
    lab.signal("-HUP");
    eventually(Duration::from_secs(10), "the refusal logged", || {
        lab.log().contains("keeping the running one")
    });
    // A setting the running daemon is built around needs a restart.
    lab.fixture(8081)
        .set("subscribers.ipv6_quarantine_prefix", 56)
        .write(lab.dir.path());
    lab.signal("-HUP");
    eventually(
        Duration::from_secs(10),
        "the restart-only change refused",
        || {
            lab.log()
                .contains("subscribers.ipv6_quarantine_prefix` cannot change while cordond runs")
        },
    );
    std::fs::write(lab.config(), &good).unwrap();
    // Still serving with the old table and its quarantine.
    assert_eq!(lab.kernel_set(), Some(set(&["100.64.4.4"])));
    assert_eq!(lab.cordon(&["status"]).status.code(), Some(0));
    // A good config is taken, and the quarantine carried over.
    lab.write_config(8099);
    lab.signal("-HUP");
    eventually(Duration::from_secs(10), "the new ruleset installed", || {
        String::from_utf8_lossy(&lab.nft(&["list", "table", "inet", "cordon"]).stdout)
            .contains(":8099")
    });
    assert_eq!(lab.kernel_set(), Some(set(&["100.64.4.4"])));
}
