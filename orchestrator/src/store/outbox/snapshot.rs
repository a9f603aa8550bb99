//! The snapshot of the fleet's state this gateway last knew, in the
//! outbox file: what a start loads when the shared store cannot be
//! reached, so enforcement never waits on the database, not even at
//! start.
//!
//! - Replaced whole by every start that loads from the database, then
//!   kept current by every batch the outbox commits or queues (host,
//!   subscriber and session rows) and by what the follower adopts from the
//!   rest of the fleet ([`Outbox::remember`](super::Outbox::remember)).
//! - Written on a connection of its own with `synchronous = NORMAL`: a
//!   write costs no fsync, so it does not slow down decisions; it survives
//!   cordond's crash (WAL), and only a power cut in the moment before can
//!   lose its last writes. Decisions queued while the database is away
//!   are durable in the queue anyway, and a start lays them over the
//!   snapshot ([`Snapshot::load`]).
//! - It holds what enforcement needs: host and subscriber records, and
//!   the open sessions. Not the reports (a start from it rebuilds the
//!   report ledger empty until the database answers) nor the audit trail.
//!   Clean records go with the retention purge, as in the store.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cordon_policy::subject::Subject;
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::SessionRecord;
use rusqlite::{Connection, Transaction, params};

use crate::store::sqlite::connect;
use crate::store::{Loaded, Record, StoreError, StoredHost, StoredSubscriber, Write};

/// The snapshot's tables (part of the outbox file's version 2).
pub(super) const TABLES: &str = "
    CREATE TABLE snap_hosts (address TEXT PRIMARY KEY, clean INTEGER NOT NULL, record TEXT NOT NULL);
    CREATE TABLE snap_subscribers (id TEXT PRIMARY KEY, clean INTEGER NOT NULL, record TEXT NOT NULL);
    CREATE TABLE snap_sessions (
        id         INTEGER PRIMARY KEY,
        subscriber TEXT NOT NULL,
        address    TEXT NOT NULL,
        body       TEXT NOT NULL
    );
    CREATE INDEX snap_sessions_holder ON snap_sessions (subscriber, address);
    CREATE TABLE snap_taken (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
";

/// The snapshot's connection on the outbox file.
#[derive(Debug)]
pub(super) struct Snapshot {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Writes waiting for the connection: whoever holds it next applies
    /// them all in one transaction. Every acknowledged decision keeps the
    /// snapshot current, and one transaction each, one after another
    /// behind the lock, held 1 000 concurrent quarantines to 3 800 a
    /// second (measured: the database alone took 15 800).
    waiting: Mutex<Vec<Write>>,
}

/// Why a snapshot write failed: SQLite's, or a record that would not
/// serialise.
type Failed = Box<dyn std::error::Error + Send + Sync>;

/// Whether a write changes what the snapshot holds.
pub(super) fn matters(w: &Write) -> bool {
    matches!(
        w,
        Write::Host(..) | Write::SessionBegan(_) | Write::SessionEnded { .. } | Write::Purge { .. }
    )
}

fn apply(tx: &Transaction<'_>, writes: &[Write]) -> Result<(), Failed> {
    for w in writes {
        match w {
            Write::Host(h, _) => {
                let record = serde_json::to_string(&Record::of(h))?;
                let clean = h.state.kind() == HostState::Clean;
                let (sql, key) = match &h.subject {
                    Subject::Addr(a) => (
                        "INSERT OR REPLACE INTO snap_hosts (address, clean, record) VALUES (?1, ?2, ?3)",
                        a.to_string(),
                    ),
                    Subject::Subscriber(id) => (
                        "INSERT OR REPLACE INTO snap_subscribers (id, clean, record) VALUES (?1, ?2, ?3)",
                        id.to_string(),
                    ),
                };
                tx.prepare_cached(sql)?
                    .execute(params![key, clean, record])?;
            }
            // One row per holding (an end closes them all anyway): a
            // queued batch is both kept here when it is queued and laid
            // over again at a start (`load`), and must not hold twice.
            Write::SessionBegan(s) => {
                tx.prepare_cached(
                    "DELETE FROM snap_sessions WHERE subscriber = ?1 AND address = ?2",
                )?
                .execute(params![s.subscriber, s.address])?;
                tx.prepare_cached(
                    "INSERT INTO snap_sessions (subscriber, address, body) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    s.subscriber,
                    s.address,
                    serde_json::to_string(s)?
                ])?;
            }
            Write::SessionEnded {
                subscriber,
                address,
                ..
            } => {
                tx.prepare_cached(
                    "DELETE FROM snap_sessions WHERE subscriber = ?1 AND address = ?2",
                )?
                .execute(params![subscriber, address])?;
            }
            Write::Purge { .. } => {
                tx.execute_batch(
                    "DELETE FROM snap_hosts WHERE clean; DELETE FROM snap_subscribers WHERE clean;",
                )?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn read(tx: &Transaction<'_>, path: &Path) -> Result<Loaded, StoreError> {
    let bad = |what: String| {
        move |e: serde_json::Error| StoreError::BadRecord {
            path: path.to_owned(),
            what,
            source: Box::new(e),
        }
    };
    let io = |e: rusqlite::Error| StoreError::io(path, e);
    let rows = |sql: &str| -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = tx.prepare(sql).map_err(io)?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(io)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)
    };
    let mut loaded = Loaded::default();
    for (address, text) in rows("SELECT address, record FROM snap_hosts")? {
        let record = serde_json::from_str(&text).map_err(bad(format!("snapshot of {address}")))?;
        loaded.hosts.push(StoredHost { address, record });
    }
    for (id, text) in rows("SELECT id, record FROM snap_subscribers")? {
        let record = serde_json::from_str(&text).map_err(bad(format!("snapshot of {id}")))?;
        loaded.subscribers.push(StoredSubscriber { id, record });
    }
    // Two TEXT columns, as `rows` reads them; the INTEGER id only orders.
    for (_, text) in rows("SELECT subscriber, body FROM snap_sessions ORDER BY id")? {
        let s: SessionRecord =
            serde_json::from_str(&text).map_err(bad("a session in the snapshot".into()))?;
        loaded.sessions.push(s);
    }
    Ok(loaded)
}

impl Snapshot {
    /// Opens the snapshot's own connection on the outbox file (its tables
    /// are made by the outbox's schema).
    pub(super) fn open(path: &Path) -> Result<Snapshot, StoreError> {
        let conn = connect(path)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|e| StoreError::io(path, e))?;
        Ok(Snapshot {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            waiting: Mutex::new(Vec::new()),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
        commit: bool,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::io(&self.path, "the snapshot's lock was poisoned"))?;
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::io(&self.path, e))?;
        let out = f(&tx)?;
        if commit {
            tx.commit().map_err(|e| StoreError::io(&self.path, e))?;
        }
        Ok(out)
    }

    /// Applies `writes` (those that [`matter`](matters)), together with
    /// every other caller's waiting at the time: returns once they are
    /// committed, by this caller or by one that took them along (then a
    /// failure is that one's to report).
    pub(super) fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.waiting
            .lock()
            .map_err(|_| StoreError::io(&self.path, "the snapshot's queue lock was poisoned"))?
            .extend(writes);
        self.with(
            |tx| {
                let taken = std::mem::take(&mut *self.waiting.lock().map_err(|_| {
                    StoreError::io(&self.path, "the snapshot's queue lock was poisoned")
                })?);
                apply(tx, &taken).map_err(|e| StoreError::io(&self.path, e))
            },
            true,
        )
    }

    /// Replaces the whole snapshot with what a start loaded from the
    /// database, at `now`.
    pub(super) fn replace(&self, loaded: &Loaded, now: i64) -> Result<(), StoreError> {
        self.with(
            |tx| {
                let run = || -> Result<(), Failed> {
                    tx.execute_batch(
                        "DELETE FROM snap_hosts; DELETE FROM snap_subscribers; DELETE FROM snap_sessions;",
                    )?;
                    let mut ins = tx.prepare_cached(
                        "INSERT OR REPLACE INTO snap_hosts (address, clean, record) VALUES (?1, ?2, ?3)",
                    )?;
                    for h in &loaded.hosts {
                        let clean = h.record.state.kind() == HostState::Clean;
                        ins.execute(params![h.address, clean, serde_json::to_string(&h.record)?])?;
                    }
                    let mut ins = tx.prepare_cached(
                        "INSERT OR REPLACE INTO snap_subscribers (id, clean, record) VALUES (?1, ?2, ?3)",
                    )?;
                    for s in &loaded.subscribers {
                        let clean = s.record.state.kind() == HostState::Clean;
                        ins.execute(params![s.id, clean, serde_json::to_string(&s.record)?])?;
                    }
                    let sessions: Vec<Write> =
                        loaded.sessions.iter().cloned().map(Write::SessionBegan).collect();
                    apply(tx, &sessions)?;
                    tx.execute(
                        "INSERT OR REPLACE INTO snap_taken (id, at) VALUES (1, ?1)",
                        [now],
                    )?;
                    Ok(())
                };
                run().map_err(|e| StoreError::io(&self.path, e))
            },
            true,
        )
    }

    /// What a start loads: the snapshot with `queued` (the batches still
    /// waiting, oldest first) laid over it, without changing the file;
    /// `None` when no start has ever loaded from the database.
    pub(super) fn load(&self, queued: &[Vec<Write>]) -> Result<Option<Loaded>, StoreError> {
        self.with(
            |tx| {
                let taken: i64 = tx
                    .query_row("SELECT COUNT(*) FROM snap_taken", [], |r| r.get(0))
                    .map_err(|e| StoreError::io(&self.path, e))?;
                if taken == 0 {
                    return Ok(None);
                }
                for writes in queued {
                    apply(tx, writes).map_err(|e| StoreError::io(&self.path, e))?;
                }
                read(tx, &self.path).map(Some)
            },
            // Rolled back: the queue is laid over, not written in.
            false,
        )
    }
}
