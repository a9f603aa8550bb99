//! The store: every quarantine record and the append-only audit trail, in one
//! SQLite file. It is the truth: the kernel's sets are rebuilt from it.
//!
//! - WAL with `synchronous = FULL`: a commit is on disk before `cordond`
//!   touches the kernel or answers the operator, even across a power cut
//!   (NORMAL would only survive a process crash).
//! - One writer thread owns the write connection and commits whatever is
//!   queued in one transaction (group commit); readers open their own
//!   connections, which WAL lets run beside the writer.
//! - The schema is versioned by `PRAGMA user_version` and migrated forward
//!   from the first version ([`schema`]).
//! - Its files are 0600 however cordond is started ([`private`]).
//! - An unreadable or corrupt file stops `cordond` ([`StoreError`]); it never
//!   starts empty over it, because that would forget every quarantine.

mod error;
mod private;
mod records;
mod schema;
mod writer;

pub use error::StoreError;
pub use records::{Loaded, StoredHost, StoredReport};
pub use writer::{Store, Write, schema_version};

#[cfg(test)]
mod tests;
