//! The PostgreSQL backend: one database shared by a fleet of gateways.
//!
//! - A pool of connections (deadpool-postgres over tokio-postgres), TLS by
//!   rustls against the configured CA only ([`connect`]).
//! - One writer task groups concurrent commits into one transaction and
//!   pipelines its statements ([`writer`]); `synchronous_commit` stays the
//!   server's (on by default), so `Ok` means durable on the server.
//! - The schema is migrated by refinery, refused when newer ([`schema`]).
//! - Every commit that changes a host, subscriber or session row bumps its
//!   `seq` and notifies `cordon_changes` ([`writer::CHANNEL`]), the change
//!   feed the other gateways follow.
//! - Two gateways deciding about one host or subscriber at once: the later
//!   decision (by its time) wins, a tie goes to the later commit, and the
//!   row's `seq` moves either way so every gateway converges on what is
//!   stored (see `writer::HOST` for why).
//! - Connection failures are [`StoreError::Unreachable`], distinct from the
//!   server's own errors.

mod connect;
mod feed;
mod read;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordon_config::PostgresStore;
use cordon_policy::lifecycle::Unix;
use cordon_proto::control::AuditEntry;
use deadpool_postgres::{Object, Pool};
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::{Backend, Loaded, SessionRecord, StoreError, StoredReport, Write, queue};
pub use writer::{AUDIT, CHANNEL, HOST};

/// The PostgreSQL backend: its pool and the queue to its writer.
#[derive(Debug)]
pub struct Postgres {
    location: PathBuf,
    pool: Pool,
    jobs: mpsc::Sender<queue::Job>,
    gateway: String,
    /// The change feed's position the start's load reached (0 until it
    /// loaded, or when the start found the database away: the follower
    /// then reads everything, as after a reconnect).
    start: std::sync::atomic::AtomicU64,
    /// Migrated once per process, before anything else is read or
    /// written (see [`Gate`]).
    gate: Arc<Gate>,
    /// What the listening connection last heard (see `feed`).
    signal: tokio::sync::watch::Receiver<crate::store::feed::Signal>,
}

/// The schema is migrated (or found newer and refused) on the first
/// connection that succeeds, before that connection does anything else,
/// whether that is the start's load or, after a start that found the
/// database away, the outbox's first replay.
#[derive(Debug)]
pub(super) struct Gate {
    migrated: tokio::sync::OnceCell<()>,
    location: PathBuf,
}

impl Gate {
    /// A connection from `pool`, the schema migrated.
    pub(super) async fn client(&self, pool: &Pool) -> Result<Object, StoreError> {
        let mut client = pool
            .get()
            .await
            .map_err(|e| connect::classify_pool(&self.location, e))?;
        self.migrated
            .get_or_try_init(|| schema::migrate(&mut client, &self.location))
            .await?;
        Ok(client)
    }
}

impl Postgres {
    /// Connects to the configured database, migrates it, reads every
    /// record and starts the writer; `gateway` is this gateway's name,
    /// written on every row it stores.
    pub async fn open(
        settings: &PostgresStore,
        gateway: String,
    ) -> Result<(Postgres, Loaded), StoreError> {
        let pg = Postgres::new(settings, gateway)?;
        let loaded = pg.prepare().await?;
        Ok((pg, loaded))
    }

    /// The backend without a word to the server yet: its pool, writer and
    /// listening task start, and connect when they are used (the listener
    /// at once, retrying). A start that finds the database away goes on
    /// from the outbox's snapshot ([`Postgres::prepare`] later is not
    /// needed: every call migrates first through the [`Gate`]).
    pub fn new(settings: &PostgresStore, gateway: String) -> Result<Postgres, StoreError> {
        let location = PathBuf::from(settings.url.location());
        let pool = connect::pool(settings, &location)?;
        let gate = Arc::new(Gate {
            migrated: tokio::sync::OnceCell::new(),
            location: location.clone(),
        });
        let jobs = writer::start(
            pool.clone(),
            location.clone(),
            gateway.clone(),
            gate.clone(),
        );
        let (tx, signal) = tokio::sync::watch::channel(crate::store::feed::Signal::default());
        tokio::spawn(feed::listen(settings.clone(), location.clone(), tx));
        Ok(Postgres {
            location,
            pool,
            jobs,
            gateway,
            start: std::sync::atomic::AtomicU64::new(0),
            gate,
            signal,
        })
    }

    /// Migrates the database and reads every record, as a start does;
    /// the change feed's start is the position reached.
    pub async fn prepare(&self) -> Result<Loaded, StoreError> {
        let mut client = self.client().await?;
        let start = feed::position(&client, &self.location).await?;
        let loaded = read::snapshot(&mut client, &self.location).await?;
        self.start.store(start, std::sync::atomic::Ordering::SeqCst);
        Ok(loaded)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.gate.client(&self.pool).await
    }
}

impl Backend for Postgres {
    fn location(&self) -> &Path {
        &self.location
    }

    fn load(&self) -> BoxFuture<'_, Result<Loaded, StoreError>> {
        Box::pin(async move {
            let mut c = self.client().await?;
            read::snapshot(&mut c, &self.location).await
        })
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
        Box::pin(async move {
            let c = self.client().await?;
            read::history(&**c, &self.location, address, subscriber, limit).await
        })
    }

    fn reports(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            read::reports(&**c, &self.location, "ORDER BY id", &[]).await
        })
    }

    fn recent_reports(
        &self,
        unit: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let limit = i64::from(limit);
            let tail = "WHERE unit = $1 ORDER BY id DESC LIMIT $2";
            read::reports(&**c, &self.location, tail, &[&unit, &limit]).await
        })
    }

    fn holders_at(
        &self,
        questions: Vec<(Vec<String>, Unix)>,
    ) -> BoxFuture<'_, Result<Vec<Option<String>>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            // Pipelined on one connection: one round trip's wait for the
            // whole feed, not one per report.
            let asks = questions
                .iter()
                .map(|(addresses, at)| read::holder_at(&**c, &self.location, addresses, *at));
            futures::future::try_join_all(asks).await
        })
    }

    fn recent_subscriber_reports(
        &self,
        subscriber: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let limit = i64::from(limit);
            let tail = "WHERE subscriber = $1 ORDER BY id DESC LIMIT $2";
            read::reports(&**c, &self.location, tail, &[&subscriber, &limit]).await
        })
    }

    fn sessions(
        &self,
        subscriber: Option<String>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let limit = i64::from(limit);
            match subscriber {
                Some(s) => {
                    let tail = "WHERE subscriber = $1 ORDER BY started DESC, id DESC LIMIT $2";
                    read::sessions(&**c, &self.location, tail, &[&s, &limit]).await
                }
                None => {
                    let tail = "ORDER BY started DESC, id DESC LIMIT $1";
                    read::sessions(&**c, &self.location, tail, &[&limit]).await
                }
            }
        })
    }

    fn holder_at(
        &self,
        addresses: Vec<String>,
        at: Unix,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            read::holder_at(&**c, &self.location, &addresses, at).await
        })
    }

    fn webhooks_due(
        &self,
        gateway: String,
        hook: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<crate::store::WebhookQueue, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            read::webhooks_due(&**c, &self.location, &gateway, &hook, limit).await
        })
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fleet;
#[cfg(test)]
mod tests_outbox;
#[cfg(test)]
mod tests_tls;
