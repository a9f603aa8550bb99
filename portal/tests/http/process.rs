//! The portal as a process: a clean stop on SIGTERM, never serving as
//! root, and a bad config refused with exit code 2.

use super::quarantined_portal;

#[test]
fn sigterm_stops_it_cleanly() {
    let mut p = quarantined_portal();
    assert!(p.alive());
    let status = p.terminate();
    assert!(status.success(), "{status:?}");
    assert!(p.log().contains("shutting down"));
}

#[test]
fn it_never_serves_as_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: nothing to drop");
        return;
    }
    // Started as root with portal.user, it switches before serving.
    let p = quarantined_portal();
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u != "0"),
        "still root: {uid_line}"
    );
    assert!(p.log().contains("switched to an unprivileged user"));

    // Without portal.user it refuses, saying what to do.
    let config = std::fs::read_to_string(p.dir.path().join("cordon.yaml"))
        .unwrap()
        .replace("  user: cordon-portal\n", "");
    let path = p.dir.path().join("root.yaml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cordon-portal"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to run as root: set portal.user")
    );
    assert!(out.stdout.is_empty(), "no listening lines");
}

#[test]
fn a_bad_config_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "portal:\n  public_url: x\n  colour: red\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cordon-portal"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
}
