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
    // v3: subscribers and sessions (issue 13). `sessions` is the history of
    // who held which address (a quarantine unit as text) from when to when;
    // `ended` is NULL while the address is held. Its indexes serve the
    // store's questions: `sessions_address` "who held A at T" (an index
    // search on address and started, checked with EXPLAIN QUERY PLAN in the
    // tests), `sessions_subscriber` one subscriber's history newest first
    // (the rowid, the id, is the index's last column, so "ORDER BY started
    // DESC, id DESC" needs no sort), `sessions_started` everyone's,
    // `sessions_open` the open rows (a restart loads them, a session's end
    // closes them), `sessions_ended` the retention purge (partial, so the
    // planner cannot take it for the open rows). `subscribers` is a
    // host record keyed by subscriber rather than address, like `hosts`.
    // The audit trail and reports name the subscriber when one was known
    // (NULL in rows written before, and for addresses nobody held). ADD
    // COLUMN edits only the schema, so the audit table's append-only
    // triggers do not fire (the migration test checks it on a file with
    // audit rows).
    r#"
    CREATE TABLE sessions (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        subscriber      TEXT NOT NULL,
        address         TEXT NOT NULL,
        source          TEXT NOT NULL CHECK (source IN ('radius', 'dhcp', 'ppp', 'operator')),
        session_id      TEXT,
        nas             TEXT,
        calling_station TEXT,
        started         INTEGER NOT NULL,
        ended           INTEGER
    );
    CREATE INDEX sessions_address ON sessions (address, started);
    CREATE INDEX sessions_subscriber ON sessions (subscriber, started);
    CREATE INDEX sessions_started ON sessions (started);
    CREATE INDEX sessions_open ON sessions (subscriber, address) WHERE ended IS NULL;
    CREATE INDEX sessions_ended ON sessions (ended) WHERE ended IS NOT NULL;
    CREATE TABLE subscribers (
        id         TEXT PRIMARY KEY,
        state      TEXT NOT NULL CHECK (state IN ('clean', 'quarantined', 'probation')),
        record     TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX subscribers_state ON subscribers (state);
    ALTER TABLE audit ADD COLUMN subscriber TEXT;
    CREATE INDEX audit_subscriber ON audit (subscriber, id);
    ALTER TABLE reports ADD COLUMN subscriber TEXT;
    CREATE INDEX reports_subscriber ON reports (subscriber, at);
    "#,
    // v4: the kind of each outside report (spam, bot, sinkhole, ...), which
    // the config weighs; reports stored before kinds existed are `other`.
    r#"
    ALTER TABLE reports ADD COLUMN kind TEXT NOT NULL DEFAULT 'other';
    "#,
    // v5: the marks of batches applied (`Write::Mark`, issue 15): a
    // gateway's outbox sends each batch with its gateway name and number,
    // and a batch whose mark is here is not applied again. `applied_at`
    // (Unix seconds, this machine's clock) is what the retention purge
    // goes by.
    r#"
    CREATE TABLE marks (
        gateway    TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        applied_at INTEGER NOT NULL,
        PRIMARY KEY (gateway, seq)
    ) WITHOUT ROWID;
    CREATE INDEX marks_applied ON marks (applied_at);
    "#,
    // v6: the `noticed` state (issue 16). SQLite cannot change a CHECK
    // constraint in place, so `hosts` and `subscribers` are copied into
    // tables that allow it, in the migration's transaction. The notice's
    // own fields (review, acknowledgement, crossings) are in the record's
    // JSON like every other field.
    r#"
    CREATE TABLE hosts_v6 (
        address    TEXT PRIMARY KEY,
        state      TEXT NOT NULL CHECK (state IN ('clean', 'noticed', 'quarantined', 'probation')),
        record     TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    INSERT INTO hosts_v6 (address, state, record, updated_at)
        SELECT address, state, record, updated_at FROM hosts;
    DROP TABLE hosts;
    ALTER TABLE hosts_v6 RENAME TO hosts;
    CREATE INDEX hosts_state ON hosts (state);
    CREATE TABLE subscribers_v6 (
        id         TEXT PRIMARY KEY,
        state      TEXT NOT NULL CHECK (state IN ('clean', 'noticed', 'quarantined', 'probation')),
        record     TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    INSERT INTO subscribers_v6 (id, state, record, updated_at)
        SELECT id, state, record, updated_at FROM subscribers;
    DROP TABLE subscribers;
    ALTER TABLE subscribers_v6 RENAME TO subscribers;
    CREATE INDEX subscribers_state ON subscribers (state);
    "#,
    // v7: the webhooks' queue (issue 16): one row per event per hook,
    // written in the commit of the decision it tells of, deleted once the
    // hook answered 2xx. `id` orders each hook's events; `gateway` is who
    // decided (each gateway sends its own).
    r#"
    CREATE TABLE webhooks (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        gateway  TEXT NOT NULL,
        hook     TEXT NOT NULL,
        event_id TEXT NOT NULL,
        at       INTEGER NOT NULL,
        body     TEXT NOT NULL
    );
    CREATE INDEX webhooks_queue ON webhooks (gateway, hook, id);
    CREATE INDEX webhooks_at ON webhooks (at);
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
