//! Reads, each on a pooled connection of its own.

use std::path::Path;

use cordon_policy::ReportKind;
use cordon_policy::lifecycle::Unix;
use cordon_proto::control::AuditEntry;
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::{SessionRecord, SessionSource};
use tokio_postgres::{GenericClient, Row};

use super::connect::classify;
use crate::store::{Loaded, Record, StoreError, StoredHost, StoredReport, StoredSubscriber};

type R<T> = Result<T, StoreError>;

fn state_of(s: &str) -> HostState {
    HostState::from_name(s).unwrap_or(HostState::Clean)
}

pub(super) fn record(path: &Path, what: String, json: &str) -> R<Record> {
    serde_json::from_str(json).map_err(|e| StoreError::BadRecord {
        path: path.to_owned(),
        what,
        source: Box::new(e),
    })
}

async fn rows(
    c: &impl GenericClient,
    path: &Path,
    sql: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> R<Vec<Row>> {
    c.query(sql, p).await.map_err(|e| classify(path, e))
}

/// Every host and subscriber row, every report, every open session.
pub(super) async fn load(c: &impl GenericClient, path: &Path) -> R<Loaded> {
    let mut hosts = Vec::new();
    for r in rows(
        c,
        path,
        "SELECT address, record FROM hosts ORDER BY address",
        &[],
    )
    .await?
    {
        let address: String = r.get(0);
        let record = record(path, format!("host {address}"), r.get(1))?;
        hosts.push(StoredHost { address, record });
    }
    let mut subscribers = Vec::new();
    for r in rows(
        c,
        path,
        "SELECT id, record FROM subscribers ORDER BY id",
        &[],
    )
    .await?
    {
        let id: String = r.get(0);
        let what = format!("subscriber {}", cordon_proto::text::printable(&id));
        let record = record(path, what, r.get(1))?;
        subscribers.push(StoredSubscriber { id, record });
    }
    Ok(Loaded {
        hosts,
        subscribers,
        reports: reports(c, path, "ORDER BY id", &[]).await?,
        sessions: sessions(c, path, "WHERE ended IS NULL ORDER BY id", &[]).await?,
    })
}

/// Reads [`load`] in one snapshot of the database.
pub(super) async fn snapshot(c: &mut tokio_postgres::Client, path: &Path) -> R<Loaded> {
    let tx = c
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| classify(path, e))?;
    let loaded = load(&tx, path).await?;
    tx.commit().await.map_err(|e| classify(path, e))?;
    Ok(loaded)
}

/// The audit trail, newest first.
pub(super) async fn history(
    c: &impl GenericClient,
    path: &Path,
    address: Option<String>,
    subscriber: Option<String>,
    limit: u32,
) -> R<Vec<AuditEntry>> {
    let limit = i64::from(limit);
    let found = rows(
        c,
        path,
        "SELECT id, at, address, from_state, to_state, actor, note, subscriber, gateway FROM audit
         WHERE ($1::TEXT IS NULL OR address = $1) AND ($2::TEXT IS NULL OR subscriber = $2)
         ORDER BY id DESC LIMIT $3",
        &[&address, &subscriber, &limit],
    )
    .await?;
    Ok(found
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            address: r.get(2),
            from: state_of(r.get(3)),
            to: state_of(r.get(4)),
            actor: r.get(5),
            note: r.get(6),
            subscriber: r.get(7),
            gateway: r.get(8),
        })
        .collect())
}

/// Reports chosen and ordered by `tail`.
pub(super) async fn reports(
    c: &impl GenericClient,
    path: &Path,
    tail: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> R<Vec<StoredReport>> {
    let sql = format!(
        "SELECT unit, address, at, received_at, source, evidence, message_id, weight, counted,
                subscriber, kind FROM reports {tail}"
    );
    rows(c, path, &sql, p)
        .await?
        .iter()
        .map(|r| {
            let weight: i64 = r.get(7);
            Ok(StoredReport {
                unit: r.get(0),
                address: r.get(1),
                at: r.get(2),
                received_at: r.get(3),
                source: r.get(4),
                kind: ReportKind::from_name(r.get(10)).unwrap_or_default(),
                evidence: r.get(5),
                message_id: r.get(6),
                weight: u32::try_from(weight).map_err(|e| StoreError::BadRecord {
                    path: path.to_owned(),
                    what: "a report's weight".into(),
                    source: Box::new(e),
                })?,
                counted: r.get(8),
                subscriber: r.get(9),
            })
        })
        .collect()
}

/// Sessions chosen and ordered by `tail`.
pub(super) async fn sessions(
    c: &impl GenericClient,
    path: &Path,
    tail: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> R<Vec<SessionRecord>> {
    let sql = format!(
        "SELECT subscriber, address, source, session_id, nas, calling_station, started, ended
         FROM sessions {tail}"
    );
    rows(c, path, &sql, p)
        .await?
        .iter()
        .map(|r| {
            let name: String = r.get(2);
            let source = SessionSource::from_name(&name).ok_or_else(|| StoreError::BadRecord {
                path: path.to_owned(),
                what: "a session".into(),
                source: format!("unknown session source {name:?}").into(),
            })?;
            Ok(SessionRecord {
                subscriber: r.get(0),
                address: r.get(1),
                source,
                session_id: r.get(3),
                nas: r.get(4),
                calling_station: r.get(5),
                started: r.get(6),
                ended: r.get(7),
            })
        })
        .collect()
}

/// Who held any of `addresses` at `at` (the `sessions_address` index
/// answers `address = ANY(..) AND started <= ..`).
pub(super) async fn holder_at(
    c: &impl GenericClient,
    path: &Path,
    addresses: &[String],
    at: Unix,
) -> R<Option<String>> {
    let found = rows(
        c,
        path,
        "SELECT subscriber FROM sessions
         WHERE address = ANY($1) AND started <= $2 AND (ended IS NULL OR ended > $2)
         ORDER BY started DESC, id DESC LIMIT 1",
        &[&addresses, &at],
    )
    .await?;
    Ok(found.first().map(|r| r.get(0)))
}

/// One gateway's oldest `limit` events for one hook, and the queue's
/// length.
pub(super) async fn webhooks_due(
    c: &impl GenericClient,
    path: &Path,
    gateway: &str,
    hook: &str,
    limit: u32,
) -> R<crate::store::WebhookQueue> {
    let limit = i64::from(limit);
    let found = rows(
        c,
        path,
        "SELECT id, event_id, at, body FROM webhooks WHERE gateway = $1 AND hook = $2
         ORDER BY id LIMIT $3",
        &[&gateway, &hook, &limit],
    )
    .await?;
    let count = rows(
        c,
        path,
        "SELECT count(*) FROM webhooks WHERE gateway = $1 AND hook = $2",
        &[&gateway, &hook],
    )
    .await?;
    let queued: i64 = count.first().map_or(0, |r| r.get(0));
    Ok(crate::store::WebhookQueue {
        rows: found
            .iter()
            .map(|r| crate::store::QueuedWebhook {
                id: r.get(0),
                event_id: r.get(1),
                at: r.get(2),
                body: r.get(3),
            })
            .collect(),
        queued: u64::try_from(queued).unwrap_or(0),
    })
}
