//! The outbox's own SQLite file: the queued batches, oldest first, and the
//! ceiling of batch numbers handed out. Opened like the store
//! ([`connect`]: private, WAL, `synchronous = FULL`), so a batch appended
//! here is on disk before the decision is acknowledged.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;
use crate::store::sqlite::connect;

/// The outbox file's schema version (its own, not the store's).
const SCHEMA: i64 = 2;

/// Version 1: `batches` keyed by the batch number (handed out in call
/// order, so it is also the replay order), and the one-row `ceiling`: no
/// number at or above it has been handed out, so a restart never reuses
/// one (a reused number would be taken for a batch already applied and
/// silently dropped by the store).
const TABLES: &str = "
    CREATE TABLE batches (
        seq       INTEGER PRIMARY KEY,
        queued_at INTEGER NOT NULL,
        body      TEXT NOT NULL
    );
    CREATE TABLE ceiling (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
    INSERT INTO ceiling (id, seq) VALUES (1, 0);
    PRAGMA user_version = 1;
";

/// Version 2 also adds the snapshot's tables (see `snapshot`).
use super::snapshot::TABLES as SNAP;

/// Version 2: `refused`, the batches the store refused (its answer kept
/// beside each), moved aside so the ones behind them replay; kept for the
/// operator, never replayed by cordond and never deleted by it.
const V2: &str = "
    CREATE TABLE refused (
        seq        INTEGER PRIMARY KEY,
        queued_at  INTEGER NOT NULL,
        refused_at INTEGER NOT NULL,
        error      TEXT NOT NULL,
        body       TEXT NOT NULL
    );
    PRAGMA user_version = 2;
";

/// The open outbox file. Its calls block (an fsync each); the outbox runs
/// them off the async threads.
#[derive(Debug)]
pub(super) struct Local {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// A queued batch: its number and its JSON.
pub(super) type Queued = (u64, String);

fn int(seq: u64) -> rusqlite::Result<i64> {
    i64::try_from(seq).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn uint(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Local {
    /// Opens (or creates) the outbox file.
    pub(super) fn open(path: &Path) -> Result<Local, StoreError> {
        let conn = connect(path)?;
        let io = |e| StoreError::io(path, e);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(io)?;
        match version {
            0 => conn
                .execute_batch(&format!("BEGIN; {TABLES} {SNAP} {V2} COMMIT;"))
                .map_err(io)?,
            1 => conn
                .execute_batch(&format!("BEGIN; {SNAP} {V2} COMMIT;"))
                .map_err(io)?,
            SCHEMA => {}
            found => {
                return Err(StoreError::TooNew {
                    path: path.to_owned(),
                    found,
                    known: SCHEMA,
                });
            }
        }
        Ok(Local {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    /// The file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::io(&self.path, "the outbox's lock was poisoned"))?;
        f(&mut conn).map_err(|e| StoreError::io(&self.path, e))
    }

    /// Appends a batch; durable when this returns.
    pub(super) fn append(&self, seq: u64, body: &str, now: i64) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached("INSERT INTO batches (seq, queued_at, body) VALUES (?1, ?2, ?3)")?
                .execute(params![int(seq)?, now, body])?;
            Ok(())
        })
    }

    /// The oldest queued batch.
    pub(super) fn oldest(&self) -> Result<Option<Queued>, StoreError> {
        self.with(|c| {
            c.prepare_cached("SELECT seq, body FROM batches ORDER BY seq LIMIT 1")?
                .query_row([], |r| Ok((uint(r.get(0)?), r.get(1)?)))
                .optional()
        })
    }

    /// Every queued batch, oldest first.
    pub(super) fn all(&self) -> Result<Vec<Queued>, StoreError> {
        self.with(|c| {
            c.prepare_cached("SELECT seq, body FROM batches ORDER BY seq")?
                .query_map([], |r| Ok((uint(r.get(0)?), r.get(1)?)))?
                .collect()
        })
    }

    /// Removes a batch the store has acknowledged.
    pub(super) fn delete(&self, seq: u64) -> Result<(), StoreError> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM batches WHERE seq = ?1")?
                .execute([int(seq)?])?;
            Ok(())
        })
    }

    /// Moves a batch the store refused (or that cannot be read back) out
    /// of the queue into `refused`, with why, in one transaction: it is
    /// never in both tables, and never in neither.
    pub(super) fn refuse(&self, seq: u64, error: &str, now: i64) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO refused (seq, queued_at, refused_at, error, body)
                 SELECT seq, queued_at, ?2, ?3, body FROM batches WHERE seq = ?1",
                params![int(seq)?, now, error],
            )?;
            tx.execute("DELETE FROM batches WHERE seq = ?1", [int(seq)?])?;
            tx.commit()
        })
    }

    /// How many refused batches are kept.
    pub(super) fn refused(&self) -> Result<u64, StoreError> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM refused", [], |r| Ok(uint(r.get(0)?))))
    }

    /// How many batches wait, and the highest number handed out or
    /// reserved (the ceiling, or a queued batch's if higher).
    pub(super) fn count_and_ceiling(&self) -> Result<(u64, u64), StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM batches),
                        MAX((SELECT seq FROM ceiling WHERE id = 1),
                            COALESCE((SELECT MAX(seq) + 1 FROM batches), 0),
                            COALESCE((SELECT MAX(seq) + 1 FROM refused), 0))",
                [],
                |r| Ok((uint(r.get(0)?), uint(r.get(1)?))),
            )
        })
    }

    /// Records durably that numbers below `seq` may have been handed out.
    pub(super) fn reserve(&self, seq: u64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute("UPDATE ceiling SET seq = ?1 WHERE id = 1", [int(seq)?])?;
            Ok(())
        })
    }
}
