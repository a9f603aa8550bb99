//! What a newcomer's lab holds on disk and shows: the cleanup tools on the
//! page a quarantined subscriber sees (with size and SHA-256), and files
//! that hold personal data or secrets kept from other users (the config
//! 0640, the store and its WAL 0600), as the systemd units keep them.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::lab;
use cordon_lab::tools::{CHECKLIST, checklist, sha256_hex};

#[test]
fn the_cleanup_page_offers_the_labs_checklist_with_its_size_and_sha256() {
    let lab = lab("tools").subscribers(1).daemons(true).up().unwrap();
    let caught = lab.subscriber(0);
    let addr = caught.ipv4().to_string();
    lab.cordon_ok(&["quarantine", &addr, "--reason", "tools test"])
        .unwrap();
    let portal = lab.gateway().portal_url().to_owned();
    let page = caught
        .curl(&portal, &["-H", "Accept-Language: en"])
        .unwrap();
    assert_eq!(page.status, Some(200), "{page:?}");

    let body = &page.body;
    let sha = sha256_hex(checklist());
    let size = format!("({} KB)", checklist().len().div_ceil(1000));
    // The list item that names it (minijinja writes the href's slash as
    // `&#x2f;`).
    let named = body
        .find("Cleanup checklist to print")
        .unwrap_or_else(|| panic!("the page offers no checklist:\n{body}"));
    let start = body[..named].rfind("<li>").unwrap();
    let end = named + body[named..].find("</li>").unwrap();
    let item = &body[start..end];
    assert!(item.contains(&format!("{CHECKLIST}\" download")), "{item}");
    assert!(item.contains("Cleanup checklist to print"), "{item}");
    assert!(item.contains(&size), "size {size} missing: {item}");
    assert!(item.contains(&format!("<code>{sha}</code>")), "{item}");

    // And the quarantined subscriber gets exactly those bytes.
    let file = caught
        .curl(&format!("{portal}tools/{CHECKLIST}"), &[])
        .unwrap();
    assert_eq!(file.status, Some(200), "{file:?}");
    assert_eq!(sha256_hex(file.body.as_bytes()), sha);
}

/// The permission bits of `path`, in octal as `ls` and `chmod` write them.
fn mode(path: &std::path::Path) -> String {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", mode & 0o777)
}

#[test]
fn the_labs_config_and_store_are_kept_from_other_users() {
    let lab = lab("files").subscribers(1).daemons(true).up().unwrap();
    let config = lab.run_dir().join("cordon.yaml");
    assert_eq!(
        mode(&config),
        "640",
        "the config (RADIUS and webhook secrets) must not be world-readable"
    );
    // Group: the portal's user's, which reads it, as in deploy/README.md.
    let portal_user = lab.config().portal.user.clone().unwrap();
    let account = nix::unistd::User::from_name(&portal_user).unwrap().unwrap();
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, account.gid.as_raw()));

    // A quarantine makes cordond write, so the WAL and its index exist.
    let addr = lab.subscriber(0).ipv4().to_string();
    lab.cordon_ok(&["quarantine", &addr, "--reason", "files test"])
        .unwrap();
    let store = lab
        .config()
        .store
        .sqlite_path()
        .expect("the lab keeps a SQLite store")
        .to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", store.display()));
        assert_eq!(
            mode(&path),
            "600",
            "{}: the store holds personal data",
            path.display()
        );
    }
}
