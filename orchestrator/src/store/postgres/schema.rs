//! The PostgreSQL schema, migrated by refinery (its history table
//! `refinery_schema_history` records each version applied). Version 1 is
//! the SQLite schema as of its version 4, translated, plus what a fleet
//! needs from the start:
//!
//! - `gateway` on host, subscriber, audit and session rows: the configured
//!   gateway that wrote them (the abuse desk's "who decided where").
//! - `seq` on host, subscriber and session rows, from one sequence
//!   `change_seq`, set on every insert and update: the change feed other
//!   gateways read ("rows with seq > N"). Every commit that writes such a
//!   row ends with `pg_notify('cordon_changes', <highest seq written>)`.
//! - `gateways`: each gateway's name, start and heartbeat.
//!
//! Version 2 adds `marks` (see [`V2`]); version 3 lets records be
//! `noticed` ([`V3`]); version 4 adds the webhooks' queue ([`V4`]).
//!
//! The audit trail is append-only as in SQLite: a trigger refuses updates,
//! and deletes of anything at or after the purge horizon, which only the
//! retention purge raises (in its own transaction's scope).

use std::path::Path;

use refinery::Migration;

use crate::store::StoreError;

/// The migrations, in order (refinery names them `V<n>__<name>`).
const MIGRATIONS: &[(&str, &str)] = &[
    ("V1__fleet", V1),
    ("V2__marks", V2),
    ("V3__noticed", V3),
    ("V4__webhooks", V4),
];

/// v4: the webhooks' queue, as SQLite's v7: one row per event per hook,
/// committed with the decision, deleted after the hook's 2xx. Each
/// gateway reads and sends only the rows it wrote (`gateway`).
const V4: &str = r#"
CREATE TABLE webhooks (
    id       BIGSERIAL PRIMARY KEY,
    gateway  TEXT NOT NULL,
    hook     TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at       BIGINT NOT NULL,
    body     TEXT NOT NULL
);
CREATE INDEX webhooks_queue ON webhooks (gateway, hook, id);
CREATE INDEX webhooks_at ON webhooks (at);
"#;

/// v3: `noticed` records (a notice before the wall), as SQLite's v6.
const V3: &str = r#"
ALTER TABLE hosts DROP CONSTRAINT hosts_state_check;
ALTER TABLE hosts ADD CONSTRAINT hosts_state_check
    CHECK (state IN ('clean', 'noticed', 'quarantined', 'probation'));
ALTER TABLE subscribers DROP CONSTRAINT subscribers_state_check;
ALTER TABLE subscribers ADD CONSTRAINT subscribers_state_check
    CHECK (state IN ('clean', 'noticed', 'quarantined', 'probation'));
"#;

/// v2: the marks of batches already applied (`Write::Mark`), so an
/// outbox's replay of a batch the store took before the answer was lost
/// stores nothing twice. Purged with the retention horizon, by the store's
/// own clock.
const V2: &str = r#"
CREATE TABLE marks (
    gateway    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (gateway, seq)
);
CREATE INDEX marks_applied_at ON marks (applied_at);
"#;

const V1: &str = r#"
CREATE SEQUENCE change_seq AS BIGINT;
CREATE TABLE gateways (
    name         TEXT PRIMARY KEY,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
CREATE TABLE hosts (
    address    TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('clean', 'quarantined', 'probation')),
    record     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    gateway    TEXT,
    seq        BIGINT NOT NULL
);
CREATE INDEX hosts_state ON hosts (state);
CREATE INDEX hosts_seq ON hosts (seq);
CREATE TABLE subscribers (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL CHECK (state IN ('clean', 'quarantined', 'probation')),
    record     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    gateway    TEXT,
    seq        BIGINT NOT NULL
);
CREATE INDEX subscribers_state ON subscribers (state);
CREATE INDEX subscribers_seq ON subscribers (seq);
CREATE TABLE audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    address    TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    note       TEXT NOT NULL,
    subscriber TEXT,
    gateway    TEXT
);
CREATE INDEX audit_address ON audit (address, id);
CREATE INDEX audit_subscriber ON audit (subscriber, id);
CREATE INDEX audit_at ON audit (at);
CREATE TABLE purge_horizon (id INTEGER PRIMARY KEY CHECK (id = 1), before BIGINT NOT NULL);
INSERT INTO purge_horizon (id, before) VALUES (1, 0);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'the audit trail is append-only';
    END IF;
    IF OLD.at >= (SELECT before FROM purge_horizon WHERE id = 1) THEN
        RAISE EXCEPTION 'the audit trail is append-only; only the retention purge removes entries';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit        TEXT NOT NULL,
    address     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    source      TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    message_id  TEXT,
    weight      BIGINT NOT NULL,
    counted     BOOLEAN NOT NULL,
    subscriber  TEXT,
    kind        TEXT NOT NULL DEFAULT 'other'
);
CREATE INDEX reports_unit ON reports (unit, at);
CREATE INDEX reports_received ON reports (received_at);
CREATE INDEX reports_subscriber ON reports (subscriber, at);
CREATE TABLE sessions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber      TEXT NOT NULL,
    address         TEXT NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('radius', 'dhcp', 'ppp', 'operator')),
    session_id      TEXT,
    nas             TEXT,
    calling_station TEXT,
    started         BIGINT NOT NULL,
    ended           BIGINT,
    gateway         TEXT,
    seq             BIGINT NOT NULL
);
CREATE INDEX sessions_address ON sessions (address, started);
CREATE INDEX sessions_subscriber ON sessions (subscriber, started, id);
CREATE INDEX sessions_started ON sessions (started, id);
CREATE INDEX sessions_open ON sessions (subscriber, address) WHERE ended IS NULL;
CREATE INDEX sessions_ended ON sessions (ended) WHERE ended IS NOT NULL;
CREATE INDEX sessions_seq ON sessions (seq);
"#;

/// The newest schema version this cordond knows.
pub(super) fn known() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// One advisory lock key for migrations, so two gateways starting at once
/// do not both migrate.
const LOCK: i64 = 0x636f_7264_6f6e; // "cordon"

/// Migrates the database forward; refuses one a newer cordond migrated.
pub(super) async fn migrate(
    client: &mut tokio_postgres::Client,
    location: &Path,
) -> Result<(), StoreError> {
    let io = |e: tokio_postgres::Error| super::connect::classify(location, e);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await
        .map_err(io)?;
    let result = migrate_locked(client, location).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await
        .map_err(io);
    result.and(unlock.map(|_| ()))
}

async fn migrate_locked(
    client: &mut tokio_postgres::Client,
    location: &Path,
) -> Result<(), StoreError> {
    let io = |e: tokio_postgres::Error| super::connect::classify(location, e);
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .map_err(io)?
        .get(0);
    let found: Option<i64> = if exists {
        client
            .query_one(
                "SELECT MAX(version)::BIGINT FROM refinery_schema_history",
                &[],
            )
            .await
            .map_err(io)?
            .get(0)
    } else {
        None
    };
    if let Some(found) = found.filter(|&v| v > known()) {
        return Err(StoreError::TooNew {
            path: location.to_owned(),
            found,
            known: known(),
        });
    }
    let migrations = MIGRATIONS
        .iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::io(location, e))?;
    let report = refinery::Runner::new(&migrations)
        .set_grouped(false)
        .run_async(client)
        .await
        .map_err(|e| StoreError::io(location, e))?;
    for m in report.applied_migrations() {
        tracing::info!(store = %location.display(), version = m.version(), "store schema migrated");
    }
    Ok(())
}
