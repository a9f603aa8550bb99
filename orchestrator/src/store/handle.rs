//! The handle the daemon holds: one type over any [`Backend`].

use std::path::Path;
use std::sync::Arc;

use cordon_policy::lifecycle::Unix;
use cordon_proto::control::AuditEntry;
use cordon_proto::subscriber::MAX_SUBSCRIBER_ID;
use cordon_proto::text::{MAX_NOTE, MAX_SOURCE, clip};

use super::feed::Feed;
use super::outbox::{DEFAULT_BOUND, Outbox};
use super::postgres::Postgres;
use super::sqlite::Sqlite;
use super::{Backend, Loaded, SessionRecord, StoreError, StoredReport, Write};

/// What opening the configured store gives.
#[derive(Debug)]
pub struct Opened {
    /// The handle.
    pub store: Store,
    /// What it held.
    pub loaded: Loaded,
    /// For a store shared by a fleet: what this gateway follows and where
    /// its decisions wait while the store is away.
    pub fleet: Option<Fleet>,
}

/// A gateway's part in a fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The shared store's change feed.
    pub feed: Arc<dyn Feed>,
    /// This gateway's outbox, in front of the shared store.
    pub outbox: Arc<Outbox>,
}

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

    /// Opens the backend `config` names: the SQLite file (off the async
    /// threads), or the PostgreSQL database as gateway `gateway` (the host
    /// name unless the config names it), behind this gateway's outbox, with
    /// the change feed it follows.
    pub async fn open_configured(
        config: &cordon_config::Config,
        gateway: impl FnOnce() -> String,
    ) -> Result<Opened, StoreError> {
        match &config.store {
            cordon_config::Store::Sqlite(s) => {
                let path = s.path.clone();
                let (store, loaded) = tokio::task::spawn_blocking(move || Store::open(&path))
                    .await
                    .map_err(|_| StoreError::Stopped)??;
                Ok(Opened {
                    store,
                    loaded,
                    fleet: None,
                })
            }
            cordon_config::Store::Postgres(p) => {
                let name = p
                    .gateway
                    .as_ref()
                    .map_or_else(gateway, |g| g.as_str().to_owned());
                let backend = Arc::new(Postgres::new(p, name.clone())?);
                let (path, config) = (p.outbox.clone(), config.clone());
                let remote: Arc<dyn Backend> = backend.clone();
                let outbox = tokio::task::spawn_blocking(move || {
                    Outbox::open(remote, &path, name, config, DEFAULT_BOUND)
                })
                .await
                .map_err(|_| StoreError::Stopped)??;
                let outbox = Arc::new(outbox);
                // Enforcement never waits on the database, not even at
                // start: when it is away, start from the local snapshot.
                let bounded = tokio::time::timeout(p.connect_timeout * 2, backend.prepare()).await;
                let loaded = match bounded {
                    Ok(Ok(loaded)) => outbox.loaded_from_store(loaded).await?,
                    Ok(Err(e)) if e.is_unreachable() => outbox.loaded_from_snapshot(e).await?,
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        let why = StoreError::unreachable(
                            backend.location().display().to_string(),
                            format!("no answer within {:?}", p.connect_timeout * 2),
                        );
                        outbox.loaded_from_snapshot(why).await?
                    }
                };
                Ok(Opened {
                    store: Store::over(outbox.clone()),
                    loaded,
                    fleet: Some(Fleet {
                        feed: backend,
                        outbox,
                    }),
                })
            }
        }
    }

    /// A handle on an opened backend.
    pub fn over(backend: Arc<dyn Backend>) -> Store {
        Store { backend }
    }

    /// The store, for messages and logs: its file, or a server backend's
    /// address and database (never a password).
    pub fn location(&self) -> String {
        self.backend.location().display().to_string()
    }

    /// The outbox in front of the store, when there is one (see
    /// [`Backend::outbox`](super::Backend::outbox)).
    pub fn outbox(&self) -> Option<super::OutboxState> {
        self.backend.outbox()
    }

    /// Every host record, every report and every open session, read again.
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

    /// The oldest `limit` events `gateway` queued for `hook`, and how many
    /// it queued in all (see [`Backend::webhooks_due`]).
    pub async fn webhooks_due(
        &self,
        gateway: &str,
        hook: &str,
        limit: u32,
    ) -> Result<super::WebhookQueue, StoreError> {
        self.backend
            .webhooks_due(gateway.to_owned(), hook.to_owned(), limit)
            .await
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

    /// Who held each address when, in one read (see
    /// [`Backend::holder_at`](super::Backend::holder_at)).
    pub async fn holders_at(
        &self,
        questions: Vec<(Vec<String>, Unix)>,
    ) -> Result<Vec<Option<String>>, StoreError> {
        self.backend.holders_at(questions).await
    }

    /// The latest `limit` reports counted against a subscriber, newest
    /// first.
    pub async fn recent_subscriber_reports(
        &self,
        subscriber: String,
        limit: u32,
    ) -> Result<Vec<StoredReport>, StoreError> {
        self.backend
            .recent_subscriber_reports(subscriber, limit)
            .await
    }

    /// The audit trail, newest first, for one address or all. The actor and
    /// note are clipped here, whatever the backend: an entry stored before
    /// the bounds costs a listing no more than any other (see
    /// `cordon_proto::text`).
    pub async fn history(
        &self,
        address: Option<String>,
        subscriber: Option<String>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = self.backend.history(address, subscriber, limit).await?;
        for e in &mut entries {
            clip_in_place(&mut e.actor, MAX_SOURCE);
            clip_in_place(&mut e.note, MAX_NOTE);
        }
        Ok(entries)
    }

    /// The session history, newest first (by start, then the order
    /// written), of one subscriber or everyone, at most `limit` rows. Its
    /// texts came from outside (accounting packets, hook scripts) and are
    /// clipped here like the audit trail's, whatever the backend and
    /// whichever version stored them: a listing costs no more for a row
    /// that was stored oversized.
    pub async fn sessions(
        &self,
        subscriber: Option<String>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let mut rows = self.backend.sessions(subscriber, limit).await?;
        for row in &mut rows {
            clip_in_place(&mut row.subscriber, MAX_SUBSCRIBER_ID);
            clip_in_place(&mut row.address, MAX_SOURCE);
            for text in [&mut row.session_id, &mut row.nas, &mut row.calling_station]
                .into_iter()
                .flatten()
            {
                clip_in_place(text, MAX_SOURCE);
            }
        }
        Ok(rows)
    }

    /// The subscriber who held any of `addresses` at `at` (its unit and
    /// every wider prefix that could contain it, as stored; matched
    /// exactly), the latest to start of several; `None` when nobody did.
    /// This is how a report or a block-list hit about an address at a time
    /// finds whom it is about.
    pub async fn holder_at(
        &self,
        addresses: Vec<String>,
        at: Unix,
    ) -> Result<Option<String>, StoreError> {
        self.backend.holder_at(addresses, at).await
    }
}

/// Clips `text` to `max` bytes when it is longer (see `cordon_proto::text`).
fn clip_in_place(text: &mut String, max: usize) {
    if let std::borrow::Cow::Owned(clipped) = clip(text, max) {
        *text = clipped;
    }
}
