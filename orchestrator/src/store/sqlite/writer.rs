//! The writer thread: it owns the write connection and commits whatever is
//! queued in one transaction (group commit).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, Transaction, params};
use tokio::sync::mpsc;

use super::sessions;
use cordon_policy::subject::Subject;

use crate::store::queue::{Job, group};
use crate::store::records::{audit_address, key};
use crate::store::{Record, Shared, StoreError, Write};

/// Largest group of queued jobs committed in one transaction.
const GROUP: usize = 512;

/// Starts the writer thread on `conn`; the queue to it closes (and the
/// thread ends) when every sender is dropped.
pub(super) fn start(conn: Connection, path: &Path) -> Result<mpsc::Sender<Job>, StoreError> {
    let (tx, rx) = mpsc::channel(4096);
    let writer_path = path.to_owned();
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || writer(conn, rx, writer_path))
        .map_err(|e| StoreError::io(path, format!("cannot start the writer thread: {e}")))?;
    Ok(tx)
}

/// The writer: takes every queued job (up to [`GROUP`]), commits them in one
/// transaction, answers each. One fsync for many quarantines is what lets
/// hundreds of parallel requests finish quickly with synchronous = FULL.
fn writer(mut conn: Connection, mut jobs: mpsc::Receiver<Job>, path: PathBuf) {
    while let Some(first) = jobs.blocking_recv() {
        let group = group(first, &mut jobs, GROUP);
        let result = commit(&mut conn, &group).map_err(Shared::new);
        for job in group {
            let answer = result
                .clone()
                .map_err(|reason| StoreError::io(&path, reason));
            let _ = job.reply.send(answer);
        }
    }
}

fn commit(conn: &mut Connection, group: &[Job]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    // Cached statements: an import writes two rows per report, and parsing
    // the SQL for each row was a tenth of cordond's time (measured with
    // perf on a 100 000-report import).
    for job in group {
        // A job whose mark is already applied is skipped whole, and only
        // it: the others in the group commit as usual. Two jobs of the
        // group with the same mark: the first records it, the second finds
        // it here.
        if marked(&tx, &job.writes)? {
            continue;
        }
        for write in &job.writes {
            apply(&tx, write)?;
        }
    }
    tx.commit()
}

/// Whether any of `writes`' marks is already applied; when none is,
/// records them all (in the same transaction as the writes, so a batch and
/// its mark land together or not at all).
fn marked(tx: &Transaction<'_>, writes: &[Write]) -> rusqlite::Result<bool> {
    let marks: Vec<(&str, i64)> = writes
        .iter()
        .filter_map(|w| match w {
            Write::Mark { gateway, seq } => Some((gateway.as_str(), *seq)),
            _ => None,
        })
        .map(|(gateway, seq)| {
            i64::try_from(seq)
                .map(|seq| (gateway, seq))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        })
        .collect::<Result<_, _>>()?;
    for (gateway, seq) in &marks {
        let mut seen = tx.prepare_cached("SELECT 1 FROM marks WHERE gateway = ?1 AND seq = ?2")?;
        if seen.exists(params![gateway, seq])? {
            return Ok(true);
        }
    }
    for (gateway, seq) in &marks {
        tx.prepare_cached(
            "INSERT INTO marks (gateway, seq, applied_at) VALUES (?1, ?2, unixepoch())",
        )?
        .execute(params![gateway, seq])?;
    }
    Ok(false)
}

/// Applies one write inside the group's transaction.
fn apply(tx: &Transaction<'_>, write: &Write) -> rusqlite::Result<()> {
    match write {
        Write::Host(host, at) => {
            let json = serde_json::to_string(&Record::of(host))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let sql = match &host.subject {
                    Subject::Addr(_) => {
                        "INSERT INTO hosts (address, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (address) DO UPDATE SET state = ?2, record = ?3, updated_at = ?4"
                    }
                    Subject::Subscriber(_) => {
                        "INSERT INTO subscribers (id, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (id) DO UPDATE SET state = ?2, record = ?3, updated_at = ?4"
                    }
                };
            tx.prepare_cached(sql)?.execute(params![
                key(&host.subject),
                host.state.kind().as_str(),
                json,
                at
            ])?;
        }
        Write::Audit(a) => {
            let address = audit_address(a);
            let subscriber = a.subject.subscriber().map(ToString::to_string);
            tx.prepare_cached("INSERT INTO audit (at, address, from_state, to_state, actor, note, subscriber) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?.execute(params![a.at, address, a.from.as_str(), a.to.as_str(), a.actor.name(), a.note, subscriber])?;
        }
        Write::Report(r) => {
            tx.prepare_cached("INSERT INTO reports (unit, address, at, received_at, source, evidence, message_id, weight, counted, subscriber, kind)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")?.execute(params![
                        r.unit,
                        r.address,
                        r.at,
                        r.received_at,
                        r.source,
                        r.evidence,
                        r.message_id,
                        r.weight,
                        r.counted,
                        r.subscriber,
                        r.kind.as_str()
                    ])?;
        }
        Write::SessionBegan(s) => sessions::began(tx, s)?,
        Write::SessionEnded {
            subscriber,
            address,
            ended,
        } => sessions::ended(tx, subscriber, address, *ended)?,
        Write::Purge { before } => {
            tx.execute(
                "UPDATE purge_horizon SET before = ?1 WHERE id = 1",
                [before],
            )?;
            tx.execute("DELETE FROM audit WHERE at < ?1", [before])?;
            tx.execute("DELETE FROM reports WHERE received_at < ?1", [before])?;
            sessions::purge(tx, *before)?;
            tx.execute(
                "DELETE FROM hosts WHERE state = 'clean' AND updated_at < ?1",
                [before],
            )?;
            tx.execute(
                "DELETE FROM subscribers WHERE state = 'clean' AND updated_at < ?1",
                [before],
            )?;
            tx.execute("UPDATE purge_horizon SET before = 0 WHERE id = 1", [])?;
            tx.execute("DELETE FROM marks WHERE applied_at < ?1", [before])?;
            tx.execute("DELETE FROM webhooks WHERE at < ?1", [before])?;
        }
        Write::Webhook(o) => {
            tx.prepare_cached(
                "INSERT INTO webhooks (gateway, hook, event_id, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![o.gateway, o.hook, o.event_id, o.at, o.body])?;
        }
        Write::WebhooksDone {
            gateway,
            hook,
            through,
        } => {
            tx.prepare_cached(
                "DELETE FROM webhooks WHERE gateway = ?1 AND hook = ?2 AND id <= ?3",
            )?
            .execute(params![gateway, hook, through])?;
        }
        Write::WebhooksTrim {
            gateway,
            hook,
            keep,
        } => {
            let keep = i64::try_from(*keep).unwrap_or(i64::MAX);
            tx.prepare_cached(
                "DELETE FROM webhooks WHERE gateway = ?1 AND hook = ?2 AND id <= (
                     SELECT id FROM webhooks WHERE gateway = ?1 AND hook = ?2
                     ORDER BY id DESC LIMIT 1 OFFSET ?3)",
            )?
            .execute(params![gateway, hook, keep])?;
        }
        // Handled by `marked` before the call's writes.
        Write::Mark { .. } => {}
    }
    Ok(())
}
