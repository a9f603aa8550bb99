//! The schema, one migration per version. `PRAGMA user_version` holds the
//! version applied; each migration runs in the transaction that sets it.

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
