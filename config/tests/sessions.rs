//! The `sessions` section: RADIUS accounting clients and their secrets.

#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

use std::path::Path;

use cordon_config::{ConfigErrors, SecretError, load_str};
use cordon_testkit::MINIMAL;

fn load(radius: &str) -> Result<cordon_config::Config, ConfigErrors> {
    load_str(
        &format!("{MINIMAL}sessions:\n  radius:\n{radius}"),
        Path::new("test.yaml"),
    )
}

fn error(radius: &str) -> String {
    load(radius).expect_err("should be refused").to_string()
}

#[test]
fn a_client_with_a_long_enough_inline_secret_loads() {
    let c = load("    listen: 127.0.0.1:1813\n    clients:\n      - {address: 192.0.2.10, secret: a-long-shared-secret}\n").unwrap();
    let r = c.sessions.radius.unwrap();
    assert_eq!(r.listen.port(), 1813);
    assert_eq!(
        r.secret_for("192.0.2.10".parse().unwrap()),
        Some("a-long-shared-secret")
    );
    assert_eq!(r.secret_for("192.0.2.11".parse().unwrap()), None);
}

#[test]
fn short_missing_doubled_or_repeated_secrets_are_refused() {
    let e = error(
        "    listen: 127.0.0.1:1813\n    clients:\n      - {address: 192.0.2.10, secret: short}\n",
    );
    assert!(e.contains("at least 16"), "{e}");
    let e = error("    listen: 127.0.0.1:1813\n    clients:\n      - {address: 192.0.2.10}\n");
    assert!(e.contains("secret_file"), "{e}");
    let e = error(
        "    listen: 127.0.0.1:1813\n    clients:\n      - {address: 192.0.2.10, secret: a-long-shared-secret, secret_file: /x}\n",
    );
    assert!(e.contains("not both"), "{e}");
    let e = error(
        "    listen: 127.0.0.1:1813\n    clients:\n      - {address: 192.0.2.10, secret: a-long-shared-secret}\n      - {address: 192.0.2.10, secret: a-long-shared-secret}\n",
    );
    assert!(e.contains("listed twice"), "{e}");
    let e = error("    listen: 127.0.0.1:1813\n    clients: []\n");
    assert!(e.contains("at least one accounting client"), "{e}");
    let e = error("    listen: 127.0.0.1:1813\n    clients: []\n    timeout: 3s\n");
    assert!(e.contains("unknown field `timeout`"), "{e}");
}

#[test]
fn a_secret_file_is_read_only_when_asked_and_checked_then() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("radius.secret");
    let yaml = format!(
        "    listen: 127.0.0.1:1813\n    clients:\n      - address: 192.0.2.0/24\n        secret_file: {}\n",
        file.display()
    );
    // Loading does not read it (the portal loads the same config and must
    // not need to read the secret).
    let c = load(&yaml).unwrap();
    let client = &c.sessions.radius.as_ref().unwrap().clients[0];
    assert!(matches!(
        client.read_secret(),
        Err(SecretError::Unreadable { .. })
    ));
    std::fs::write(&file, "too-short\n").unwrap();
    let e = client.read_secret().unwrap_err().to_string();
    assert!(
        e.contains("at least 16") && e.contains("radius.secret"),
        "{e}"
    );
    std::fs::write(&file, "a-long-shared-secret\n").unwrap();
    assert_eq!(client.read_secret().unwrap(), "a-long-shared-secret");
}
