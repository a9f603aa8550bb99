//! The core over a PostgreSQL store opened from the config as cordond
//! opens it (`store.backend: postgres`), on a real server: a quarantine is
//! stored with this gateway's name, and a restarted core (a new store
//! handle, a new kernel) walls the address in again from the database.

#![allow(clippy::unwrap_used)]

use cordon_policy::lifecycle::{Event, QuarantineRequest};
use cordon_policy::subject::Subject;
use cordon_proto::portal::Reason;
use cordon_testkit::Fixture;
use cordon_testkit::pg::PgServer;
use tokio::sync::oneshot;

use super::*;
use crate::kernel::FakeKernel;

fn config(url: &str, dir: &std::path::Path) -> Config {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .set("store.backend", "postgres")
        .set("store.url", serde_json::to_string(url).unwrap())
        .set("store.gateway", "gw-a")
        .set_path("store.outbox", &dir.join("outbox.db"))
        .load()
}

/// A core over the configured store, installed in a fake kernel.
async fn start(config: &Arc<Config>) -> (Core, Arc<FakeKernel>, Store) {
    let crate::store::Opened { store, loaded, .. } =
        Store::open_configured(config, || "unused".into())
            .await
            .unwrap();
    let kernel = Arc::new(FakeKernel::default());
    let mut core = Core::builder(config.clone(), store.clone())
        .kernel(kernel.clone())
        .build(loaded)
        .core;
    core.install().await.unwrap();
    (core, kernel, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_on_a_postgres_store_survives_a_restart() {
    let server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(&server.database("cordon"), dir.path()));
    assert!(
        config
            .store
            .location()
            .starts_with("postgresql://postgres@[")
    );
    let (mut core, kernel, store) = start(&config).await;
    let addr = config.subscriber_addr("100.64.1.7").unwrap();
    let (tx, rx) = oneshot::channel();
    let event = Event::Quarantine(QuarantineRequest {
        subject: Subject::Addr(addr),
        reason: Reason::Operator,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
        hold: None,
        mac: None,
        evidence: Default::default(),
    });
    core.decide(vec![Input::Event(event)], vec![Waiting::Event(tx)])
        .await;
    core.drain().await;
    rx.await.unwrap().unwrap();
    let unit: ipnet::IpNet = "100.64.1.7/32".parse().unwrap();
    assert!(kernel.state.lock().quarantined.contains(&unit));
    let history = store.history(None, None, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].gateway.as_deref(), Some("gw-a"));
    drop((core, store));

    let (_core, kernel, _store) = start(&config).await;
    assert!(
        kernel.state.lock().quarantined.contains(&unit),
        "rebuilt from the database at start"
    );
}

/// A core of gateway `gateway` over the shared database, with a webhook.
async fn start_as(url: &str, dir: &std::path::Path, gateway: &str) -> (Core, Store) {
    let config = Arc::new(
        Fixture::new()
            .prefixes("[100.64.0.0/16]")
            .set("store.backend", "postgres")
            .set("store.url", serde_json::to_string(url).unwrap())
            .set("store.gateway", gateway)
            .set_path("store.outbox", &dir.join(format!("{gateway}.db")))
            .set(
                "webhooks",
                "[{url: \"http://crm.example/h\", secret_file: /k}]",
            )
            .load(),
    );
    let crate::store::Opened { store, loaded, .. } =
        Store::open_configured(&config, || "unused".into())
            .await
            .unwrap();
    let mut core = Core::builder(config.clone(), store.clone())
        .kernel(Arc::new(FakeKernel::default()))
        .webhooks(gateway.into(), Arc::default())
        .build(loaded)
        .core;
    core.install().await.unwrap();
    (core, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_gateway_queues_webhook_events_only_for_what_it_decided() {
    let server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.database("cordon");
    let (mut a, store) = start_as(&url, dir.path(), "gw-a").await;
    let (mut b, _) = start_as(&url, dir.path(), "gw-b").await;
    let addr = a.config.subscriber_addr("100.64.1.7").unwrap();
    let (tx, rx) = oneshot::channel();
    let event = Event::Quarantine(QuarantineRequest {
        subject: Subject::Addr(addr),
        reason: Reason::Operator,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
        hold: None,
        mac: None,
        evidence: Default::default(),
    });
    a.decide(vec![Input::Event(event)], vec![Waiting::Event(tx)])
        .await;
    a.drain().await;
    let host = rx.await.unwrap().unwrap().unwrap();
    // Gateway B adopts the record A stored (as its change feed hands it).
    b.decide(vec![Input::Stored(host)], vec![Waiting::Nobody])
        .await;
    b.drain().await;
    assert_eq!(
        b.engine.state_of(&Subject::Addr(addr)),
        cordon_proto::portal::HostState::Quarantined
    );
    let hook = "http://crm.example/h";
    let queued_a = store.webhooks_due("gw-a", hook, 10).await.unwrap();
    assert_eq!(queued_a.queued, 1, "the deciding gateway's event");
    let body: serde_json::Value = serde_json::from_str(&queued_a.rows[0].body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["gateway"].as_str()),
        (Some("quarantined"), Some("gw-a"))
    );
    assert_eq!(
        store.webhooks_due("gw-b", hook, 10).await.unwrap().queued,
        0,
        "an adopted record is not published again"
    );
}

/// Quarantines `text` by operator, waiting for the answer.
async fn quarantine(core: &mut Core, text: &str) {
    let (tx, rx) = oneshot::channel();
    let event = Event::Quarantine(QuarantineRequest {
        subject: Subject::Addr(core.config.subscriber_addr(text).unwrap()),
        reason: Reason::Operator,
        actor: cordon_policy::Actor::Operator("alice".into()),
        note: "ticket".into(),
        hold: None,
        mac: None,
        evidence: Default::default(),
    });
    core.decide(vec![Input::Event(event)], vec![Waiting::Event(tx)])
        .await;
    core.drain().await;
    rx.await.unwrap().unwrap();
}

/// A start while the database is away enforces the local snapshot and the
/// decisions queued since; a first start with neither is refused, naming
/// the remedy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_while_postgres_is_away_enforces_the_local_snapshot() {
    let mut server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.database("cordon");
    let cfg = Arc::new(config(&url, dir.path()));
    let (mut core, _, store) = start(&cfg).await;
    quarantine(&mut core, "100.64.1.7").await;
    drop((core, store));
    server.kill();
    let unit = |t: &str| -> ipnet::IpNet { format!("{t}/32").parse().unwrap() };

    let (mut core, kernel, store) = start(&cfg).await;
    assert!(
        kernel
            .state
            .lock()
            .quarantined
            .contains(&unit("100.64.1.7"))
    );
    let outbox = store.outbox().unwrap();
    assert!(outbox.unreachable_since.is_some(), "{outbox:?}");
    // Decided while away: queued, and enforced by the next start too.
    quarantine(&mut core, "100.64.1.8").await;
    assert_eq!(store.outbox().unwrap().queued, 1);
    drop((core, store));
    let (_core, kernel, _store) = start(&cfg).await;
    let q = kernel.state.lock().quarantined.clone();
    assert!(
        q.contains(&unit("100.64.1.7")) && q.contains(&unit("100.64.1.8")),
        "{q:?}"
    );

    // Another gateway's first start, with no snapshot of its own.
    let other = tempfile::tempdir().unwrap();
    let err = Store::open_configured(&config(&url, other.path()), || "unused".into())
        .await
        .unwrap_err();
    assert!(
        matches!(err, crate::store::StoreError::NoSnapshot { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("no local snapshot"), "{err}");
    assert!(
        err.to_string().contains("make the database reachable"),
        "{err}"
    );
    server.restart();
}
