//! The schema, one migration per version. `PRAGMA user_version` holds the
//! version applied; each migration runs in the transaction that sets it.

use std::path::Path;

use rusqlite::Connection;

use crate::store::StoreError;

/// Migrations, in order: index 0 takes an empty file to version 1.
pub(crate) const MIGRATIONS: &[&str] = &[
    // v1: hosts with a state (the record as JSON, so new fields need no
    // migration), and the audit trail. The audit table refuses updates, and
    // deletes of anything newer than the purge horizon, so nobody edits
    // history through this program by mistake; only the retention purge
    // (which raises the horizon first) removes entries.
    r#"
    CREATE TABLE hosts (
        address    TEXT PRIMARY KEY,
        state      TEXT NOT NULL CHECK (state IN ('clean', 'quarantined', 'probation')),
        record     TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX hosts_state ON hosts (state);
    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        address    TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state   TEXT NOT NULL,
        actor      TEXT NOT NULL,
        note       TEXT NOT NULL
    );
    CREATE INDEX audit_address ON audit (address, id);
    CREATE INDEX audit_at ON audit (at);
    CREATE TABLE purge_horizon (id INTEGER PRIMARY KEY CHECK (id = 1), before INTEGER NOT NULL);
    INSERT INTO purge_horizon (id, before) VALUES (1, 0);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    WHEN old.at >= (SELECT before FROM purge_horizon WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only; only the retention purge removes entries'); END;
    "#,
    // v2: outside reports (abuse desk, feeds, block lists). Every report is
    // kept, duplicates too (`counted` says whether it added to the score),
    // so the report ledger can be rebuilt at start and the abuse desk can
    // see what came in. Purged with the audit trail (personal data).
    r#"
    CREATE TABLE reports (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        unit        TEXT NOT NULL,
        address     TEXT NOT NULL,
        at          INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        source      TEXT NOT NULL,
        evidence    TEXT NOT NULL,
        message_id  TEXT,
        weight      INTEGER NOT NULL,
        counted     INTEGER NOT NULL
    );
    CREATE INDEX reports_unit ON reports (unit, at);
    CREATE INDEX reports_received ON reports (received_at);
    "#,
];

/// Migrates the store forward to the latest version, each step in its own
/// transaction; refuses a store from a newer cordond.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let io = |e| StoreError::io(path, e);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(io)?;
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if version > known {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let tx = conn.transaction().map_err(io)?;
        tx.execute_batch(sql).map_err(io)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(io)?;
        tx.commit().map_err(io)?;
        tracing::info!(store = %path.display(), version = i + 1, "store schema migrated");
    }
    Ok(())
}
