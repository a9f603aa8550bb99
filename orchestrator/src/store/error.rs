//! What can go wrong with the store, and what the operator should do.
//!
//! No backend's own error type appears here: each variant keeps the
//! backend's error as its [`source`](std::error::Error::source), boxed, so
//! SQLite today and a server backend later fail through the same type and
//! the same remedy sentences.

use std::error::Error;
use std::path::PathBuf;
use std::sync::Arc;

/// A backend's reason for a failure, kept whole.
pub type Source = Box<dyn Error + Send + Sync + 'static>;

/// A store failure. `path` names the store: its file, or for a server
/// backend its address without credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened or read as a database (not SQLite,
    /// torn, wrong permissions). Refusing is deliberate: starting empty would
    /// lift every quarantine.
    #[error(
        "cannot read the store {path}: {source}. cordond will not start over an unreadable store (that would forget every quarantine); restore it from a backup, or move it aside to start afresh on purpose"
    )]
    Unreadable {
        /// The store.
        path: PathBuf,
        /// The backend's reason.
        source: Source,
    },
    /// The database's own integrity check found damage.
    #[error(
        "the store {path} is corrupt ({detail}). cordond will not start over it; restore it from a backup (or try `sqlite3 {path} .recover`), or move it aside to start afresh on purpose"
    )]
    Corrupt {
        /// The store.
        path: PathBuf,
        /// What the check said (a report, not an error: nothing failed).
        detail: String,
    },
    /// Written by a newer cordond.
    #[error(
        "the store {path} has schema version {found}, newer than this cordond understands ({known}); run the newer cordond, or restore a backup made by this version"
    )]
    TooNew {
        /// The store.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// A write or read failed while running (disk full, I/O error).
    #[error(
        "the store {path} failed: {source}; check the disk (space, errors) and the file's permissions"
    )]
    Io {
        /// The store.
        path: PathBuf,
        /// The backend's reason (one failed group commit answers every
        /// writer in the group with the same reason, see [`Shared`]).
        source: Source,
    },
    /// A stored record is not in the expected form.
    #[error(
        "a record in the store {path} cannot be read ({what}: {source}); it was written by another program or version"
    )]
    BadRecord {
        /// The store.
        path: PathBuf,
        /// Which record.
        what: String,
        /// Why it does not parse.
        source: Source,
    },
    /// A server backend cannot be reached: the connection was refused or
    /// timed out, failed its TLS handshake or its login, or the server went
    /// away; or a call has not answered within its time bound. Distinct
    /// from [`StoreError::Io`] (the server answered with an error) because
    /// what follows differs: trying again later may succeed, and a gateway
    /// behind an outbox (`store::outbox`) queues its decisions locally and
    /// replays them, once each, when the store answers again. A commit cut
    /// off this way may still have been stored, so replays are idempotent.
    #[error(
        "cannot reach the store {location}: {source}; check that the database server is up and reachable from this gateway (address, port or socket, firewall, TLS), the credentials (store.url's user, store.password_file), and store.connect_timeout; decisions made meanwhile wait in the gateway's outbox and are replayed when it answers"
    )]
    Unreachable {
        /// The store's address, without credentials.
        location: String,
        /// Why (the connection's error, or that no answer came in time).
        source: Source,
    },
    /// A server backend answered that the data of this batch breaks one of
    /// its rules (a constraint, or a value it cannot hold, such as a NUL
    /// character in a text): sending the same batch again cannot succeed.
    /// Distinct from [`StoreError::Io`] (the server failed, or refused for
    /// a reason of its own that may pass, such as permissions or a full
    /// disk) because a gateway's outbox moves such a batch aside, keeping
    /// it, rather than letting it block every decision queued behind it.
    #[error(
        "the store {location} refused the data of this batch: {source}; it cannot be stored as it is (cordond's log and the outbox's `refused` table keep it for the operator)"
    )]
    Refused {
        /// The store's address, without credentials.
        location: String,
        /// The server's answer.
        source: Source,
    },
    /// The shared store cannot be reached at start, and this gateway has
    /// no snapshot of the fleet's state to start from: it has never
    /// loaded from the store (a first start), or its outbox file is new.
    #[error(
        "cannot reach the store {location} ({source}), and this gateway has no local snapshot of the fleet's state in {outbox} to start from (it is made by a start that reaches the store): make the database reachable (check that it is up, store.url, store.password_file, store.tls, the firewall) and start cordond again; later starts keep enforcing from the snapshot when it is away"
    )]
    NoSnapshot {
        /// The store's address, without credentials.
        location: String,
        /// The outbox file the snapshot lives in.
        outbox: PathBuf,
        /// Why the store could not be reached.
        source: Source,
    },
    /// The backend's worker is gone (cordond is stopping).
    #[error("the store's writer has stopped (cordond is shutting down)")]
    Stopped,
}

impl StoreError {
    /// A failure while running ([`StoreError::Io`]); `source` may be an
    /// error or, where only its text is left, a `String`.
    pub fn io(path: impl Into<PathBuf>, source: impl Into<Source>) -> Self {
        StoreError::Io {
            path: path.into(),
            source: source.into(),
        }
    }

    /// The store cannot be reached ([`StoreError::Unreachable`]).
    pub fn unreachable(location: impl Into<String>, source: impl Into<Source>) -> Self {
        StoreError::Unreachable {
            location: location.into(),
            source: source.into(),
        }
    }

    /// Whether the store could not be reached (rather than refused or
    /// failed): the one failure an outbox queues through.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. })
    }

    /// Whether the store refused the batch's data itself
    /// ([`StoreError::Refused`]): sending it again cannot succeed.
    pub fn is_refused(&self) -> bool {
        matches!(self, StoreError::Refused { .. })
    }

    /// The store cannot be opened ([`StoreError::Unreadable`]).
    pub fn unreadable(path: impl Into<PathBuf>, source: impl Into<Source>) -> Self {
        StoreError::Unreadable {
            path: path.into(),
            source: source.into(),
        }
    }
}

/// One failure answered to many callers: a group commit fails every
/// writer in the group for the same reason, and each keeps that reason as
/// its source (not a copy of its text). Displays as the reason itself, and
/// its source is the reason's source, so a chain reads as if it were the
/// reason.
#[derive(Debug, Clone)]
pub struct Shared(Arc<dyn Error + Send + Sync + 'static>);

impl Shared {
    /// Shares `reason`.
    pub fn new(reason: impl Into<Source>) -> Self {
        Shared(Arc::from(reason.into()))
    }

    /// The reason shared (to downcast it to the backend's own type).
    pub fn reason(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for Shared {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}
