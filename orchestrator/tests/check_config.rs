//! `cordon check-config` refuses what a daemon or the kernel would refuse,
//! and keys nothing reads, with exit code 2 and a message that names the key
//! and its line and column. The real `cordon` binary; the bounds checked
//! against the real `nft` in a network namespace of the test's own.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use cordon_testkit::Netns;

const BASE: &str = r#"subscribers: { prefixes: [100.64.0.0/16, "2001:db8::/32"] }
interfaces: { downlink: [sub0], uplink: [up0] }
walled_garden: { resolvers: [192.0.2.53] }
control: { socket: /nonexistent/cordon-test/control.sock }
"#;

const PORTAL: &str = "portal: { public_url: \"http://portal.test/\" }\n";

fn check(text: &str) -> (tempfile::NamedTempFile, Output) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["check-config", f.path().to_str().unwrap()])
        .output()
        .unwrap();
    (f, o)
}

/// Asserts exit 2 and that stderr names `file:line:column: key` and says `says`.
fn refused(text: &str, line: usize, key: &str, says: &str) {
    let (f, o) = check(text);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{text}\n{err}");
    let at = format!("{}:{line}:", f.path().display());
    assert!(err.contains(&at), "{key}: expected {at} in {err}");
    assert!(
        err.contains(&format!(": {key}: ")),
        "{key} not named: {err}"
    );
    assert!(err.contains(says), "{key}: expected {says:?} in {err}");
}

#[test]
fn a_quiet_period_nft_refuses_is_refused() {
    refused(
        &format!("{BASE}{PORTAL}quarantine:\n  quiet_period: 18446744073709551615s\n"),
        7,
        "quarantine.quiet_period",
        "at most 1000d",
    );
    refused(
        &format!("{BASE}{PORTAL}detection:\n  smtp_attempts: {{threshold: 9, window: 1001d}}\n"),
        7,
        "detection.smtp_attempts.window",
        "nftables",
    );
    refused(
        &format!("{BASE}{PORTAL}retention: 3651d\n"),
        6,
        "retention",
        "at most 3650d",
    );
    refused(
        &format!("{BASE}{PORTAL}relays: {{burst: 0}}\n"),
        6,
        "relays.burst",
        "expected 1 to",
    );
}

#[test]
fn a_public_url_the_portal_refuses_is_refused() {
    refused(
        &format!("{BASE}portal: {{ public_url: \"http://portal.test/\\r\\nX-Evil: 1\" }}\n"),
        5,
        "portal.public_url",
        "control characters",
    );
    refused(
        &format!("{BASE}portal: {{ public_url: \"portal.test\" }}\n"),
        5,
        "portal.public_url",
        "http://",
    );
}

#[test]
fn a_shared_or_root_portal_user_is_refused() {
    for (user, says) in [
        ("nobody", "shared by many daemons"),
        ("root", "is root"),
        ("\"0\"", "is root"),
    ] {
        refused(
            &format!("{BASE}portal:\n  public_url: \"http://portal.test/\"\n  user: {user}\n"),
            7,
            "portal.user",
            says,
        );
        let (_f, o) = check(&format!(
            "{BASE}portal:\n  public_url: \"http://portal.test/\"\n  user: {user}\n"
        ));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cordon-portal"), "says what to use: {err}");
    }
    let (_f, o) = check(&format!(
        "{BASE}portal:\n  public_url: \"http://portal.test/\"\n  user: cordon-portal\n"
    ));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn keys_nothing_reads_are_refused() {
    // Webhooks are built: a key of a hook nothing reads is refused.
    refused(
        &format!(
            "{BASE}{PORTAL}webhooks:\n  - url: http://crm.test/h\n    secret_file: /k\n    retries: 3\n"
        ),
        9,
        "webhooks[0]",
        "unknown field `retries`",
    );
    // A key of the other store backend, at its own line.
    refused(
        &format!("{BASE}{PORTAL}store:\n  backend: sqlite\n  url: \"postgres://x\"\n"),
        8,
        "store.url",
        "a key of the postgres backend, but store.backend is sqlite",
    );
    refused(
        &format!(
            "{}{PORTAL}",
            BASE.replace(
                "walled_garden: { resolvers: [192.0.2.53] }",
                "walled_garden:\n  resolvers: [192.0.2.53]\n  refresh: 15m",
            )
        ),
        5,
        "walled_garden.refresh",
        "not available in this version",
    );
    refused(
        &format!(
            "{}{PORTAL}",
            BASE.replace(
                "walled_garden: { resolvers: [192.0.2.53] }",
                "walled_garden: { resolvers: [192.0.2.53], destinations: [198.51.100.0/24, update.example.com] }",
            )
        ),
        3,
        "walled_garden.destinations[1]",
        "not available in this version",
    );
}

#[test]
fn an_oversized_or_deeply_nested_config_is_refused_before_parsing() {
    let (f, o) = check(&format!("{BASE}{PORTAL}x: {}\n", "[".repeat(100_000)));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("{}:6:", f.path().display())), "{err}");
    assert!(err.contains("nested deeper than 32"), "{err}");
    let big = format!("{BASE}{PORTAL}# {}\n", "x".repeat(17 << 20));
    let (_f, o) = check(&big);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 16 MiB"), "{err}");
}

/// The longest durations and largest relay limits check-config passes are
/// ones the real nft takes: `cordon rules` of such a config loads with
/// `nft -c -f` in a namespace of the test's own.
#[test]
fn the_largest_values_allowed_are_ones_nft_accepts() {
    let text = format!(
        "{BASE}{PORTAL}quarantine: {{quiet_period: 1000d, min_hold: 3650d, max_hold: 3650d, probation: 3650d}}\n\
         detection:\n  smtp_attempts: {{threshold: 60, window: 1000d}}\n  smtp_destinations: {{threshold: 1, window: 1000d}}\n  \
         dnsbl: {{interval: 1000d}}\n\
         relays: {{new_connections_per_minute: 1, burst: 1000000}}\n"
    );
    let (f, o) = check(&text);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rules = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["rules", "--config", f.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(rules.status.code(), Some(0));
    let ns = Netns::new("cfg");
    let out = ns.try_nft(
        &["-c", "-f", "-"],
        Some(&String::from_utf8_lossy(&rules.stdout)),
    );
    assert!(
        out.status.success(),
        "nft refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
