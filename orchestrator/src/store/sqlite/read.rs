//! Reads, each on a connection of its own (WAL lets them run beside the
//! writer).

use std::path::Path;
use std::time::Duration;

use cordon_proto::control::AuditEntry;
use cordon_proto::portal::HostState;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use cordon_policy::ReportKind;

use crate::store::{Loaded, Record, StoreError, StoredHost, StoredReport, StoredSubscriber};

/// A read-only connection to the store.
pub(super) fn reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::io(path, e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| StoreError::io(path, e))?;
    Ok(conn)
}

/// A stored state name (an unknown one, which only a newer version could
/// have written, reads as clean: it decides nothing by itself).
fn state_of(s: &str) -> HostState {
    HostState::from_name(s).unwrap_or(HostState::Clean)
}

/// Every host row, every report and every open session.
pub(super) fn load(conn: &Connection, path: &Path) -> Result<Loaded, StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut stmt = conn
        .prepare("SELECT address, record FROM hosts")
        .map_err(io)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(io)?;
    let mut hosts = Vec::new();
    for row in rows {
        let (address, json) = row.map_err(io)?;
        let record: Record = serde_json::from_str(&json).map_err(|e| StoreError::BadRecord {
            path: path.to_owned(),
            what: format!("host {address}"),
            source: Box::new(e),
        })?;
        hosts.push(StoredHost { address, record });
    }
    let mut stmt = conn
        .prepare("SELECT id, record FROM subscribers")
        .map_err(io)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(io)?;
    let mut subscribers = Vec::new();
    for row in rows {
        let (id, json) = row.map_err(io)?;
        let record: Record = serde_json::from_str(&json).map_err(|e| StoreError::BadRecord {
            path: path.to_owned(),
            what: format!("subscriber {}", cordon_proto::text::printable(&id)),
            source: Box::new(e),
        })?;
        subscribers.push(StoredSubscriber { id, record });
    }
    let reports = reports(conn, path)?;
    let sessions = super::sessions::open(conn, path)?;
    Ok(Loaded {
        hosts,
        subscribers,
        reports,
        sessions,
    })
}

/// The audit trail, newest first, for one address, one subscriber, or all.
pub(super) fn history(
    conn: &Connection,
    path: &Path,
    address: Option<&str>,
    subscriber: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut stmt = conn
        .prepare(
            "SELECT id, at, address, from_state, to_state, actor, note, subscriber FROM audit
             WHERE (?1 IS NULL OR address = ?1) AND (?3 IS NULL OR subscriber = ?3)
             ORDER BY id DESC LIMIT ?2",
        )
        .map_err(io)?;
    let rows = stmt
        .query_map(params![address, limit, subscriber], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                address: r.get(2)?,
                subscriber: r.get(7)?,
                from: state_of(&r.get::<_, String>(3)?),
                to: state_of(&r.get::<_, String>(4)?),
                actor: r.get(5)?,
                note: r.get(6)?,
                gateway: None,
            })
        })
        .map_err(io)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(io)
}

/// Every report, oldest first.
pub(super) fn reports(conn: &Connection, path: &Path) -> Result<Vec<StoredReport>, StoreError> {
    select_reports(conn, path, "ORDER BY id", [])
}

/// The latest `limit` reports counted against `unit`, newest first.
pub(super) fn recent_reports(
    conn: &Connection,
    path: &Path,
    unit: &str,
    limit: u32,
) -> Result<Vec<StoredReport>, StoreError> {
    select_reports(
        conn,
        path,
        "WHERE unit = ?1 ORDER BY id DESC LIMIT ?2",
        params![unit, limit],
    )
}

/// The latest `limit` reports counted against a subscriber, newest first.
pub(super) fn recent_subscriber_reports(
    conn: &Connection,
    path: &Path,
    subscriber: &str,
    limit: u32,
) -> Result<Vec<StoredReport>, StoreError> {
    select_reports(
        conn,
        path,
        "WHERE subscriber = ?1 ORDER BY id DESC LIMIT ?2",
        params![subscriber, limit],
    )
}

/// Reports as stored, chosen and ordered by `tail` (SQL after `FROM reports`).
fn select_reports(
    conn: &Connection,
    path: &Path,
    tail: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<StoredReport>, StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut stmt = conn
        .prepare(&format!(
            "SELECT unit, address, at, received_at, source, evidence, message_id, weight, counted,
                    subscriber, kind
             FROM reports {tail}"
        ))
        .map_err(io)?;
    stmt.query_map(args, |r| {
        Ok(StoredReport {
            unit: r.get(0)?,
            address: r.get(1)?,
            at: r.get(2)?,
            received_at: r.get(3)?,
            source: r.get(4)?,
            kind: ReportKind::from_name(&r.get::<_, String>(10)?).unwrap_or_default(),
            evidence: r.get(5)?,
            message_id: r.get(6)?,
            weight: r.get(7)?,
            counted: r.get(8)?,
            subscriber: r.get(9)?,
        })
    })
    .map_err(io)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(io)
}

/// The schema version of a store file (for tests).
pub fn schema_version(path: &Path) -> Result<Option<i64>, StoreError> {
    reader(path)?
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()
        .map_err(|e| StoreError::io(path, e))
}

/// One gateway's oldest `limit` events for one hook, and the queue's
/// length.
pub(super) fn webhooks_due(
    conn: &Connection,
    path: &Path,
    gateway: &str,
    hook: &str,
    limit: u32,
) -> Result<crate::store::WebhookQueue, StoreError> {
    let io = |e| StoreError::io(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, event_id, at, body FROM webhooks WHERE gateway = ?1 AND hook = ?2
             ORDER BY id LIMIT ?3",
        )
        .map_err(io)?;
    let rows = stmt
        .query_map(params![gateway, hook, limit], |r| {
            Ok(crate::store::QueuedWebhook {
                id: r.get(0)?,
                event_id: r.get(1)?,
                at: r.get(2)?,
                body: r.get(3)?,
            })
        })
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    let queued: i64 = conn
        .query_row(
            "SELECT count(*) FROM webhooks WHERE gateway = ?1 AND hook = ?2",
            params![gateway, hook],
            |r| r.get(0),
        )
        .map_err(io)?;
    Ok(crate::store::WebhookQueue {
        rows,
        queued: u64::try_from(queued).unwrap_or(0),
    })
}
