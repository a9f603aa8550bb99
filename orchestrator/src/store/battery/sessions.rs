//! The battery's session history part: what every backend must do with
//! [`Write::SessionBegan`], [`Write::SessionEnded`], the purge,
//! [`Store::sessions`], [`Store::holder_at`] and
//! [`Loaded::sessions`](crate::store::Loaded::sessions).

use cordon_proto::subscriber::{SessionRecord, SessionSource};

use super::{Harness, quarantined};
use crate::store::{Store, StoreError, Write};

/// An open RADIUS session of `subscriber` on `address` from `started`.
pub fn session(subscriber: &str, address: &str, started: i64) -> SessionRecord {
    SessionRecord {
        subscriber: subscriber.into(),
        address: address.into(),
        source: SessionSource::Radius,
        session_id: Some(format!("{subscriber}-{started}")),
        nas: Some("bng1".into()),
        calling_station: Some("02:00:00:00:00:01".into()),
        started,
        ended: None,
    }
}

/// That session, ended at `ended`.
fn closed(mut s: SessionRecord, ended: i64) -> SessionRecord {
    s.ended = Some(ended);
    s
}

/// The end of `subscriber`'s holding of `address` at `ended`.
fn end(subscriber: &str, address: &str, ended: i64) -> Write {
    Write::SessionEnded {
        subscriber: subscriber.into(),
        address: address.into(),
        ended,
    }
}

/// Everyone's history, as many rows as there are.
async fn all(store: &Store) -> Vec<SessionRecord> {
    store.sessions(None, 1000).await.unwrap()
}

/// Who held `address` at `at`.
async fn holder(store: &Store, address: &str, at: i64) -> Option<String> {
    store.holder_at(vec![address.into()], at).await.unwrap()
}

pub async fn a_begun_session_is_loaded_as_open(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let alice = session("alice", "100.64.1.7", 10);
    let prefix = session("alice", "2001:db8:100::/56", 10);
    // An `ended` in the record is not taken: a session begins open.
    let mut claims_ended = session("bob", "100.64.1.8", 11);
    claims_ended.ended = Some(12);
    let writes = [&alice, &prefix, &claims_ended].map(|s| Write::SessionBegan(s.clone()));
    store.write(writes.into()).await.unwrap();
    let bob = session("bob", "100.64.1.8", 11);
    let open = vec![alice, prefix, bob];
    assert_eq!(store.load().await.unwrap().sessions, open);
    drop(store);
    let (_store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.sessions, open, "oldest first, every field kept");
}

pub async fn an_ended_session_is_not_loaded_but_kept_in_the_history(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let alice = session("alice", "100.64.1.7", 10);
    let other_address = session("alice", "100.64.1.9", 10);
    let bob = session("bob", "100.64.1.8", 11);
    let writes = [&alice, &other_address, &bob].map(|s| Write::SessionBegan(s.clone()));
    store.write(writes.into()).await.unwrap();
    store
        .write(vec![end("alice", "100.64.1.7", 20)])
        .await
        .unwrap();
    // Ending what nobody holds, or ending twice, is no error and changes
    // nothing (a Stop that came twice, a start before the store).
    store
        .write(vec![
            end("bob", "100.64.1.7", 30),
            end("carol", "100.64.1.8", 30),
            end("alice", "100.64.1.7", 40),
        ])
        .await
        .unwrap();
    let alice = closed(alice, 20);
    assert_eq!(
        all(&store).await,
        vec![bob.clone(), other_address.clone(), alice]
    );
    drop(store);
    let (_store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.sessions, vec![other_address, bob]);
}

pub async fn a_session_never_ends_before_it_began(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let alice = session("alice", "100.64.1.7", 100);
    store
        .write(vec![Write::SessionBegan(alice.clone())])
        .await
        .unwrap();
    // The clock stepped back between Start and Stop.
    store
        .write(vec![end("alice", "100.64.1.7", 90)])
        .await
        .unwrap();
    assert_eq!(all(&store).await, vec![closed(alice, 100)]);
    assert_eq!(holder(&store, "100.64.1.7", 95).await, None);
    assert_eq!(holder(&store, "100.64.1.7", 100).await, None);
}

pub async fn holder_at_answers_across_time(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let a = "100.64.1.7";
    store
        .write(vec![Write::SessionBegan(session("alice", a, 10))])
        .await
        .unwrap();
    store
        .write(vec![
            end("alice", a, 20),
            Write::SessionBegan(session("bob", a, 20)),
        ])
        .await
        .unwrap();
    for (at, who) in [
        (5, None),
        (10, Some("alice")),
        (15, Some("alice")),
        (19, Some("alice")),
        (20, Some("bob")),
        (25, Some("bob")),
        (i64::MAX, Some("bob")),
    ] {
        assert_eq!(holder(&store, a, at).await.as_deref(), who, "at {at}");
    }
    assert_eq!(holder(&store, "100.64.1.8", 15).await, None);
    assert_eq!(store.holder_at(Vec::new(), 15).await.unwrap(), None);
}

/// Many questions in one call are answered each as `holder_at` would, in
/// the order asked (a feed's import asks one per report).
pub async fn holders_at_answers_each_question_in_order(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let a = "100.64.1.7";
    store
        .write(vec![
            Write::SessionBegan(session("alice", a, 10)),
            end("alice", a, 20),
            Write::SessionBegan(session("bob", a, 20)),
        ])
        .await
        .unwrap();
    let ask = |at: i64| (vec![a.to_owned()], at);
    let questions: Vec<_> = (0..500).map(|i| ask(i % 30)).collect();
    let answers = store.holders_at(questions.clone()).await.unwrap();
    assert_eq!(answers.len(), questions.len());
    for ((_, at), answer) in questions.iter().zip(&answers) {
        assert_eq!(*answer, holder(&store, a, *at).await, "at {at}");
    }
    assert_eq!(answers[15].as_deref(), Some("alice"));
    assert_eq!(answers[25].as_deref(), Some("bob"));
    assert!(store.holders_at(Vec::new()).await.unwrap().is_empty());
}

pub async fn holder_at_matches_any_given_text_and_prefers_the_latest_start(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let delegated = "2001:db8:100::/56";
    let slaac = "2001:db8:100:5::/64";
    store
        .write(vec![
            Write::SessionBegan(session("alice", delegated, 10)),
            // A stale open row (its Stop was lost) beside a later holder.
            Write::SessionBegan(session("stale", "100.64.1.9", 5)),
            Write::SessionBegan(session("carol", "100.64.1.9", 30)),
        ])
        .await
        .unwrap();
    // The caller passes the unit and its wider prefixes; the /56 row
    // answers for a /64 inside it, and the texts match exactly.
    let asked = vec![slaac.to_string(), delegated.to_string()];
    let found = store.holder_at(asked, 15).await.unwrap();
    assert_eq!(found.as_deref(), Some("alice"));
    assert_eq!(holder(&store, slaac, 15).await, None, "exact texts only");
    assert_eq!(holder(&store, "2001:db8:100::/48", 15).await, None);
    assert_eq!(
        holder(&store, "100.64.1.9", 35).await.as_deref(),
        Some("carol")
    );
    assert_eq!(
        holder(&store, "100.64.1.9", 20).await.as_deref(),
        Some("stale")
    );
    // Of several addresses' holders, the latest to start.
    let both = vec!["100.64.1.9".to_string(), delegated.to_string()];
    let found = store.holder_at(both, 20).await.unwrap();
    assert_eq!(found.as_deref(), Some("alice"));
    // However many texts are asked (SQLite asks a long list in parts).
    let mut many = vec!["100.64.1.9".to_string()];
    many.extend((0..600).map(|i| format!("100.64.200.{i}")));
    many.push(delegated.to_string());
    let found = store.holder_at(many, 20).await.unwrap();
    assert_eq!(found.as_deref(), Some("alice"));
}

pub async fn sessions_are_newest_first_limited_and_filtered(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let rows = [
        session("alice", "100.64.1.7", 30),
        session("bob", "100.64.1.8", 10),
        session("alice", "100.64.1.9", 30),
        session("alice", "100.64.1.10", 20),
    ];
    // Written one commit each, in this order.
    for r in &rows {
        store
            .write(vec![Write::SessionBegan(r.clone())])
            .await
            .unwrap();
    }
    let [a30, b10, a30_later, a20] = rows;
    // By start, newest first; of equal starts, the later written first.
    let everyone = vec![a30_later.clone(), a30.clone(), a20.clone(), b10.clone()];
    assert_eq!(all(&store).await, everyone);
    assert_eq!(store.sessions(None, 2).await.unwrap(), everyone[..2]);
    let alice = store.sessions(Some("alice".into()), 10).await.unwrap();
    assert_eq!(alice, vec![a30_later.clone(), a30, a20]);
    let one = store.sessions(Some("alice".into()), 1).await.unwrap();
    assert_eq!(one, vec![a30_later]);
    assert_eq!(
        store.sessions(Some("bob".into()), 10).await.unwrap(),
        vec![b10]
    );
    assert!(
        store
            .sessions(Some("carol".into()), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn purge_deletes_sessions_ended_before_and_keeps_open_ones(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let gone = session("alice", "100.64.1.7", 1);
    let at_horizon = session("bob", "100.64.1.8", 2);
    let after = session("carol", "100.64.1.9", 3);
    // Opened long before the horizon and still held.
    let open = session("dave", "100.64.1.10", 1);
    let began = [&gone, &at_horizon, &after, &open].map(|s| Write::SessionBegan(s.clone()));
    store.write(began.into()).await.unwrap();
    store
        .write(vec![
            end("alice", "100.64.1.7", 499),
            end("bob", "100.64.1.8", 500),
            end("carol", "100.64.1.9", 600),
        ])
        .await
        .unwrap();
    store
        .write(vec![Write::Purge { before: 500 }])
        .await
        .unwrap();
    let left = vec![closed(after, 600), closed(at_horizon, 500), open.clone()];
    assert_eq!(all(&store).await, left);
    drop(store);
    let (store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.sessions, vec![open]);
    assert_eq!(holder(&store, "100.64.1.7", 100).await, None, "purged");
    let still = holder(&store, "100.64.1.10", 100).await;
    assert_eq!(still.as_deref(), Some("dave"));
}

pub async fn a_refused_commit_stores_no_session_change(h: &dyn Harness) {
    let (store, _) = h.open().await.unwrap();
    let alice = session("alice", "100.64.1.7", 10);
    store
        .write(vec![Write::SessionBegan(alice.clone())])
        .await
        .unwrap();
    h.refuse_host("100.64.1.9").await;
    let err = store
        .write(vec![
            Write::SessionBegan(session("bob", "100.64.1.8", 20)),
            end("alice", "100.64.1.7", 20),
            Write::Purge { before: 1000 },
            Write::Host(quarantined("100.64.1.9", 20), 20),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    // No row for bob, alice's still open.
    assert_eq!(all(&store).await, vec![alice.clone()]);
    drop(store);
    let (store, loaded) = h.open().await.unwrap();
    assert_eq!(loaded.sessions, vec![alice]);
    let now = holder(&store, "100.64.1.7", 30).await;
    assert_eq!(now.as_deref(), Some("alice"));
}

pub async fn sessions_clip_what_was_stored_oversized(h: &dyn Harness) {
    use cordon_proto::subscriber::MAX_SUBSCRIBER_ID;
    use cordon_proto::text::MAX_SOURCE;
    let (store, _) = h.open().await.unwrap();
    let mut long = session(&"s".repeat(MAX_SUBSCRIBER_ID * 2), "100.64.1.7", 10);
    long.nas = Some("n".repeat(MAX_SOURCE * 3));
    long.session_id = Some("i".repeat(MAX_SOURCE * 3));
    long.calling_station = Some("c".repeat(MAX_SOURCE * 3));
    store.write(vec![Write::SessionBegan(long)]).await.unwrap();
    let row = all(&store).await.remove(0);
    assert!(
        row.subscriber.len() <= MAX_SUBSCRIBER_ID,
        "{}",
        row.subscriber.len()
    );
    assert!(row.subscriber.contains("more bytes not shown"));
    for text in [row.nas, row.session_id, row.calling_station] {
        let text = text.unwrap();
        assert!(text.len() <= MAX_SOURCE, "{}", text.len());
        assert!(text.contains("more bytes not shown"));
    }
}
