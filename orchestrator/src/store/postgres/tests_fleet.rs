//! What only the PostgreSQL backend shows: the conflict rule between two
//! gateways, the change feed (`seq` and NOTIFY), the newer-schema refusal,
//! an unreachable server, and group-commit throughput.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::tests::{client, db, settings};
use super::{CHANNEL, Postgres};
use crate::store::Backend;
use crate::store::battery::{audit, config, quarantined};
use crate::store::{StoreError, Write};
use cordon_policy::lifecycle::Host;
use cordon_policy::subject::Subject;

fn clean(text: &str) -> Host {
    Host::clean(Subject::Addr(config().subscriber_addr(text).unwrap()))
}

/// The later decision wins whichever commits last; a tie goes to the
/// later commit; the losing write still bumps `seq`, so every gateway
/// re-reads the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_later_decision_wins_and_every_write_bumps_seq() {
    let d = db();
    let (a, _) = d.open_as("gw-a").await.unwrap();
    let (b, _) = d.open_as("gw-b").await.unwrap();
    let c = client(&d.url).await;
    let row = || async {
        let r = c
            .query_one("SELECT state, updated_at, gateway, seq FROM hosts", &[])
            .await
            .unwrap();
        (
            r.get::<_, String>(0),
            r.get::<_, i64>(1),
            r.get::<_, String>(2),
            r.get::<_, i64>(3),
        )
    };
    // A quarantines at 200; B's release decided at 100 commits later.
    let q = quarantined("100.64.1.7", 200);
    a.write(vec![Write::Host(q, 200)]).await.unwrap();
    let (state, at, gw, seq1) = row().await;
    assert_eq!(
        (state.as_str(), at, gw.as_str()),
        ("quarantined", 200, "gw-a")
    );
    b.write(vec![Write::Host(clean("100.64.1.7"), 100)])
        .await
        .unwrap();
    let (state, at, gw, seq2) = row().await;
    assert_eq!(
        (state.as_str(), at, gw.as_str()),
        ("quarantined", 200, "gw-a"),
        "an older decision committed later does not overwrite a newer one"
    );
    assert!(seq2 > seq1, "the losing write still bumps seq");
    // A tie: the later commit wins.
    b.write(vec![Write::Host(clean("100.64.1.7"), 200)])
        .await
        .unwrap();
    let (state, _, gw, seq3) = row().await;
    assert_eq!((state.as_str(), gw.as_str()), ("clean", "gw-b"));
    assert!(seq3 > seq2);
    // Audit rows name their gateway; history shows it.
    let h = quarantined("100.64.1.7", 300);
    a.write(vec![Write::Audit(audit(&h, 300))]).await.unwrap();
    let e = b.history(None, None, 10).await.unwrap();
    assert_eq!(e[0].gateway.as_deref(), Some("gw-a"));
}

/// Every commit that changes a feed row notifies `cordon_changes` with the
/// highest `seq` it wrote, seen by a real LISTEN connection; a commit that
/// changes none (an audit entry alone) notifies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_notify_the_highest_seq_written() {
    let d = db();
    let (store, _) = d.open_as("gw-a").await.unwrap();
    let (listener, mut conn) = tokio_postgres::connect(&d.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = m {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .unwrap();
    let a = quarantined("100.64.1.7", 10);
    let b = quarantined("100.64.1.8", 10);
    store
        .write(vec![Write::Host(a.clone(), 10), Write::Host(b, 10)])
        .await
        .unwrap();
    let c = client(&d.url).await;
    let max: i64 = c
        .query_one("SELECT MAX(seq) FROM hosts", &[])
        .await
        .unwrap()
        .get(0);
    let got = tokio::time::timeout(Duration::from_secs(5), notes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, (CHANNEL.to_owned(), max.to_string()));
    // An audit entry alone changes no feed row: no notification.
    store
        .write(vec![Write::Audit(audit(&a, 11))])
        .await
        .unwrap();
    // A session begins: notified with its seq, above the hosts'.
    let s = cordon_proto::subscriber::SessionRecord {
        subscriber: "alice".into(),
        address: "100.64.1.9".into(),
        source: cordon_proto::subscriber::SessionSource::Operator,
        session_id: None,
        nas: None,
        calling_station: None,
        started: 12,
        ended: None,
    };
    store.write(vec![Write::SessionBegan(s)]).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), notes.recv())
        .await
        .unwrap()
        .unwrap();
    let seq: i64 = c
        .query_one("SELECT seq FROM sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(got.1, seq.to_string(), "the audit-only commit sent nothing");
    assert!(seq > max);
}

/// A database migrated by a newer cordond is refused, not written over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let d = db();
    drop(d.open_as("gw-a").await.unwrap());
    client(&d.url)
        .await
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (99, 'future', 'now', '0')",
        )
        .await
        .unwrap();
    let err = d.open_as("gw-a").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                known: 4,
                ..
            }
        ),
        "{err}"
    );
}

/// A server that is gone answers `Unreachable` (not `Io`) within the
/// connect timeout, at open and for a commit after it died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_told_apart_quickly() {
    let mut d = db();
    let (store, _) = d.open_as("gw-a").await.unwrap();
    d.server.kill();
    let started = Instant::now();
    let err = store
        .write(vec![Write::Host(quarantined("100.64.1.7", 1), 1)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot reach the store"), "{err}");
    let mut s = settings(&d.url);
    s.connect_timeout = Duration::from_secs(2);
    let err = Postgres::open(&s, "gw-a".into()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Group commit: many concurrent single-quarantine commits (a record and
/// its audit entry each), all durable (`synchronous_commit` on), land in
/// far fewer transactions. Prints the rate (it depends on the machine, so
/// it is not asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_commits_are_grouped() {
    let d = db();
    let (store, _) = d.open_as("gw-a").await.unwrap();
    let n: u32 = 20_000;
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let text = format!("100.64.{}.{}", i / 250, i % 250 + 1);
                let h = quarantined(&text, 1);
                store
                    .write(vec![Write::Host(h.clone(), 1), Write::Audit(audit(&h, 1))])
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let took = started.elapsed();
    eprintln!(
        "{n} quarantines acknowledged in {took:?}: {:.0}/s",
        f64::from(n) / took.as_secs_f64()
    );
    let c = client(&d.url).await;
    let sync: String = c
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, "on");
    let count: i64 = c
        .query_one("SELECT COUNT(*) FROM hosts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, i64::from(n));
    // Each row's xmin is the transaction that wrote it: far fewer
    // transactions than commits means they were grouped.
    let transactions: i64 = c
        .query_one("SELECT COUNT(DISTINCT xmin::TEXT) FROM hosts", &[])
        .await
        .unwrap()
        .get(0);
    eprintln!("in {transactions} transactions");
    assert!(
        transactions * 10 < i64::from(n),
        "{transactions} transactions"
    );
    // Steady load: 256 tasks, each committing one quarantine after another.
    let (tasks, each) = (256u32, 40u32);
    let started = Instant::now();
    let workers: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    let text = format!("100.64.{}.{}", 100 + t / 200, t % 200 + 1);
                    let h = quarantined(&text, i64::from(i) + 2);
                    let at = i64::from(i) + 2;
                    store
                        .write(vec![
                            Write::Host(h.clone(), at),
                            Write::Audit(audit(&h, at)),
                        ])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let took = started.elapsed();
    eprintln!(
        "{tasks} tasks x {each} sequential quarantines in {took:?}: {:.0}/s",
        f64::from(tasks * each) / took.as_secs_f64()
    );
}

/// The audit trail is append-only in the database itself, as in SQLite:
/// an update or a delete by hand is refused; only the retention purge
/// removes entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_append_only() {
    let d = db();
    let (store, _) = d.open_as("gw-a").await.unwrap();
    let h = quarantined("100.64.1.7", 10);
    store
        .write(vec![Write::Audit(audit(&h, 10))])
        .await
        .unwrap();
    let c = client(&d.url).await;
    for sql in ["UPDATE audit SET note = 'edited'", "DELETE FROM audit"] {
        let err = c.batch_execute(sql).await.unwrap_err();
        let db = err.as_db_error().unwrap();
        assert!(db.message().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(store.history(None, None, 10).await.unwrap().len(), 1);
    store
        .write(vec![Write::Purge { before: 11 }])
        .await
        .unwrap();
    assert!(store.history(None, None, 10).await.unwrap().is_empty());
}

/// The password comes from `store.password_file` (the URL may not hold
/// one); a wrong one is refused at the login, which is `Unreachable`
/// (nothing can be stored) with the server's reason kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_file_logs_in() {
    let d = db();
    let url = d.server.password_role("cordon", "s3cret", "fleet");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    let mut s = settings(&url);
    s.password_file = Some(file.clone());
    std::fs::write(&file, "wrong\n").unwrap();
    let err = Postgres::open(&s, "gw-a".into()).await.unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    assert!(format!("{err:?}").contains("28P01"), "{err:?}");
    std::fs::write(&file, "s3cret\n").unwrap();
    let (store, _) = Postgres::open(&s, "gw-a".into()).await.unwrap();
    store
        .commit(vec![Write::Host(quarantined("100.64.1.7", 1), 1)])
        .await
        .unwrap();
}

/// Gateways starting at once against a new database migrate it once
/// (an advisory lock), and all of them open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_starting_at_once_migrate_once() {
    let d = db();
    let opens = (0..4).map(|i| d.open_as(if i % 2 == 0 { "gw-a" } else { "gw-b" }));
    for opened in futures::future::join_all(opens).await {
        opened.unwrap();
    }
    let c = client(&d.url).await;
    let applied: i64 = c
        .query_one("SELECT COUNT(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, super::schema::known());
}
