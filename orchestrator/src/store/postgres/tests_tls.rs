//! TLS to PostgreSQL end to end, against a real server that takes only
//! encrypted connections on TCP (`cordon_testkit::pg::PgServer::start_tls`,
//! its certificate signed by a CA the test made): the store, configured as
//! an operator writes it (`store.tls.mode: verify-full`, `store.tls.ca_file`),
//! connects, writes and reads back; with a CA that did not sign the
//! server's certificate it is refused, naming the key to fix.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use cordon_config::{Config, PostgresStore};
use cordon_testkit::Fixture;
use cordon_testkit::pg::PgServer;
use cordon_testkit::tls::Issued;

use super::Postgres;
use crate::store::battery::{audit, quarantined};
use crate::store::{Store, StoreError, Write};

/// The config of a gateway on `url` over TLS, trusting the CA in
/// `ca_file`, loaded as cordond loads it.
fn config(url: &str, ca_file: &Path, dir: &Path) -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .set("store.backend", "postgres")
        .set("store.url", serde_json::to_string(url).unwrap())
        .set("store.gateway", "gw-a")
        .set(
            "store.tls",
            format!(
                "{{mode: verify-full, ca_file: {}}}",
                serde_json::to_string(&ca_file.display().to_string()).unwrap()
            ),
        )
        .set_path("store.outbox", &dir.join("outbox.db"))
        .load()
}

/// The PostgreSQL settings of `config`.
fn postgres(config: &Config) -> PostgresStore {
    match &config.store {
        cordon_config::Store::Postgres(p) => (**p).clone(),
        other => panic!("not a PostgreSQL store: {other:?}"),
    }
}

/// A server taking TLS only on TCP, its database's TCP URL, and a
/// directory with its CA written as `ca.pem`.
fn server() -> (PgServer, String, tempfile::TempDir) {
    let server = PgServer::start_tls();
    let url = server.database("cordon");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), server.tls_ca_pem().unwrap()).unwrap();
    (server, url, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_over_tls_verifies_the_server_connects_and_writes() {
    let (_server, url, dir) = server();
    // Plain TCP is refused by this server: whatever connects, connects
    // over TLS.
    let plain = tokio_postgres::connect(&url, tokio_postgres::NoTls).await;
    assert!(plain.is_err(), "plain TCP was accepted");
    let cfg = config(&url, &dir.path().join("ca.pem"), dir.path());
    let (backend, loaded) = Postgres::open(&postgres(&cfg), "gw-a".into())
        .await
        .unwrap();
    assert!(loaded.hosts.is_empty());
    let store = Store::over(Arc::new(backend));
    let h = quarantined("100.64.1.7", 10);
    store
        .write(vec![
            Write::Host(h.clone(), 10),
            Write::Audit(audit(&h, 10)),
        ])
        .await
        .unwrap();
    let trail = store.history(None, None, 10).await.unwrap();
    assert_eq!(trail.len(), 1, "{trail:?}");
    // A second start reads it back over TLS.
    drop(store);
    let (_, loaded) = Postgres::open(&postgres(&cfg), "gw-a".into())
        .await
        .unwrap();
    assert_eq!(loaded.hosts.len(), 1, "{:?}", loaded.hosts);
    assert_eq!(loaded.hosts[0].address, "100.64.1.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_another_ca_signed_is_refused_naming_the_ca_file() {
    let (_server, url, dir) = server();
    let wrong = dir.path().join("wrong-ca.pem");
    Issued::new("someone else's CA", &["127.0.0.1"]).write_ca(&wrong);
    let cfg = config(&url, &wrong, dir.path());
    let err = Postgres::open(&postgres(&cfg), "gw-a".into())
        .await
        .expect_err("a server the CA did not sign was accepted");
    // Unreachable, as any connection failure (a running gateway keeps
    // enforcing and queues), but saying why and what to fix.
    let text = format!("{err}");
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(text.contains("store.tls.ca_file holds the CA"), "{text}");
}
