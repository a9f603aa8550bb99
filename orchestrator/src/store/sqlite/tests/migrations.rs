//! Stores written by earlier versions: each migration keeps every record
//! and gains what its version adds.

#![allow(clippy::unwrap_used)]

use super::*;

#[tokio::test]
async fn a_store_of_the_second_schema_version_keeps_everything_and_gains_sessions() {
    let f = file();
    // A store as issue 12's cordond left it: version 2, a quarantine, its
    // audit entry and a report.
    let h = quarantined("100.64.1.7", 100);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.execute_batch("PRAGMA user_version = 2;").unwrap();
        let record = serde_json::to_string(&crate::store::Record::of(&h)).unwrap();
        conn.execute(
            "INSERT INTO hosts (address, state, record, updated_at) VALUES ('100.64.1.7', 'quarantined', ?1, 100)",
            [record],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO audit (at, address, from_state, to_state, actor, note)
             VALUES (100, '100.64.1.7', 'clean', 'quarantined', 'alice', 'ticket');
             INSERT INTO reports (unit, address, at, received_at, source, evidence, message_id, weight, counted)
             VALUES ('100.64.1.7', '100.64.1.7', 90, 95, 'fbl', 'spam', '<1@x>', 1, 1);",
        )
        .unwrap();
    }
    // Adding the audit trail's column does not trip its append-only
    // triggers, and everything is still there.
    let (store, loaded) = Store::open(&f.path).unwrap();
    assert_eq!(
        schema_version(&f.path).unwrap(),
        Some(i64::try_from(MIGRATIONS.len()).unwrap())
    );
    assert_eq!(loaded.into_parts(&config()).0, vec![h]);
    let entries = store.history(None, None, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].note.as_str(), &entries[0].subscriber),
        ("ticket", &None)
    );
    let reports = store.reports().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].message_id.as_deref(), Some("<1@x>"));
    // The new tables, columns and indexes are there and work.
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for name in [
        "audit_subscriber",
        "reports_subscriber",
        "sessions",
        "sessions_address",
        "sessions_ended",
        "sessions_open",
        "sessions_started",
        "sessions_subscriber",
        "subscribers",
        "subscribers_state",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
    }
    conn.execute_batch(
        "INSERT INTO subscribers (id, state, record, updated_at) VALUES ('alice', 'quarantined', '{}', 100);
         INSERT INTO audit (at, address, from_state, to_state, actor, note, subscriber)
         VALUES (200, '100.64.1.7', 'quarantined', 'clean', 'bob', 'cleaned', 'alice');
         UPDATE reports SET subscriber = 'alice';",
    )
    .unwrap();
    let bad = conn.execute(
        "INSERT INTO subscribers (id, state, record, updated_at) VALUES ('bob', 'gone', '{}', 1)",
        [],
    );
    assert!(bad.unwrap_err().to_string().contains("CHECK"));
    let bad = conn.execute(
        "INSERT INTO sessions (subscriber, address, source, started) VALUES ('bob', '100.64.1.8', 'smoke', 1)",
        [],
    );
    assert!(bad.unwrap_err().to_string().contains("CHECK"));
    let newest = &store.history(None, None, 10).await.unwrap()[0];
    assert_eq!(newest.subscriber.as_deref(), Some("alice"));
    let upd = conn.execute("UPDATE audit SET note = 'x'", []);
    assert!(upd.unwrap_err().to_string().contains("append-only"));
    let del = conn.execute("DELETE FROM audit", []);
    assert!(del.unwrap_err().to_string().contains("append-only"));
    let s = crate::store::battery::session("alice", "100.64.1.7", 100);
    store.write(vec![Write::SessionBegan(s)]).await.unwrap();
    let at = store
        .holder_at(vec!["100.64.1.7".into()], 150)
        .await
        .unwrap();
    assert_eq!(at.as_deref(), Some("alice"));
}

/// v6: a file of v5 takes noticed records after its migration, in both
/// record tables, and keeps the rows it had.
#[tokio::test]
async fn a_store_of_v5_is_migrated_to_take_noticed_records() {
    let f = file();
    let h = quarantined("100.64.1.7", 100);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        for m in &MIGRATIONS[..5] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 5;").unwrap();
        let record = serde_json::to_string(&crate::store::Record::of(&h)).unwrap();
        conn.execute(
            "INSERT INTO hosts (address, state, record, updated_at) VALUES ('100.64.1.7', 'quarantined', ?1, 100)",
            [record],
        )
        .unwrap();
        let refused = conn.execute(
            "INSERT INTO subscribers (id, state, record, updated_at) VALUES ('alice', 'noticed', '{}', 1)",
            [],
        );
        assert!(
            refused.unwrap_err().to_string().contains("CHECK"),
            "v5 refuses it"
        );
    }
    let (_store, loaded) = Store::open(&f.path).unwrap();
    assert_eq!(loaded.into_parts(&config()).0, vec![h]);
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    for table in ["hosts", "subscribers"] {
        let key = if table == "hosts" { "address" } else { "id" };
        conn.execute(
            &format!("INSERT INTO {table} ({key}, state, record, updated_at) VALUES ('x', 'noticed', '{{}}', 1)"),
            [],
        )
        .unwrap();
        let bad = conn.execute(
            &format!("INSERT INTO {table} ({key}, state, record, updated_at) VALUES ('y', 'gone', '{{}}', 1)"),
            [],
        );
        assert!(bad.unwrap_err().to_string().contains("CHECK"), "{table}");
    }
}

/// v7: a file of v6 keeps its records and gains the webhooks' queue.
#[tokio::test]
async fn a_store_of_v6_is_migrated_to_queue_webhook_events() {
    let f = file();
    let h = quarantined("100.64.1.7", 100);
    {
        let conn = rusqlite::Connection::open(&f.path).unwrap();
        for m in &MIGRATIONS[..6] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 6;").unwrap();
        let record = serde_json::to_string(&crate::store::Record::of(&h)).unwrap();
        conn.execute(
            "INSERT INTO hosts (address, state, record, updated_at) VALUES ('100.64.1.7', 'quarantined', ?1, 100)",
            [record],
        )
        .unwrap();
    }
    let (store, loaded) = Store::open(&f.path).unwrap();
    assert_eq!(schema_version(&f.path).unwrap(), Some(7));
    assert_eq!(loaded.into_parts(&config()).0, vec![h]);
    store
        .write(vec![Write::Webhook(crate::store::Outgoing {
            gateway: "gw".into(),
            hook: "http://crm/".into(),
            event_id: "e1".into(),
            at: 100,
            body: "{}".into(),
        })])
        .await
        .unwrap();
    assert_eq!(
        store
            .webhooks_due("gw", "http://crm/", 5)
            .await
            .unwrap()
            .queued,
        1
    );
}
