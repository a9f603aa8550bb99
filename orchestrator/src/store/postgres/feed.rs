//! The change feed ([`Feed`]) of the PostgreSQL store: what any gateway
//! wrote after a position (`seq`), a connection of its own that `LISTEN`s
//! for the commits' `NOTIFY`, and this gateway's heartbeat.
//!
//! The listening connection is kept up by a task: when it drops it says so
//! (`listening: false`), tries again with a growing pause (at most 5 s),
//! and counts each new connection, so the follower knows to read
//! everything again: a notification sent while nobody listened is lost.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_config::PostgresStore;
use cordon_policy::lifecycle::Unix;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use tracing::{debug, info};

use super::Postgres;
use super::connect::{classify, listener};
use super::read::record;
use super::writer::CHANNEL;
use crate::store::feed::{Changes, Feed, FleetRow, Position, Signal};
use crate::store::{StoreError, StoredHost, StoredSubscriber};

/// The longest pause between attempts to listen again.
const MOST: Duration = Duration::from_secs(5);

/// Keeps a listening connection up until every receiver of `signal` is
/// gone (the backend was dropped).
pub(super) async fn listen(
    settings: PostgresStore,
    location: PathBuf,
    signal: watch::Sender<Signal>,
) {
    let mut pause = Duration::from_millis(100);
    loop {
        if signal.is_closed() {
            return;
        }
        match heard(&settings, &location, &signal).await {
            Ok(()) => pause = Duration::from_millis(100),
            Err(e) => debug!(error = %e, "listening to the fleet's store failed; trying again"),
        }
        signal.send_if_modified(|s| std::mem::replace(&mut s.listening, false));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = signal.closed() => return,
        }
        pause = (pause * 2).min(MOST);
    }
}

/// One listening connection, from `LISTEN` until it ends.
async fn heard(
    settings: &PostgresStore,
    location: &Path,
    signal: &watch::Sender<Signal>,
) -> Result<(), StoreError> {
    let (client, mut heard) = listener(settings, location).await?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| classify(location, e))?;
    signal.send_modify(|s| {
        s.connection += 1;
        s.listening = true;
    });
    info!(store = %location.display(), "listening to the fleet's decisions");
    loop {
        tokio::select! {
            m = heard.recv() => match m {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if let Ok(at) = n.payload().parse::<Position>() {
                        signal.send_if_modified(|s| {
                            let newer = at > s.notified;
                            s.notified = s.notified.max(at);
                            newer
                        });
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(classify(location, e)),
                None => return Ok(()),
            },
            () = signal.closed() => return Ok(()),
        }
    }
}

/// Host and subscriber rows written after `after`, oldest first, at most
/// `limit` of them together.
const CHANGES: &str = "SELECT seq, false, address, record FROM hosts WHERE seq > $1
     UNION ALL
     SELECT seq, true, id, record FROM subscribers WHERE seq > $1
     ORDER BY 1 LIMIT $2";

impl Feed for Postgres {
    fn gateway(&self) -> &str {
        &self.gateway
    }

    fn start(&self) -> Position {
        self.start.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn changes(&self, after: Position, limit: u32) -> BoxFuture<'_, Result<Changes, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let from = i64::try_from(after).unwrap_or(i64::MAX);
            let rows = c
                .query(CHANGES, &[&from, &i64::from(limit)])
                .await
                .map_err(|e| classify(&self.location, e))?;
            let mut out = Changes {
                upto: after,
                ..Changes::default()
            };
            for r in rows {
                let seq: i64 = r.get(0);
                out.upto = out.upto.max(u64::try_from(seq).unwrap_or(0));
                let key: String = r.get(2);
                let rec = record(&self.location, format!("row {key}"), r.get(3))?;
                if r.get::<_, bool>(1) {
                    out.subscribers.push(StoredSubscriber {
                        id: key,
                        record: rec,
                    });
                } else {
                    out.hosts.push(StoredHost {
                        address: key,
                        record: rec,
                    });
                }
            }
            Ok(out)
        })
    }

    fn signal(&self) -> watch::Receiver<Signal> {
        self.signal.clone()
    }

    fn decisions(&self, limit: u32) -> BoxFuture<'_, Result<Vec<FleetRow>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let rows = c
                .query(
                    "SELECT false, address, record, gateway, ARRAY[]::text[] FROM hosts
                       WHERE state <> 'clean'
                     UNION ALL
                     SELECT true, id, record, gateway,
                            ARRAY(SELECT DISTINCT s.address FROM sessions s
                                   WHERE s.subscriber = subscribers.id AND s.ended IS NULL
                                   ORDER BY 1)
                       FROM subscribers WHERE state <> 'clean'
                     ORDER BY 2 LIMIT $1",
                    &[&i64::from(limit)],
                )
                .await
                .map_err(|e| classify(&self.location, e))?;
            rows.iter()
                .map(|r| {
                    let key: String = r.get(1);
                    Ok(FleetRow {
                        record: record(&self.location, format!("row {key}"), r.get(2))?,
                        subscriber: r.get(0),
                        key,
                        gateway: r.get(3),
                        addresses: r.get(4),
                    })
                })
                .collect()
        })
    }

    fn decided_by(
        &self,
        key: String,
        subscriber: bool,
    ) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            let sql = if subscriber {
                "SELECT gateway FROM subscribers WHERE id = $1"
            } else {
                "SELECT gateway FROM hosts WHERE address = $1"
            };
            let row = c
                .query_opt(sql, &[&key])
                .await
                .map_err(|e| classify(&self.location, e))?;
            Ok(row.and_then(|r| r.get(0)))
        })
    }

    fn heartbeat(&self, at: Unix) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let c = self.client().await?;
            c.execute(
                "INSERT INTO gateways (name, started_at, heartbeat_at) VALUES ($1, $2, $2)
                 ON CONFLICT (name) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
                &[&self.gateway, &at],
            )
            .await
            .map(|_| ())
            .map_err(|e| classify(&self.location, e))
        })
    }
}

/// The position a start's load reaches: the highest `seq` committed
/// before it (read before the load, so a change committed in between is
/// read again rather than missed).
pub(super) async fn position(
    c: &tokio_postgres::Client,
    location: &Path,
) -> Result<Position, StoreError> {
    let row = c
        .query_one(
            "SELECT GREATEST((SELECT max(seq) FROM hosts), (SELECT max(seq) FROM subscribers), 0)",
            &[],
        )
        .await
        .map_err(|e| classify(location, e))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}
