//! Rendering the ruleset for representative configs.
//!
//! The golden files under `tests/golden/` were read line by line by a person
//! when they were written; a change to them shows up in review as a diff of
//! the ruleset itself. `CORDON_BLESS=1 cargo test -p cordon-rules` rewrites
//! them — then read the diff before committing.

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_config::{Config, load_file};
use cordon_rules::{Carried, SmtpSeen, render};
use cordon_testkit::Fixture;

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("CORDON_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "ruleset differs from {}; run with CORDON_BLESS=1 and review the diff\n{actual}",
        path.display()
    );
}

fn example() -> Config {
    load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../cordon.example.yaml")).unwrap()
}

#[test]
fn example_config_renders_the_reviewed_ruleset() {
    let c = example();
    let carried = Carried {
        quarantined: vec![
            c.subscriber_addr("100.64.3.7").unwrap(),
            c.subscriber_addr("2001:db8:1000:7::99").unwrap(),
        ],
        noticed: vec![
            c.subscriber_addr("100.64.3.8").unwrap(),
            c.subscriber_addr("2001:db8:1000:8::1").unwrap(),
        ],
        garden: vec!["192.0.2.99/32".parse().unwrap()],
        smtp_recent: vec![SmtpSeen {
            key: "100.64.3.7".parse().unwrap(),
            expires: Duration::from_secs(3000),
            attempts: 42,
        }],
        smtp_held: vec![SmtpSeen {
            key: "2001:db8:1000:7::".parse().unwrap(),
            expires: Duration::from_secs(600),
            attempts: 2,
        }],
    };
    golden("example.nft", &render(&c, &carried).unwrap());
}

#[test]
fn monitor_mode_counts_without_refusing() {
    let c = Fixture::new()
        .section(
            "subscribers",
            "prefixes: [100.64.0.0/16], ipv6_quarantine_prefix: 56",
        )
        .section("interfaces", "downlink: [eth1], uplink: [eth0]")
        .set("port25.mode", "monitor")
        .set("portal.redirect_port", 9999)
        .load();
    let text = render(&c, &Carried::default()).unwrap();
    assert!(text.contains("port 25 in monitor mode"));
    assert!(!text.contains("port 25 blocked"));
    assert!(text.contains("redirect to :9999"));
    assert!(text.contains("ip6 saddr & ffff:ffff:ffff:ff00::"));
    assert!(text.contains(r#"iifname "eth1" jump from_subscriber"#));
}

#[test]
fn off_mode_still_counts_attempts() {
    let c = Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .set("interfaces.downlink", "[eth1]")
        .set("port25.mode", "off")
        .load();
    let text = render(&c, &Carried::default()).unwrap();
    assert!(!text.contains("port 25 blocked"));
    assert!(!text.contains("monitor mode"));
    assert!(text.contains("jump smtp_attempt"));
}

#[test]
fn every_rule_explains_itself() {
    let text = render(&example(), &Carried::default()).unwrap();
    for line in text.lines().map(str::trim) {
        let is_rule = !(line.is_empty()
            || line.starts_with('#')
            || line.starts_with("table ")
            || line.starts_with("set ")
            || line.starts_with("chain ")
            || line.starts_with("type ")
            || line.starts_with("size ")
            || line.starts_with("flags ")
            || line.starts_with("timeout ")
            || line.starts_with("comment ")
            || line.starts_with("elements ")
            || line == "}");
        if is_rule {
            assert!(
                line.contains(" comment \""),
                "rule without a comment: {line}"
            );
        }
    }
}
