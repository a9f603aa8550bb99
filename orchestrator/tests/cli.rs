//! `cordon`'s exit codes for input it refuses, without a daemon: 2 for bad
//! input, 1 when the daemon cannot be reached.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use cordon_testkit::Fixture;

/// A config whose daemon is never there: its socket does not exist.
fn config() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    let text = Fixture::new()
        .set("never_quarantine", "[100.64.0.1]")
        .set("control.socket", "/nonexistent/cordon-test/control.sock")
        .yaml();
    std::fs::write(f.path(), text).unwrap();
    f
}

fn cordon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(args)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

/// `cordon --config CONFIG ARGS…` is bad input: exit 2, and stderr says
/// `says`.
fn exits_2_saying(config: &str, args: &[&str], says: &str) {
    let mut full = vec!["--config", config];
    full.extend(args.iter().copied());
    let o = cordon(&full);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 2, "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
}

#[test]
fn bad_addresses_and_reasons_exit_2_with_a_reason() {
    let c = config();
    let path = c.path().to_str().unwrap();
    for (args, says) in [
        (
            vec!["quarantine", "not-an-ip", "--reason", "x"],
            "not an IP address",
        ),
        (
            vec!["quarantine", "8.8.8.8", "--reason", "x"],
            "not inside any subscriber prefix",
        ),
        (
            vec!["quarantine", "100.64.0.1", "--reason", "x"],
            "never-quarantine",
        ),
        (
            vec!["quarantine", "100.64.0.0/24", "--reason", "x"],
            "never-quarantine",
        ),
        (
            vec!["quarantine", "100.64.1.7", "--reason", "  "],
            "reason is empty",
        ),
        (
            vec![
                "quarantine",
                "100.64.1.7",
                "--reason",
                "x",
                "--hold",
                "soon",
            ],
            "--hold",
        ),
        (
            vec!["release", "100.64.1.7", "--reason", ""],
            "reason is empty",
        ),
        (vec!["show", "100.64.1.300"], "not an IP address"),
    ] {
        exits_2_saying(path, &args, says);
    }
}

#[test]
fn unknown_commands_and_missing_reasons_exit_2() {
    assert_eq!(code(&cordon(&["frobnicate"])), 2);
    assert_eq!(code(&cordon(&["quarantine", "100.64.1.7"])), 2);
}

#[test]
fn an_invalid_config_exits_2_with_file_line_and_column() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        f.path(),
        "subscribers:\n  prefixes: [100.64.0.0/16]\n  bogus: 1\n",
    )
    .unwrap();
    let path = f.path().to_str().unwrap();
    let o = cordon(&["check-config", path]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{path}:3:")), "{err}");
    let o = cordon(&["--config", path, "list"]);
    assert_eq!(code(&o), 2);
    let o = cordon(&["rules", "--config", path]);
    assert_eq!(code(&o), 2);
}

#[test]
fn a_valid_config_checks_and_renders() {
    let c = config();
    let path = c.path().to_str().unwrap();
    assert_eq!(code(&cordon(&["check-config", path])), 0);
    let o = cordon(&["rules", "--config", path]);
    assert_eq!(code(&o), 0);
    assert!(String::from_utf8_lossy(&o.stdout).contains("table inet cordon"));
}

#[test]
fn an_unreachable_daemon_exits_1_naming_the_socket() {
    let c = config();
    let o = cordon(&["--config", c.path().to_str().unwrap(), "list"]);
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent/cordon-test/control.sock"),
        "{err}"
    );
    assert!(err.contains("cordond"), "{err}");
    let o = cordon(&["--socket", "/nonexistent/x.sock", "--json", "status"]);
    assert_eq!(code(&o), 1);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["class"], "failed");
}

#[test]
fn bad_reports_and_feeds_exit_2_without_asking_the_daemon() {
    let c = config();
    let path = c.path().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.csv");
    std::fs::write(&junk, "garbage\n8.8.8.8,0,x,y\n").unwrap();
    let junk = junk.to_str().unwrap();
    for (args, says) in [
        (
            vec!["report", "8.8.8.8", "--source", "s", "--evidence", "e"],
            "not inside any subscriber prefix",
        ),
        (
            vec![
                "report",
                "100.64.1.0/24",
                "--source",
                "s",
                "--evidence",
                "e",
            ],
            "not an IP address",
        ),
        (
            vec!["report", "100.64.1.7", "--source", " ", "--evidence", "e"],
            "--source is empty",
        ),
        (
            vec![
                "report",
                "100.64.1.7",
                "--source",
                "s",
                "--evidence",
                "e",
                "--at",
                "yesterday",
            ],
            "--at yesterday",
        ),
        (vec!["import", junk], "no valid report"),
        (
            vec!["import", "/nonexistent/feed.csv"],
            "cannot read report feed",
        ),
    ] {
        exits_2_saying(path, &args, says);
    }
    // The bad lines are listed with their numbers.
    let out = cordon(&["--config", path, "import", junk]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 1:") && err.contains("line 2:"), "{err}");
    // A file in none of the formats: refused once, saying what it is,
    // not "expected 4 fields" per line.
    let json = dir.path().join("report.json");
    std::fs::write(&json, "{\"a\": 1,\n \"b\": 2,\n \"c\": 3}\n").unwrap();
    let out = cordon(&["--config", path, "import", json.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{err}");
    assert_eq!(
        err.matches("unsupported format: JSON that is not X-ARF")
            .count(),
        1,
        "{err}"
    );
    assert!(!err.contains("expected 4 fields"), "{err}");
    // A valid feed with cordond down: exit 1.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "100.64.1.7,0,fbl,spam\n").unwrap();
    let out = cordon(&["--config", path, "import", good.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
}

/// A peer that takes the request and closes without answering, as a
/// cordond that stored the change and died before its answer went out.
fn swallowing_socket(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("control.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut len = [0u8; 4];
            std::io::Read::read_exact(&mut s, &mut len).unwrap();
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            std::io::Read::read_exact(&mut s, &mut body).unwrap();
        }
    });
    path
}

#[test]
fn a_change_whose_answer_was_lost_says_it_may_have_been_applied() {
    let dir = tempfile::tempdir().unwrap();
    let socket = swallowing_socket(dir.path());
    let o = cordon(&[
        "--socket",
        socket.to_str().unwrap(),
        "quarantine",
        "100.64.1.7",
        "--reason",
        "ticket 1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    assert!(err.contains("may have been applied"), "{err}");
    assert!(err.contains("cordon show 100.64.1.7"), "{err}");
}

#[test]
fn words_over_their_bounds_exit_2_without_asking_the_daemon() {
    let c = config();
    let path = c.path().to_str().unwrap();
    let long = "x".repeat(1025);
    let evidence = "e".repeat(4097);
    for args in [
        vec!["quarantine", "100.64.1.7", "--reason", &long],
        vec!["release", "100.64.1.7", "--reason", &long],
        vec![
            "report",
            "100.64.1.7",
            "--source",
            "s",
            "--evidence",
            &evidence,
        ],
        vec!["report", "100.64.1.7", "--source", &long, "--evidence", "e"],
    ] {
        exits_2_saying(path, &args, "bytes long; at most");
    }
}

/// A peer that answers the first `report` request (every report counted)
/// and closes on the second without answering: a cordond that died
/// mid-import.
fn dying_after_one_chunk(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("dying.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut read = || {
            let mut len = [0u8; 4];
            std::io::Read::read_exact(&mut s, &mut len).ok()?;
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            std::io::Read::read_exact(&mut s, &mut body).ok()?;
            Some((
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
                s.try_clone().unwrap(),
            ))
        };
        let (first, mut w) = read().unwrap();
        let outcomes: Vec<serde_json::Value> = first["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                serde_json::json!({"address": r["address"], "counted": true, "score": 1,
                                   "threshold": 3, "state": "clean", "error": null})
            })
            .collect();
        let answer =
            serde_json::to_vec(&serde_json::json!({"kind": "reported", "outcomes": outcomes}))
                .unwrap();
        std::io::Write::write_all(&mut w, &u32::try_from(answer.len()).unwrap().to_be_bytes())
            .unwrap();
        std::io::Write::write_all(&mut w, &answer).unwrap();
        let _ = read();
    });
    path
}

#[test]
fn an_import_cut_off_says_which_reports_were_applied() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dying_after_one_chunk(dir.path());
    let feed = dir.path().join("feed.csv");
    let lines: String = (0..12_000)
        .map(|i| {
            format!(
                "100.64.{}.{},1709906400,fbl,spam\n",
                1 + i / 250,
                1 + i % 250
            )
        })
        .collect();
    std::fs::write(&feed, lines).unwrap();
    let o = cordon(&[
        "--socket",
        socket.to_str().unwrap(),
        "import",
        feed.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(code(&o), 1, "{err}");
    // The file streams: how much was read when cordond went away depends
    // on the reader; the first chunk is whole and confirmed.
    assert!(err.contains("confirmed 5000 of the "), "{err}");
    assert!(err.contains("reports read so far"), "{err}");
    assert!(err.contains("may or may not have been applied"), "{err}");
    assert!(
        err.contains("the first 5000 valid reports confirmed ("),
        "{err}"
    );
}
