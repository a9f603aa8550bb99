//! The store against real SQLite files in a temporary directory.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cordon_config::Config;
use cordon_proto::portal::{HostState, Reason};
use cordon_testkit::Fixture;

use super::*;
use cordon_policy::lifecycle::{Audit, Host, Quarantined, State};

fn config() -> Config {
    Fixture::new().prefixes("[100.64.0.0/16]").load()
}

fn quarantined(text: &str, at: i64) -> Host {
    let mut h = Host::clean(config().subscriber_addr(text).unwrap());
    h.state = State::Quarantined(Quarantined {
        since: at,
        reason: Reason::Operator,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
        hold_until: at + 60,
        until: None,
        self_release: true,
        relapses: 0,
        evidence: Default::default(),
    });
    h
}

fn audit(h: &Host, at: i64) -> Audit {
    Audit {
        at,
        addr: h.addr,
        from: HostState::Clean,
        to: HostState::Quarantined,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
    }
}

#[tokio::test]
async fn a_new_store_is_migrated_to_the_latest_version_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/cordon.db");
    let (store, loaded) = Store::open(&path).unwrap();
    assert!(loaded.hosts.is_empty());
    assert_eq!(schema_version(&path).unwrap(), Some(2));
    let h = quarantined("100.64.1.7", 100);
    store
        .write(vec![
            Write::Host(h.clone(), 100),
            Write::Audit(audit(&h, 100)),
        ])
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(dir.path().join("sub/cordon.db-wal").exists());
    drop(store);
    // Reopening does not migrate again and reads the record back.
    let (_store, loaded) = Store::open(&path).unwrap();
    let (hosts, rejected) = loaded.into_hosts(&config());
    assert!(rejected.is_empty());
    assert_eq!(hosts, vec![h]);
}

#[tokio::test]
async fn history_is_newest_first_and_filters_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("c.db")).unwrap();
    let a = quarantined("100.64.1.7", 1);
    let b = quarantined("100.64.1.8", 2);
    store
        .write(vec![Write::Audit(audit(&a, 1)), Write::Audit(audit(&b, 2))])
        .await
        .unwrap();
    let all = store.history(None, 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), vec![2, 1]);
    let only = store.history(Some("100.64.1.7".into()), 10).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].address, "100.64.1.7");
}

#[tokio::test]
async fn the_audit_trail_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let (store, _) = Store::open(&path).unwrap();
    let a = quarantined("100.64.1.7", 1);
    store.write(vec![Write::Audit(audit(&a, 1))]).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let upd = conn.execute("UPDATE audit SET note = 'x'", []);
    assert!(upd.unwrap_err().to_string().contains("append-only"));
    let del = conn.execute("DELETE FROM audit", []);
    assert!(del.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn retention_purge_removes_old_audit_and_clean_records_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let (store, _) = Store::open(&path).unwrap();
    let old = quarantined("100.64.1.7", 10);
    let mut old_clean = Host::clean(config().subscriber_addr("100.64.1.9").unwrap());
    old_clean.self_releases = vec![5];
    let new = quarantined("100.64.1.8", 1000);
    store
        .write(vec![
            Write::Host(old.clone(), 10),
            Write::Host(old_clean, 10),
            Write::Host(new.clone(), 1000),
            Write::Audit(audit(&old, 10)),
            Write::Audit(audit(&new, 1000)),
        ])
        .await
        .unwrap();
    store
        .write(vec![Write::Purge { before: 500 }])
        .await
        .unwrap();
    let left = store.history(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, 1000);
    drop(store);
    let (_s, loaded) = Store::open(&path).unwrap();
    let mut names: Vec<_> = loaded.hosts.iter().map(|h| h.address.clone()).collect();
    names.sort();
    // The old quarantine is still in force, so it stays; the clean one goes.
    assert_eq!(names, vec!["100.64.1.7", "100.64.1.8"]);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let junk = vec![0x5au8; 8192];
    std::fs::write(&path, &junk).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("will not start"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        junk,
        "the file was not touched"
    );
}

#[tokio::test]
async fn a_damaged_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    {
        let (store, _) = Store::open(&path).unwrap();
        let writes = (0..300)
            .map(|i| {
                let h = quarantined(&format!("100.64.{}.{}", i / 200 + 1, i % 200 + 2), i);
                Write::Host(h, i)
            })
            .collect();
        store.write(writes).await.unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    // Scribble over the pages after the first (the schema stays readable).
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "{}", bytes.len());
    for b in &mut bytes[4096 + 100..3 * 4096] {
        *b = 0x77;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt { .. } | StoreError::Unreadable { .. } | StoreError::Io { .. }
        ),
        "{err}"
    );
}

#[test]
fn a_store_from_a_newer_cordond_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

#[tokio::test]
async fn reports_are_kept_reloaded_and_purged_with_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let (store, _) = Store::open(&path).unwrap();
    let report = |at: i64, id: Option<&str>| StoredReport {
        unit: "100.64.1.7".into(),
        address: "100.64.1.7".into(),
        at,
        received_at: at,
        source: "fbl".into(),
        evidence: "spam".into(),
        message_id: id.map(String::from),
        weight: 1,
        counted: true,
    };
    store
        .write(vec![
            Write::Report(report(10, Some("<1@x>"))),
            Write::Report(report(1000, None)),
        ])
        .await
        .unwrap();
    assert_eq!(store.reports().await.unwrap().len(), 2);
    store
        .write(vec![Write::Purge { before: 500 }])
        .await
        .unwrap();
    drop(store);
    let (_s, loaded) = Store::open(&path).unwrap();
    assert_eq!(loaded.reports, vec![report(1000, None)]);
}

/// The permission bits of a file, in octal as `chmod` writes them.
fn mode_of(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    format!("{:o}", mode & 0o7777)
}

#[tokio::test]
async fn the_store_and_its_wal_are_private_to_cordond_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cordon.db");
    // An earlier run under umask 022 left the database open to everyone.
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let (store, _) = Store::open(&path).unwrap();
    let h = quarantined("100.64.1.7", 100);
    store
        .write(vec![
            Write::Host(h.clone(), 100),
            Write::Audit(audit(&h, 100)),
        ])
        .await
        .unwrap();
    // And a new one, created by this cordond.
    let fresh = dir.path().join("fresh.db");
    let (_fresh, _) = Store::open(&fresh).unwrap();
    for file in ["cordon.db", "cordon.db-wal", "cordon.db-shm", "fresh.db"] {
        assert_eq!(mode_of(&dir.path().join(file)), "600", "{file}");
    }
}
