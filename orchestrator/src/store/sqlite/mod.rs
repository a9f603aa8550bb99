//! The SQLite backend: every record in one file.
//!
//! - WAL with `synchronous = FULL`: a commit is on disk before `cordond`
//!   touches the kernel or answers the operator, even across a power cut
//!   (NORMAL would only survive a process crash).
//! - One writer thread owns the write connection and commits whatever is
//!   queued in one transaction (group commit, [`writer`]); readers open
//!   their own connections, which WAL lets run beside the writer ([`read`]).
//! - The schema is versioned by `PRAGMA user_version` and migrated forward
//!   from the first version ([`schema`]).
//! - Its files are 0600 however cordond is started ([`private`]).
//! - An unreadable or corrupt file stops `cordond` ([`StoreError`]); it never
//!   starts empty over it, because that would forget every quarantine.

pub(crate) mod private;
mod read;
mod schema;
mod sessions;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_proto::control::AuditEntry;
use futures::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::mpsc;

use super::{Backend, Loaded, SessionRecord, StoreError, StoredReport, Write, queue};
use cordon_policy::lifecycle::Unix;
pub use read::schema_version;

/// The SQLite backend: the file, and the queue to its writer thread.
#[derive(Debug)]
pub struct Sqlite {
    path: PathBuf,
    jobs: mpsc::Sender<queue::Job>,
}

impl Sqlite {
    /// Opens (or creates) the store at `path`, migrates it, checks it, reads
    /// every record, and starts the writer thread.
    pub fn open(path: &Path) -> Result<(Sqlite, Loaded), StoreError> {
        let mut conn = connect(path)?;
        schema::migrate(&mut conn, path)?;
        let loaded = read::load(&conn, path)?;
        let jobs = writer::start(conn, path)?;
        Ok((
            Sqlite {
                path: path.to_owned(),
                jobs,
            },
            loaded,
        ))
    }

    /// Runs a read on its own read-only connection, off the async threads.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&read::reader(&path)?, &path))
                .await
                .map_err(|_| StoreError::Stopped)?
        })
    }
}

/// Opens (or creates) the SQLite file at `path` as every store file of
/// cordond is opened: private (0600, see [`private`]), WAL with
/// `synchronous = FULL` (durable before a commit returns, even across a
/// power cut), a busy timeout, and refused when its integrity check fails.
/// The store and a gateway's outbox (`store::outbox`) both open this way.
pub(crate) fn connect(path: &Path) -> Result<Connection, StoreError> {
    let unreadable = |e: rusqlite::Error| StoreError::unreadable(path, e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::unreadable(path, format!("cannot create {}: {e}", dir.display()))
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
    private::create(path).map_err(|e| {
        StoreError::io(
            path,
            format!("cannot create it (mode {:o}): {e}", private::MODE),
        )
    })?;
    let conn = Connection::open(path).map_err(unreadable)?;
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
    Ok(conn)
}

impl Backend for Sqlite {
    fn location(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> BoxFuture<'_, Result<Loaded, StoreError>> {
        self.read(read::load)
    }

    fn commit(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(queue::commit(&self.jobs, writes))
    }

    fn history(
        &self,
        address: Option<String>,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, StoreError>> {
        self.read(move |conn, path| {
            read::history(conn, path, address.as_deref(), subscriber.as_deref(), limit)
        })
    }

    fn reports(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.read(read::reports)
    }

    fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.read(move |conn, path| read::recent_reports(conn, path, &unit, limit))
    }

    fn holders_at(
        &self,
        questions: Vec<(Vec<String>, Unix)>,
    ) -> BoxFuture<'_, Result<Vec<Option<String>>, StoreError>> {
        self.read(move |conn, path| {
            questions
                .iter()
                .map(|(addresses, at)| sessions::holder_at(conn, path, addresses, *at))
                .collect()
        })
    }

    fn recent_subscriber_reports(
        &self,
        subscriber: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.read(move |conn, path| read::recent_subscriber_reports(conn, path, &subscriber, limit))
    }

    fn sessions(
        &self,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionRecord>, StoreError>> {
        self.read(move |conn, path| sessions::history(conn, path, subscriber.as_deref(), limit))
    }

    fn holder_at(
        &self,
        addresses: Vec<String>,
        at: Unix,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        self.read(move |conn, path| sessions::holder_at(conn, path, &addresses, at))
    }

    fn webhooks_due(
        &self,
        gateway: String,
        hook: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<super::WebhookQueue, StoreError>> {
        self.read(move |conn, path| read::webhooks_due(conn, path, &gateway, &hook, limit))
    }
}

#[cfg(test)]
mod tests;
