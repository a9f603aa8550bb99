//! The SQLite backend against real files in a temporary directory: the
//! whole store battery, and what only SQLite can show (WAL, the schema
//! version and its migrations, the append-only trigger, refusing a torn or
//! foreign file, file modes).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use super::schema::MIGRATIONS;
use super::schema_version;
use crate::store::battery::{Harness, audit, config, quarantined, write_quarantined};
use crate::store::{Loaded, Store, StoreError, Write};

/// A store file in a directory of its own.
struct File {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

fn file() -> File {
    let dir = tempfile::tempdir().unwrap();
    File {
        path: dir.path().join("cordon.db"),
        _dir: dir,
    }
}

impl Harness for File {
    fn open(&self) -> BoxFuture<'_, Result<(Store, Loaded), StoreError>> {
        Box::pin(async move { Store::open(&self.path) })
    }

    fn refuse_host<'a>(&'a self, address: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let name = address.replace(['.', ':', '/'], "_");
            rusqlite::Connection::open(&self.path)
                .unwrap()
                .execute_batch(&format!(
                    "CREATE TRIGGER refuse_{name} BEFORE INSERT ON hosts
                     WHEN new.address = '{address}'
                     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
                ))
                .unwrap();
        })
    }
}

crate::store_battery!(file());

#[tokio::test]
async fn a_new_store_is_migrated_to_the_latest_version_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/cordon.db");
    let (store, loaded) = Store::open(&path).unwrap();
    assert!(loaded.hosts.is_empty());
    assert_eq!(
        schema_version(&path).unwrap(),
        Some(i64::try_from(MIGRATIONS.len()).unwrap())
    );
    let h = write_quarantined(&store, "100.64.1.7", 100).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert!(dir.path().join("sub/cordon.db-wal").exists());
    drop(store);
    // Reopening does not migrate again and reads the record back.
    let (_store, loaded) = Store::open(&path).unwrap();
    let (hosts, _, rejected) = loaded.into_parts(&config());
    assert!(rejected.is_empty());
    assert_eq!(hosts, vec![h]);
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
    write_quarantined(&store, "100.64.1.7", 100).await;
    // And a new one, created by this cordond.
    let fresh = dir.path().join("fresh.db");
    let (_fresh, _) = Store::open(&fresh).unwrap();
    for file in ["cordon.db", "cordon.db-wal", "cordon.db-shm", "fresh.db"] {
        assert_eq!(mode_of(&dir.path().join(file)), "600", "{file}");
    }
}

#[tokio::test]
async fn a_store_of_the_first_schema_version_is_migrated_with_its_records() {
    let f = file();
    // A store as the first cordond left it: version 1, a quarantine and
    // its audit entry, and no reports table yet.
    let h = quarantined("100.64.1.7", 100);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch("PRAGMA user_version = 1;").unwrap();
        let record = serde_json::to_string(&crate::store::Record::of(&h)).unwrap();
        conn.execute(
            "INSERT INTO hosts (address, state, record, updated_at) VALUES ('100.64.1.7', 'quarantined', ?1, 100)",
            [record],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO audit (at, address, from_state, to_state, actor, note)
             VALUES (100, '100.64.1.7', 'clean', 'quarantined', 'alice', 'ticket');",
        )
        .unwrap();
    }
    let (store, loaded) = Store::open(&f.path).unwrap();
    assert_eq!(
        schema_version(&f.path).unwrap(),
        Some(i64::try_from(MIGRATIONS.len()).unwrap())
    );
    assert_eq!(loaded.into_parts(&config()).0, vec![h.clone()]);
    assert_eq!(
        store.history(None, None, 10).await.unwrap()[0].note,
        "ticket"
    );
    // What the later versions added works on the migrated file.
    store
        .write(vec![Write::Report(crate::store::StoredReport {
            unit: "100.64.1.7".into(),
            subscriber: None,
            address: "100.64.1.7".into(),
            at: 200,
            received_at: 200,
            source: "fbl".into(),
            kind: cordon_policy::ReportKind::Other,
            evidence: "spam".into(),
            message_id: None,
            weight: 1,
            counted: true,
        })])
        .await
        .unwrap();
    assert_eq!(store.reports().await.unwrap().len(), 1);
}

/// Walks an error's sources to the first of type `T`.
fn find_source<T: std::error::Error + 'static>(err: &StoreError) -> Option<&T> {
    let mut next = std::error::Error::source(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(found) = e
            .downcast_ref::<crate::store::Shared>()
            .and_then(|shared| shared.reason().downcast_ref::<T>())
        {
            return Some(found);
        }
        next = e.source();
    }
    None
}

#[tokio::test]
async fn a_failed_commit_keeps_sqlites_reason_for_every_writer_in_the_group() {
    let f = file();
    let (store, _) = Store::open(&f.path).unwrap();
    f.refuse_host("100.64.1.7").await;
    let h = quarantined("100.64.1.7", 1);
    let err = store.write(vec![Write::Host(h, 1)]).await.unwrap_err();
    let reason: &rusqlite::Error = find_source(&err).expect("SQLite's error is the source");
    assert!(
        reason.to_string().contains("refused by the test"),
        "{reason}"
    );
    assert!(err.to_string().contains("refused by the test"), "{err}");
    assert!(err.to_string().contains("check the disk"), "{err}");
}

#[test]
fn an_unreadable_file_keeps_sqlites_reason() {
    let f = file();
    std::fs::write(&f.path, vec![0x5au8; 8192]).unwrap();
    let err = Store::open(&f.path).unwrap_err();
    assert!(find_source::<rusqlite::Error>(&err).is_some(), "{err:?}");
}

/// SQLite's plan for `sql` on the store at `path`, one step a line.
fn plan(path: &Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    // Parameters unknown, as when SQLite prepares the statement.
    let nulls = vec![rusqlite::types::Value::Null; stmt.parameter_count()];
    let steps = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .unwrap();
    steps.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn session_questions_are_index_searches() {
    use super::sessions::{END, OF_EVERYONE, OF_SUBSCRIBER, OPEN, PURGE, holder_sql};
    let f = file();
    let (_store, _) = Store::open(&f.path).unwrap();
    // Who held an address when: a search per address given, however many.
    for n in [1, 129] {
        let found = plan(&f.path, &holder_sql(n));
        let search = "SEARCH sessions USING INDEX sessions_address (address=? AND started<?)";
        assert!(found.contains(search), "{n} addresses: {found}");
    }
    for (sql, step) in [
        (
            OF_SUBSCRIBER,
            "SEARCH sessions USING INDEX sessions_subscriber (subscriber=?)",
        ),
        (OPEN, "SCAN sessions USING INDEX sessions_open"),
        (
            END,
            "SEARCH sessions USING INDEX sessions_open (subscriber=? AND address=?)",
        ),
        (
            PURGE,
            "SEARCH sessions USING INDEX sessions_ended (ended<?)",
        ),
        // Everyone's, newest first: read in index order, stopping at the
        // limit, with no sort.
        (OF_EVERYONE, "SCAN sessions USING INDEX sessions_started"),
    ] {
        let found = plan(&f.path, sql);
        assert!(found.lines().any(|l| l == step), "{sql}: {found}");
    }
    let found = plan(&f.path, OF_EVERYONE);
    assert!(!found.contains("TEMP B-TREE"), "{found}");
}

mod migrations;
