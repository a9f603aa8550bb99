//! The handle the daemon holds: one type over any [`Backend`].

use std::path::Path;
use std::sync::Arc;

use cordon_proto::control::AuditEntry;
use cordon_proto::text::{MAX_NOTE, MAX_SOURCE, clip};

use super::sqlite::Sqlite;
use super::{Backend, Loaded, StoreError, StoredReport, Write};

/// A handle on the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Opens (or creates) the SQLite store at `path`, migrates it, checks
    /// it, reads every record, and starts its writer (see [`Sqlite::open`]).
    pub fn open(path: &Path) -> Result<(Store, Loaded), StoreError> {
        let (backend, loaded) = Sqlite::open(path)?;
        Ok((Store::over(Arc::new(backend)), loaded))
    }

    /// A handle on an opened backend.
    pub fn over(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// The store: its file, or a server backend's address.
    pub fn path(&self) -> &Path {
        self.backend.location()
    }

    /// Every host record and every report, read again.
    pub async fn load(&self) -> Result<Loaded, StoreError> {
        self.backend.load().await
    }

    /// Writes the changes durably (returns after the commit), all or
    /// nothing.
    pub async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.backend.commit(writes).await
    }

    /// Every stored report, oldest first (to rebuild the ledger after the
    /// score or window changed).
    pub async fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        self.backend.reports().await
    }

    /// The latest `limit` reports counted against `unit`, newest first.
    pub async fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> Result<Vec<StoredReport>, StoreError> {
        self.backend.recent_reports(unit, limit).await
    }

    /// The audit trail, newest first, for one address or all. The actor and
    /// note are clipped here, whatever the backend: an entry stored before
    /// the bounds costs a listing no more than any other (see
    /// `cordon_proto::text`).
    pub async fn history(
        &self,
        address: Option<String>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = self.backend.history(address, limit).await?;
        for e in &mut entries {
            if let std::borrow::Cow::Owned(actor) = clip(&e.actor, MAX_SOURCE) {
                e.actor = actor;
            }
            if let std::borrow::Cow::Owned(note) = clip(&e.note, MAX_NOTE) {
                e.note = note;
            }
        }
        Ok(entries)
    }
}
