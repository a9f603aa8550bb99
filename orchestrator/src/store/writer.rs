//! Opening the store, the writer thread (group commit), and reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_proto::control::AuditEntry;
use cordon_proto::portal::HostState;
use cordon_proto::text::{MAX_NOTE, MAX_SOURCE, clip};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::error::StoreError;
use super::private;
use super::records::{Loaded, Record, StoredHost, StoredReport};
use super::schema::MIGRATIONS;
use cordon_policy::lifecycle::{Audit, Host, Unix};

/// One change to write.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace a host's record.
    Host(Host, Unix),
    /// Append to the audit trail.
    Audit(Audit),
    /// Keep an outside report.
    Report(StoredReport),
    /// Delete audit entries, and clean hosts' records, older than `before`.
    Purge {
        /// Unix seconds.
        before: Unix,
    },
}

struct Job {
    writes: Vec<Write>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// A handle on the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("writes", &self.writes.len())
            .finish()
    }
}

/// Largest group of queued jobs committed in one transaction.
const GROUP: usize = 512;

/// A stored state name (an unknown one, which only a newer version could
/// have written, reads as clean: it decides nothing by itself).
fn state_of(s: &str) -> HostState {
    HostState::from_name(s).unwrap_or(HostState::Clean)
}

impl Store {
    /// Opens (or creates) the store at `path`, migrates it, checks it, reads
    /// every record, and starts the writer thread.
    pub fn open(path: &Path) -> Result<(Store, Loaded), StoreError> {
        let unreadable = |source| StoreError::Unreadable {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                unreadable(rusqlite::Error::InvalidPath(PathBuf::from(format!(
                    "{}: {e}",
                    dir.display()
                ))))
            })?;
        }
        match private::tighten(path) {
            Ok(changed) => {
                for t in changed {
                    tracing::warn!(
                        file = %t.path.display(),
                        was = format!("{:o}", t.was),
                        "the store was open to other users; made it 0600 (it holds personal data)"
                    );
                }
            }
            Err((file, e)) => tracing::warn!(
                file = %file.display(),
                error = %e,
                "cannot make the store private to cordond: chown it to root and chmod 0600"
            ),
        }
        private::create(path).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            detail: format!("cannot create it (mode 0600): {e}"),
        })?;
        let mut conn = Connection::open(path).map_err(unreadable)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(unreadable)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(unreadable)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                detail: format!("cannot switch to WAL (journal mode stays {mode})"),
            });
        }
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(unreadable)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(unreadable)?;
        if check != "ok" {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                detail: check,
            });
        }
        migrate(&mut conn, path)?;
        let loaded = load(&conn, path)?;
        let (tx, rx) = mpsc::channel(4096);
        let writer_path = path.to_owned();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer(conn, rx, writer_path))
            .map_err(|e| StoreError::Io {
                path: path.to_owned(),
                detail: format!("cannot start the writer thread: {e}"),
            })?;
        Ok((
            Store {
                path: path.to_owned(),
                jobs: tx,
            },
            loaded,
        ))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the changes durably (returns after the commit).
    pub async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { writes, reply })
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }

    /// Every stored report, oldest first (to rebuild the ledger after the
    /// score or window changed).
    pub async fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_reports(&path))
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    /// The latest `limit` reports counted against `unit`, newest first.
    pub async fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> Result<Vec<StoredReport>, StoreError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| StoreError::Io {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            select_reports(
                &conn,
                &path,
                "WHERE unit = ?1 ORDER BY id DESC LIMIT ?2",
                params![unit, limit],
            )
        })
        .await
        .map_err(|_| StoreError::Stopped)?
    }

    /// The audit trail, newest first, for one address or all.
    pub async fn history(
        &self,
        address: Option<String>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_history(&path, address.as_deref(), limit))
            .await
            .map_err(|_| StoreError::Stopped)?
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let io = |e: rusqlite::Error| StoreError::Io {
        path: path.to_owned(),
        detail: e.to_string(),
    };
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

fn load(conn: &Connection, path: &Path) -> Result<Loaded, StoreError> {
    let io = |e: rusqlite::Error| StoreError::Io {
        path: path.to_owned(),
        detail: e.to_string(),
    };
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
            detail: format!("host {address}: {e}"),
        })?;
        hosts.push(StoredHost { address, record });
    }
    let reports = load_reports(conn, path)?;
    Ok(Loaded { hosts, reports })
}

/// The writer: takes every queued job (up to [`GROUP`]), commits them in one
/// transaction, answers each. One fsync for many quarantines is what lets
/// hundreds of parallel requests finish quickly with synchronous = FULL.
fn writer(mut conn: Connection, mut jobs: mpsc::Receiver<Job>, path: PathBuf) {
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let result = commit(&mut conn, &group).map_err(|e| e.to_string());
        for job in group {
            let answer = result.clone().map_err(|detail| StoreError::Io {
                path: path.clone(),
                detail,
            });
            let _ = job.reply.send(answer);
        }
    }
}

fn commit(conn: &mut Connection, group: &[Job]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    // Cached statements: an import writes two rows per report, and parsing
    // the SQL for each row was a tenth of cordond's time (measured with
    // perf on a 100 000-report import).
    for write in group.iter().flat_map(|j| &j.writes) {
        match write {
            Write::Host(host, at) => {
                let json = serde_json::to_string(&Record::of(host))
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                tx.prepare_cached(
                    "INSERT INTO hosts (address, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (address) DO UPDATE SET state = ?2, record = ?3, updated_at = ?4",
                )?
                .execute(params![
                    host.addr.to_string(),
                    host.state.kind().as_str(),
                    json,
                    at
                ])?;
            }
            Write::Audit(a) => {
                tx.prepare_cached("INSERT INTO audit (at, address, from_state, to_state, actor, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![a.at, a.addr.to_string(), a.from.as_str(), a.to.as_str(), a.actor.name(), a.note])?;
            }
            Write::Report(r) => {
                tx.prepare_cached("INSERT INTO reports (unit, address, at, received_at, source, evidence, message_id, weight, counted)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute(params![
                        r.unit,
                        r.address,
                        r.at,
                        r.received_at,
                        r.source,
                        r.evidence,
                        r.message_id,
                        r.weight,
                        r.counted
                    ])?;
            }
            Write::Purge { before } => {
                tx.execute(
                    "UPDATE purge_horizon SET before = ?1 WHERE id = 1",
                    [before],
                )?;
                tx.execute("DELETE FROM audit WHERE at < ?1", [before])?;
                tx.execute("DELETE FROM reports WHERE received_at < ?1", [before])?;
                tx.execute(
                    "DELETE FROM hosts WHERE state = 'clean' AND updated_at < ?1",
                    [before],
                )?;
                tx.execute("UPDATE purge_horizon SET before = 0 WHERE id = 1", [])?;
            }
        }
    }
    tx.commit()
}

fn read_history(
    path: &Path,
    address: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    let io = |e: rusqlite::Error| StoreError::Io {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(io)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(io)?;
    let mut stmt = conn
        .prepare(
            "SELECT id, at, address, from_state, to_state, actor, note FROM audit
             WHERE ?1 IS NULL OR address = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .map_err(io)?;
    let rows = stmt
        .query_map(params![address, limit], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: r.get(1)?,
                address: r.get(2)?,
                from: state_of(&r.get::<_, String>(3)?),
                to: state_of(&r.get::<_, String>(4)?),
                // Clipped as read: an entry stored before the bounds costs a
                // listing no more than any other (see `cordon_proto::text`).
                actor: clip(&r.get::<_, String>(5)?, MAX_SOURCE).into_owned(),
                note: clip(&r.get::<_, String>(6)?, MAX_NOTE).into_owned(),
            })
        })
        .map_err(io)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(io)
}

fn read_reports(path: &Path) -> Result<Vec<StoredReport>, StoreError> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            StoreError::Io {
                path: path.to_owned(),
                detail: e.to_string(),
            }
        })?;
    load_reports(&conn, path)
}

fn load_reports(conn: &Connection, path: &Path) -> Result<Vec<StoredReport>, StoreError> {
    select_reports(conn, path, "ORDER BY id", [])
}

/// Reports as stored, chosen and ordered by `tail` (SQL after `FROM reports`).
fn select_reports(
    conn: &Connection,
    path: &Path,
    tail: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<StoredReport>, StoreError> {
    let io = |e: rusqlite::Error| StoreError::Io {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let mut stmt = conn
        .prepare(&format!(
            "SELECT unit, address, at, received_at, source, evidence, message_id, weight, counted
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
            evidence: r.get(5)?,
            message_id: r.get(6)?,
            weight: r.get(7)?,
            counted: r.get(8)?,
        })
    })
    .map_err(io)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(io)
}

/// The schema version of a store file (for tests and `cordon status`).
pub fn schema_version(path: &Path) -> Result<Option<i64>, rusqlite::Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()
}
