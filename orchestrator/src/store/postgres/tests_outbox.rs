//! A batch PostgreSQL refuses for its data, against a real server: a
//! report whose evidence holds a NUL character, which PostgreSQL's `TEXT`
//! cannot hold (SQLSTATE 22021). cordond escapes a NUL where text comes in
//! (`cordon_proto::text::storable`), so this stands for any batch the
//! database refuses for its data (one queued by an older cordond, a rule
//! of a newer schema), written here past that escape. Refused when sent
//! directly, it
//! must fail only its own caller; queued while the database was away, it
//! must not block the outbox (and the follower waiting on it) for ever.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Postgres;
use super::tests::{client, db, settings};
use crate::store::battery::{audit, config, quarantined, report};
use crate::store::outbox::Outbox;
use crate::store::{Backend, Store, Write};

/// A quarantine of `text` at `at`, its audit entry, and a report whose
/// evidence is `evidence`.
fn decision(text: &str, at: i64, evidence: &str) -> Vec<Write> {
    let h = quarantined(text, at);
    let mut r = report(text, at, None);
    r.evidence = evidence.into();
    vec![
        Write::Host(h.clone(), at),
        Write::Audit(audit(&h, at)),
        Write::Report(r),
    ]
}

/// The addresses the database's audit trail holds, sorted.
async fn audited(url: &str) -> Vec<String> {
    let rows = client(url)
        .await
        .query("SELECT address FROM audit ORDER BY address", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_fails_only_its_own_caller_among_a_group() {
    let d = db();
    let (backend, _) = Postgres::open(&settings(&d.url), "gw-a".into())
        .await
        .unwrap();
    let store = Store::over(Arc::new(backend));
    let calls = (2..60).map(|i| {
        let store = store.clone();
        async move {
            let text = format!("100.64.1.{i}");
            let evidence = if i == 30 { "a NUL \0 here" } else { "spam" };
            (i, store.write(decision(&text, 10, evidence)).await)
        }
    });
    let answers = futures::future::join_all(calls).await;
    for (i, answer) in &answers {
        if *i == 30 {
            let err = answer.as_ref().unwrap_err();
            assert!(err.is_refused(), "{err:?}");
            assert!(err.to_string().contains("0x00"), "{err}");
        } else {
            assert!(answer.is_ok(), "{i}: {answer:?}");
        }
    }
    let stored = audited(&d.url).await;
    assert_eq!(stored.len(), 57, "{stored:?}");
    assert!(!stored.contains(&"100.64.1.30".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_batch_the_database_refuses_is_set_aside_and_the_rest_replays() {
    let mut d = db();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let open = |backend: Postgres| {
        let remote: Arc<dyn Backend> = Arc::new(backend);
        Outbox::open(remote, &path, "gw-a", config(), Duration::from_secs(2)).unwrap()
    };
    let (backend, _) = Postgres::open(&settings(&d.url), "gw-a".into())
        .await
        .unwrap();
    let outbox = open(backend);
    let metrics = crate::metrics::Metrics::new();
    outbox.report_to(&metrics);
    d.server.kill();
    outbox
        .commit(decision("100.64.1.7", 10, "line one\0line two"))
        .await
        .unwrap();
    outbox
        .commit(decision("100.64.1.8", 11, "spam"))
        .await
        .unwrap();
    assert_eq!(outbox.state().queued, 2);
    d.server.restart();
    // The pool finds its broken connections at their next use: replay
    // until the database answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        match outbox.replay().await {
            Ok(sent) => break sent,
            Err(e) if e.is_unreachable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the replay is blocked: {e:?}; {:?}", outbox.state()),
        }
    };
    assert_eq!(sent, 1);
    let state = outbox.state();
    assert_eq!((state.queued, state.refused), (0, 1), "{state:?}");
    assert_eq!(state.unreachable_since, None, "the database answered");
    assert_eq!(audited(&d.url).await, vec!["100.64.1.8".to_owned()]);
    let text = metrics.encode();
    assert!(text.contains("cordon_store_outbox_refused 1\n"), "{text}");
    assert!(text.contains("cordon_store_outbox_batches 0\n"), "{text}");
    // Nothing is lost: the refused batch is kept in the file, with why.
    let (error, body): (String, String) = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT error, body FROM refused", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(error.contains("0x00"), "{error}");
    assert!(
        body.contains("100.64.1.7") && body.contains("line two"),
        "{body}"
    );
    // A restarted cordond still counts it.
    drop(outbox);
    let (backend, _) = Postgres::open(&settings(&d.url), "gw-a".into())
        .await
        .unwrap();
    let outbox = open(backend);
    assert_eq!(outbox.state().refused, 1);
    assert!(matches!(outbox.replay().await, Ok(0)));
}
