//! The PostgreSQL backend against a real server (Debian's `postgresql`,
//! started per test by `cordon_testkit::pg` on a Unix socket): the whole
//! store battery, then what only this backend shows (see `tests_fleet`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cordon_config::{PgTls, PoolSize, PostgresStore};
use cordon_testkit::pg::PgServer;
use futures::future::BoxFuture;

use super::Postgres;
use crate::store::battery::Harness;
use crate::store::{Loaded, Store, StoreError};

/// A server with one database, opened as gateway `gw-a`.
#[allow(dead_code)] // `server` is held so the server lives as long as the test.
pub(super) struct Db {
    pub(super) server: PgServer,
    pub(super) url: String,
}

pub(super) fn db() -> Db {
    let server = PgServer::start();
    let url = server.database("cordon");
    Db { server, url }
}

/// The settings of a store at `url`.
pub(super) fn settings(url: &str) -> PostgresStore {
    PostgresStore {
        url: url.parse().unwrap(),
        gateway: None,
        pool_size: PoolSize::default(),
        connect_timeout: Duration::from_secs(5),
        tls: PgTls::default(),
        password_file: None,
        outbox: cordon_config::default_outbox_path(),
    }
}

/// A plain client on the database (to look under the backend).
pub(super) async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

impl Db {
    pub(super) async fn open_as(&self, gateway: &str) -> Result<(Store, Loaded), StoreError> {
        let (backend, loaded) = Postgres::open(&settings(&self.url), gateway.into()).await?;
        Ok((Store::over(std::sync::Arc::new(backend)), loaded))
    }
}

impl Harness for Db {
    fn open(&self) -> BoxFuture<'_, Result<(Store, Loaded), StoreError>> {
        Box::pin(self.open_as("gw-a"))
    }

    fn refuse_host<'a>(&'a self, address: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let name = address.replace(['.', ':', '/'], "_");
            client(&self.url)
                .await
                .batch_execute(&format!(
                    "CREATE FUNCTION refuse_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
                     CREATE TRIGGER refuse_{name} BEFORE INSERT ON hosts FOR EACH ROW
                     WHEN (NEW.address = '{address}') EXECUTE FUNCTION refuse_{name}();"
                ))
                .await
                .unwrap();
        })
    }
}

crate::store_battery!(db());
