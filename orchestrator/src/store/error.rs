//! What can go wrong with the store, and what the operator should do.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be opened or read as a database (not SQLite, torn,
    /// wrong permissions). Refusing is deliberate: starting empty would lift
    /// every quarantine.
    #[error(
        "cannot read the store {path}: {source}. cordond will not start over an unreadable store (that would forget every quarantine); restore it from a backup, or move it aside to start afresh on purpose"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// SQLite's integrity check found damage.
    #[error(
        "the store {path} is corrupt ({detail}). cordond will not start over it; restore it from a backup (or try `sqlite3 {path} .recover`), or move it aside to start afresh on purpose"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What `PRAGMA quick_check` said.
        detail: String,
    },
    /// Written by a newer cordond.
    #[error(
        "the store {path} has schema version {found}, newer than this cordond understands ({known}); run the newer cordond, or restore a backup made by this version"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// A write or read failed while running (disk full, I/O error).
    #[error(
        "the store {path} failed: {detail}; check the disk (space, errors) and the file's permissions"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// SQLite's reason (as text: one failed group commit answers
        /// every writer in the group).
        detail: String,
    },
    /// A stored record is not in the expected form.
    #[error(
        "a record in the store {path} cannot be read ({detail}); it was written by another program or version"
    )]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The writer thread is gone (cordond is stopping).
    #[error("the store's writer has stopped (cordond is shutting down)")]
    Stopped,
}
