//! The writer task: concurrent `commit` calls are grouped into one
//! transaction (group commit, as the SQLite writer does), so one COMMIT and
//! its WAL flush serve many quarantines. The statements of a group are
//! pipelined (sent without waiting for each answer), so a group costs few
//! round trips however many rows it writes. All or nothing per group: if
//! anything in it fails, every caller in it gets the error.

use std::path::{Path, PathBuf};

use cordon_policy::subject::Subject;
use deadpool_postgres::Pool;
use deadpool_postgres::Transaction;
use futures::future::{BoxFuture, try_join_all};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use std::sync::Arc;

use super::Gate;
use super::connect::classify;
use crate::store::queue::{Job, group};
use crate::store::records::{audit_address, key};
use crate::store::{Record, Shared, StoreError, Write};

/// Largest group of queued jobs committed in one transaction.
const GROUP: usize = 1024;

/// The channel the change feed's wake-ups go to (`LISTEN cordon_changes`);
/// the payload is the highest `seq` the commit wrote.
pub const CHANNEL: &str = "cordon_changes";

/// Starts the writer task; it ends when every sender is dropped.
pub(super) fn start(
    pool: Pool,
    location: PathBuf,
    gateway: String,
    gate: Arc<Gate>,
) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(8192);
    tokio::spawn(writer(pool, rx, location, gateway, gate));
    tx
}

async fn writer(
    pool: Pool,
    mut jobs: mpsc::Receiver<Job>,
    location: PathBuf,
    gateway: String,
    gate: Arc<Gate>,
) {
    let pool = Target { pool, gate };
    while let Some(first) = jobs.recv().await {
        let group = group(first, &mut jobs, GROUP);
        let result = commit(&pool, &group, &location, &gateway).await;
        match result {
            // One caller's data refused (or another failure that is not
            // the server being away) fails the whole group: commit each
            // alone, so every caller gets its own answer and one bad
            // batch does not fail the decisions grouped with it.
            Err(ref e) if group.len() > 1 && !e.is_unreachable() => {
                tracing::debug!(jobs = group.len(), error = %e, "a group commit failed; committing its calls one by one");
                for job in group {
                    let alone =
                        commit(&pool, std::slice::from_ref(&job), &location, &gateway).await;
                    let _ = job.reply.send(alone);
                }
            }
            result => answer_all(group, result, &location),
        }
    }
}

/// Answers every caller of a group with the group's result: the same
/// reason, kept as its source, and the same kind (unreachable, refused,
/// or failed), which the outbox acts on.
fn answer_all(group: Vec<Job>, result: Result<(), StoreError>, location: &Path) {
    let (kind, reason) = match result {
        Ok(()) => {
            for job in group {
                let _ = job.reply.send(Ok(()));
            }
            return;
        }
        Err(StoreError::Unreachable { source, .. }) => (1, Shared::new(source)),
        Err(StoreError::Refused { source, .. }) => (2, Shared::new(source)),
        Err(StoreError::Io { source, .. }) => (0, Shared::new(source)),
        Err(other) => (0, Shared::new(other)),
    };
    for job in group {
        let reason = reason.clone();
        let answer = match kind {
            1 => StoreError::Unreachable {
                location: location.display().to_string(),
                source: Box::new(reason),
            },
            2 => StoreError::Refused {
                location: location.display().to_string(),
                source: Box::new(reason),
            },
            _ => StoreError::io(location, reason),
        };
        let _ = job.reply.send(Err(answer));
    }
}

/// Where the writer commits: the pool, through the migration gate.
struct Target {
    pool: Pool,
    gate: Arc<Gate>,
}

/// Commits a group in one transaction.
async fn commit(
    target: &Target,
    group: &[Job],
    location: &Path,
    gateway: &str,
) -> Result<(), StoreError> {
    let mut client = target.gate.client(&target.pool).await?;
    // Prepared once per connection (deadpool caches them).
    let prepared = futures::try_join!(
        client.prepare_cached(HOST),
        client.prepare_cached(SUBSCRIBER),
        client.prepare_cached(AUDIT),
        client.prepare_cached(REPORT),
        client.prepare_cached(SESSION_BEGAN),
        client.prepare_cached(SESSION_ENDED),
    )
    .map_err(|e| classify(location, e))?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| classify(location, e))?;
    // Commits become visible in the order they take `seq` numbers: a
    // gateway that has read up to 11 must never find a 10 committed
    // after it. One fleet-wide lock, held to the commit, orders them
    // (each gateway's writer sends one group at a time, so it is taken
    // once per group, not per decision).
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEQ_LOCK])
        .await
        .map_err(|e| classify(location, e))?;
    let applied = marked(&tx, group)
        .await
        .map_err(|e| classify(location, e))?;
    let writes: Vec<&Write> = group
        .iter()
        .zip(&applied)
        .filter(|(_, done)| !**done)
        .flat_map(|(j, _)| &j.writes)
        .collect();
    let texts = texts(&writes).map_err(|e| StoreError::io(location, e))?;
    let seq = write_all(&tx, &prepared, &writes, &texts, gateway)
        .await
        .map_err(|e| classify(location, e))?;
    if let Some(seq) = seq {
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &seq.to_string()])
            .await
            .map_err(|e| classify(location, e))?;
    }
    tx.commit().await.map_err(|e| classify(location, e))
}

/// The advisory lock key that orders commits by `seq` ("cordon" in ASCII).
const SEQ_LOCK: i64 = 0x636f_7264_6f6e;

/// Records the marks of the group's calls (`Write::Mark`) in one
/// statement; answers, per call, whether it was applied before (by an
/// earlier commit, or by an earlier call of this group with the same
/// mark), so nothing of it is written again. One statement rather than one
/// per call: every call from the outbox carries a mark, and a group of a
/// thousand would otherwise wait on a thousand round trips.
async fn marked(tx: &Transaction<'_>, group: &[Job]) -> Result<Vec<bool>, tokio_postgres::Error> {
    const MARKS: &str = "INSERT INTO marks (gateway, seq, applied_at)
         SELECT g, s, extract(epoch from now())::bigint
         FROM unnest($1::TEXT[], $2::BIGINT[]) AS m(g, s)
         ON CONFLICT DO NOTHING
         RETURNING gateway, seq";
    let marks_of = |job: &Job| -> Vec<(String, i64)> {
        job.writes
            .iter()
            .filter_map(|w| match w {
                // Refused by the outbox before it gets here; kept total.
                Write::Mark { gateway, seq } => {
                    Some((gateway.clone(), i64::try_from(*seq).unwrap_or(i64::MAX)))
                }
                _ => None,
            })
            .collect()
    };
    let per_job: Vec<Vec<(String, i64)>> = group.iter().map(marks_of).collect();
    // Each mark once, so the first call carrying it is the one applied.
    let mut first = std::collections::HashSet::new();
    let mut earlier = Vec::with_capacity(group.len());
    for marks in &per_job {
        earlier.push(marks.iter().any(|m| !first.insert(m.clone())));
    }
    if first.is_empty() {
        return Ok(vec![false; group.len()]);
    }
    let (gateways, seqs): (Vec<String>, Vec<i64>) = first.into_iter().unzip();
    let taken: std::collections::HashSet<(String, i64)> = tx
        .query(MARKS, &[&gateways, &seqs])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(per_job
        .iter()
        .zip(earlier)
        .map(|(marks, earlier)| earlier || marks.iter().any(|m| !taken.contains(m)))
        .collect())
}

/// One statement's future: its rows' `seq`s, if it writes any.
type Step<'a> = BoxFuture<'a, Result<Option<i64>, tokio_postgres::Error>>;

/// The upsert of a decision's row in `$table`, keyed by `$key`, by the
/// conflict rule [`HOST`] describes: one text for both tables, so that
/// hosts and subscribers cannot come to follow different rules.
macro_rules! decision_upsert {
    ($table:literal, $key:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            " (",
            $key,
            ", state, record, updated_at, gateway, seq)
     VALUES ($1, $2, $3, $4, $5, nextval('change_seq'))
     ON CONFLICT (",
            $key,
            ") DO UPDATE SET
        state = CASE WHEN ",
            $table,
            ".updated_at <= EXCLUDED.updated_at THEN EXCLUDED.state ELSE ",
            $table,
            ".state END,
        record = CASE WHEN ",
            $table,
            ".updated_at <= EXCLUDED.updated_at THEN EXCLUDED.record ELSE ",
            $table,
            ".record END,
        gateway = CASE WHEN ",
            $table,
            ".updated_at <= EXCLUDED.updated_at THEN EXCLUDED.gateway ELSE ",
            $table,
            ".gateway END,
        updated_at = GREATEST(",
            $table,
            ".updated_at, EXCLUDED.updated_at),
        seq = EXCLUDED.seq
     RETURNING seq"
        )
    };
}

/// Host rows: the conflict rule of two gateways deciding about one
/// subject at once. `Write::Host(host, at)` replaces the stored row only
/// if the stored row's `updated_at <= at`: the later decision wins, and of
/// two at the same second the one committed later (it runs its update
/// after the other's, under the row lock). Either way `seq` is bumped, so
/// every gateway re-reads the row and converges on what is stored, even
/// the one whose write lost. Why by the decision's time rather than by
/// commit order: a gateway whose commit was delayed (a slow link, an
/// outbox replayed after an outage) must not overwrite a newer decision
/// made elsewhere meanwhile.
pub const HOST: &str = decision_upsert!("hosts", "address");

/// Subscriber rows, by the same rule as [`HOST`].
const SUBSCRIBER: &str = decision_upsert!("subscribers", "id");

/// An audit entry (the trail is append-only: see the schema).
pub const AUDIT: &str =
    "INSERT INTO audit (at, address, from_state, to_state, actor, note, subscriber, gateway)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const REPORT: &str = "INSERT INTO reports (unit, address, at, received_at, source, evidence, message_id, weight, counted, subscriber, kind)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const SESSION_BEGAN: &str = "INSERT INTO sessions (subscriber, address, source, session_id, nas, calling_station, started, gateway, seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nextval('change_seq'))
     RETURNING seq";

const SESSION_ENDED: &str =
    "UPDATE sessions SET ended = GREATEST(started, $3), seq = nextval('change_seq')
     WHERE subscriber = $1 AND address = $2 AND ended IS NULL
     RETURNING seq";

const WEBHOOK: &str = "INSERT INTO webhooks (gateway, hook, event_id, at, body)
     VALUES ($1, $2, $3, $4, $5)";

const WEBHOOKS_DONE: &str = "DELETE FROM webhooks WHERE gateway = $1 AND hook = $2 AND id <= $3";

const WEBHOOKS_TRIM: &str = "DELETE FROM webhooks WHERE gateway = $1 AND hook = $2 AND id <= (
         SELECT id FROM webhooks WHERE gateway = $1 AND hook = $2
         ORDER BY id DESC LIMIT 1 OFFSET $3)";

/// Sends every write of the group, pipelined, in order; returns the
/// highest `seq` written (`None` when no row of the change feed changed).
async fn write_all(
    tx: &Transaction<'_>,
    prepared: &Prepared,
    writes: &[&Write],
    texts: &[[String; 2]],
    gateway: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let (host, subscriber, audit, report, began, ended) = prepared;
    let subscribers: Vec<Option<String>> = writes
        .iter()
        .map(|w| match w {
            Write::Audit(a) => a.subject.subscriber().map(ToString::to_string),
            _ => None,
        })
        .collect();
    let mut highest = None;
    let mut steps: Vec<Step<'_>> = Vec::with_capacity(writes.len());
    for ((w, [t0, t1]), sub) in writes.iter().zip(texts).zip(&subscribers) {
        let step: Step<'_> = match w {
            Write::Host(h, at) => {
                let stmt = match h.subject {
                    Subject::Addr(_) => host,
                    Subject::Subscriber(_) => subscriber,
                };
                let state = h.state.kind().as_str();
                Box::pin(async move {
                    let p: [&(dyn ToSql + Sync); 5] = [t0, &state, t1, at, &gateway];
                    Ok(Some(tx.query_one(stmt, &p).await?.get(0)))
                })
            }
            Write::Audit(a) => Box::pin(async move {
                let p: [&(dyn ToSql + Sync); 8] = [
                    &a.at,
                    t0,
                    &a.from.as_str(),
                    &a.to.as_str(),
                    t1,
                    &a.note,
                    sub,
                    &gateway,
                ];
                tx.execute(audit, &p).await.map(|_| None)
            }),
            Write::Report(r) => Box::pin(async move {
                let weight = i64::from(r.weight);
                let p: [&(dyn ToSql + Sync); 11] = [
                    &r.unit,
                    &r.address,
                    &r.at,
                    &r.received_at,
                    &r.source,
                    &r.evidence,
                    &r.message_id,
                    &weight,
                    &r.counted,
                    &r.subscriber,
                    &r.kind.as_str(),
                ];
                tx.execute(report, &p).await.map(|_| None)
            }),
            Write::SessionBegan(s) => Box::pin(async move {
                let p: [&(dyn ToSql + Sync); 8] = [
                    &s.subscriber,
                    &s.address,
                    &s.source.as_str(),
                    &s.session_id,
                    &s.nas,
                    &s.calling_station,
                    &s.started,
                    &gateway,
                ];
                Ok(Some(tx.query_one(began, &p).await?.get(0)))
            }),
            Write::SessionEnded {
                subscriber,
                address,
                ended: at,
            } => Box::pin(async move {
                let p: [&(dyn ToSql + Sync); 3] = [subscriber, address, at];
                let rows = tx.query(ended, &p).await?;
                Ok(rows.iter().map(|r| r.get::<_, i64>(0)).max())
            }),
            Write::Webhook(o) => Box::pin(async move {
                let p: [&(dyn ToSql + Sync); 5] =
                    [&o.gateway, &o.hook, &o.event_id, &o.at, &o.body];
                tx.execute(WEBHOOK, &p).await.map(|_| None)
            }),
            Write::WebhooksDone {
                gateway,
                hook,
                through,
            } => Box::pin(async move {
                let p: [&(dyn ToSql + Sync); 3] = [gateway, hook, through];
                tx.execute(WEBHOOKS_DONE, &p).await.map(|_| None)
            }),
            Write::WebhooksTrim {
                gateway,
                hook,
                keep,
            } => Box::pin(async move {
                let keep = i64::try_from(*keep).unwrap_or(i64::MAX);
                let p: [&(dyn ToSql + Sync); 3] = [gateway, hook, &keep];
                tx.execute(WEBHOOKS_TRIM, &p).await.map(|_| None)
            }),
            // Recorded by `marked` before anything else.
            Write::Mark { .. } => continue,
            Write::Purge { before } => {
                // Its statements run one after another, so what was
                // written before it is sent and answered first, and what
                // comes after it is sent only once it is done.
                highest = highest.max(flush(&mut steps).await?);
                purge(tx, *before).await?;
                continue;
            }
        };
        steps.push(step);
    }
    Ok(highest.max(flush(&mut steps).await?))
}

/// The texts each write's statement borrows (a host's key and record as
/// JSON, an audit entry's address and actor), owned for the group.
fn texts(writes: &[&Write]) -> Result<Vec<[String; 2]>, serde_json::Error> {
    let mut texts = Vec::with_capacity(writes.len());
    for w in writes {
        match w {
            Write::Host(h, _) => {
                let json = serde_json::to_string(&Record::of(h))?;
                texts.push([key(&h.subject), json]);
            }
            Write::Audit(a) => {
                texts.push([audit_address(a), a.actor.name().to_string()]);
            }
            _ => texts.push([String::new(), String::new()]),
        }
    }
    Ok(texts)
}

/// Awaits the pipelined steps so far: the highest `seq` they wrote.
async fn flush(steps: &mut Vec<Step<'_>>) -> Result<Option<i64>, tokio_postgres::Error> {
    Ok(try_join_all(std::mem::take(steps))
        .await?
        .into_iter()
        .flatten()
        .max())
}

/// The group's statements, prepared on its connection.
type Prepared = (
    tokio_postgres::Statement,
    tokio_postgres::Statement,
    tokio_postgres::Statement,
    tokio_postgres::Statement,
    tokio_postgres::Statement,
    tokio_postgres::Statement,
);

/// The retention purge (see [`Backend`](crate::store::Backend)): raises
/// the audit trail's horizon for the deletes, then lowers it again.
async fn purge(tx: &Transaction<'_>, before: i64) -> Result<Option<i64>, tokio_postgres::Error> {
    for (sql, p) in [
        ("UPDATE purge_horizon SET before = $1 WHERE id = 1", true),
        ("DELETE FROM audit WHERE at < $1", true),
        ("DELETE FROM reports WHERE received_at < $1", true),
        ("DELETE FROM sessions WHERE ended < $1", true),
        ("DELETE FROM marks WHERE applied_at < $1", true),
        ("DELETE FROM webhooks WHERE at < $1", true),
        (
            "DELETE FROM hosts WHERE state = 'clean' AND updated_at < $1",
            true,
        ),
        (
            "DELETE FROM subscribers WHERE state = 'clean' AND updated_at < $1",
            true,
        ),
        ("UPDATE purge_horizon SET before = 0 WHERE id = 1", false),
    ] {
        if p {
            tx.execute(sql, &[&before]).await?;
        } else {
            tx.execute(sql, &[]).await?;
        }
    }
    Ok(None)
}
