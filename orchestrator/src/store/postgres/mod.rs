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

use cordon_config::PostgresStore;
use cordon_policy::lifecycle::Unix;
use cordon_proto::control::AuditEntry;
use deadpool_postgres::{Object, Pool};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use super::{Backend, Loaded, SessionRecord, StoreError, StoredReport, Write};
pub use writer::{AUDIT, CHANNEL, HOST};

/// The PostgreSQL backend: its pool and the queue to its writer.
#[derive(Debug)]
pub struct Postgres {
    location: PathBuf,
    pool: Pool,
    jobs: mpsc::Sender<writer::Job>,
    gateway: String,
    /// The change feed's position the start's load reached.
    start: crate::store::feed::Position,
    /// What the listening connection last heard (see `feed`).
    signal: tokio::sync::watch::Receiver<crate::store::feed::Signal>,
}

impl Postgres {
    /// Connects to the configured database, migrates it, reads every
    /// record and starts the writer; `gateway` is this gateway's name,
    /// written on every row it stores.
    pub async fn open(
        settings: &PostgresStore,
        gateway: String,
    ) -> Result<(Postgres, Loaded), StoreError> {
        let location = PathBuf::from(settings.url.location());
        let pool = connect::pool(settings, &location)?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| connect::classify_pool(&location, e))?;
        schema::migrate(&mut client, &location).await?;
        let start = feed::position(&client, &location).await?;
        let loaded = read::snapshot(&mut client, &location).await?;
        drop(client);
        let jobs = writer::start(pool.clone(), location.clone(), gateway.clone());
        let (tx, signal) = tokio::sync::watch::channel(crate::store::feed::Signal::default());
        tokio::spawn(feed::listen(settings.clone(), location.clone(), tx));
        Ok((
            Postgres {
                location,
                pool,
                jobs,
                gateway,
                start,
                signal,
            },
            loaded,
        ))
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| connect::classify_pool(&self.location, e))
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
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.jobs
                .send(writer::Job { writes, reply })
                .await
                .map_err(|_| StoreError::Stopped)?;
            answer.await.map_err(|_| StoreError::Stopped)?
        })
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
