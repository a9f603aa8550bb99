//! `scripts/demo` tells its story with `cordon-lab demo`; this runs the same
//! binary, so CI proves the demo holds on a fresh machine.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn the_demo_tells_the_whole_story_and_every_step_holds() {
    let resolv_before = std::fs::read("/etc/resolv.conf").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cordon-lab"))
        .arg("demo")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "Anna opens",
        "delivered",
        "Bruno is quarantined",
        "lands on",
        "each with its size and SHA-256",
        "Cleanup checklist to print (4 KB) SHA-256 ",
        "its SHA-256 matches the page",
        "cordon list",
        "Bruno's router reconnects and gets a new address",
        "he is still quarantined",
        "lands on the cleanup page again",
        "is given Bruno's old address",
        "cordon sessions",
        "Bruno is released",
        "the real site",
        "Every step held.",
    ] {
        assert!(text.contains(step), "the story misses {step:?}:\n{text}");
    }
    // The routers' DHCP client set only their namespaces' addresses.
    assert_eq!(
        std::fs::read("/etc/resolv.conf").unwrap(),
        resolv_before,
        "the machine's /etc/resolv.conf changed"
    );
}
