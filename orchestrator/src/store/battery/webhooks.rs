//! The battery's webhooks part: the queue every backend keeps for the
//! sender ([`Write::Webhook`], [`Write::WebhooksDone`],
//! [`Write::WebhooksTrim`], [`Store::webhooks_due`]).

use super::{Harness, audit, quarantined};
use crate::store::{Outgoing, Store, Write};

const HOOK: &str = "http://crm.example/hook";

/// An event for `hook` from `gateway`, numbered `n`.
fn event(gateway: &str, hook: &str, n: u32, at: i64) -> Write {
    Write::Webhook(Outgoing {
        gateway: gateway.into(),
        hook: hook.into(),
        event_id: format!("ev-{n}"),
        at,
        body: format!("{{\"n\":{n}}}"),
    })
}

/// The event ids `gateway` has queued for `hook`, oldest first, and the
/// queue's length.
async fn queue(store: &Store, gateway: &str, hook: &str) -> (Vec<String>, u64) {
    let q = store.webhooks_due(gateway, hook, 100).await.unwrap();
    (q.rows.into_iter().map(|r| r.event_id).collect(), q.queued)
}

fn ids(n: &[u32]) -> Vec<String> {
    n.iter().map(|n| format!("ev-{n}")).collect()
}

pub async fn webhook_events_queue_in_order_per_gateway_and_hook(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    for n in 1..=3 {
        store
            .write(vec![event("gw-a", HOOK, n, 1000)])
            .await
            .unwrap();
    }
    store
        .write(vec![
            event("gw-b", HOOK, 9, 1000),
            event("gw-a", "http://other/", 8, 1000),
        ])
        .await
        .unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await, (ids(&[1, 2, 3]), 3));
    assert_eq!(queue(&store, "gw-b", HOOK).await, (ids(&[9]), 1));
    assert_eq!(queue(&store, "gw-a", "http://other/").await, (ids(&[8]), 1));
    let q = store.webhooks_due("gw-a", HOOK, 2).await.unwrap();
    assert_eq!(q.rows.len(), 2, "limited");
    assert_eq!(q.queued, 3, "but counted whole");
    assert_eq!(q.rows[0].body, "{\"n\":1}");
    assert_eq!(q.rows[0].at, 1000);
    assert!(q.rows[0].id < q.rows[1].id);
    // Kept across a restart.
    drop(store);
    let (store, _) = h.open().await.unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await, (ids(&[1, 2, 3]), 3));
}

pub async fn webhook_events_go_with_their_decision_or_not_at_all(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    h.refuse_host("100.64.1.7").await;
    let q = quarantined("100.64.1.7", 1000);
    let refused = store
        .write(vec![
            event("gw-a", HOOK, 1, 1000),
            Write::Host(q.clone(), 1000),
            Write::Audit(audit(&q, 1000)),
        ])
        .await;
    assert!(refused.is_err());
    assert_eq!(queue(&store, "gw-a", HOOK).await, (vec![], 0));
}

pub async fn webhooks_done_removes_through_a_row_of_one_queue_only(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    for n in 1..=4 {
        store
            .write(vec![
                event("gw-a", HOOK, n, 1000),
                event("gw-b", HOOK, n, 1000),
            ])
            .await
            .unwrap();
    }
    let rows = store.webhooks_due("gw-a", HOOK, 10).await.unwrap().rows;
    let done = |through| Write::WebhooksDone {
        gateway: "gw-a".into(),
        hook: HOOK.into(),
        through,
    };
    store.write(vec![done(rows[1].id)]).await.unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await, (ids(&[3, 4]), 2));
    // Done twice (a resend after a lost answer) removes nothing more.
    store.write(vec![done(rows[1].id)]).await.unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await, (ids(&[3, 4]), 2));
    assert_eq!(queue(&store, "gw-b", HOOK).await.1, 4, "another gateway's");
}

pub async fn webhooks_trim_keeps_the_newest(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    for n in 1..=5 {
        store
            .write(vec![event("gw-a", HOOK, n, 1000)])
            .await
            .unwrap();
    }
    let trim = |keep| Write::WebhooksTrim {
        gateway: "gw-a".into(),
        hook: HOOK.into(),
        keep,
    };
    store.write(vec![trim(10)]).await.unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await.1, 5, "under the bound");
    store.write(vec![trim(2)]).await.unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await, (ids(&[4, 5]), 2));
}

pub async fn retention_purge_removes_old_webhook_events(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    store
        .write(vec![
            event("gw-a", HOOK, 1, 100),
            event("gw-a", HOOK, 2, 300),
        ])
        .await
        .unwrap();
    store
        .write(vec![Write::Purge { before: 200 }])
        .await
        .unwrap();
    assert_eq!(queue(&store, "gw-a", HOOK).await, (ids(&[2]), 1));
}
