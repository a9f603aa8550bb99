//! Quarantines acknowledged per second through `Store::write`, many
//! concurrent tasks each committing one quarantine at a time (a host record
//! and its audit entry, as cordond writes them), on SQLite and on
//! PostgreSQL (behind the outbox, as cordond opens it). Reference: the same
//! rows through the raw driver, one transaction per quarantine, with the
//! same durability (SQLite WAL with `synchronous = FULL`; PostgreSQL's
//! defaults, `fsync` and `synchronous_commit` on), into the same file or
//! database, alternated with Cordon's side in rounds.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_orchestrator::store::postgres::Postgres;
use cordon_orchestrator::store::{Store, Write};
use cordon_testkit::pg::PgServer;

use super::{cordond_config, nth, pg_store, quarantine, sqlite_store, unix_now, write_config};

/// Quarantines per round through the store.
pub const QUARANTINES: usize = 20_000;
/// Tasks committing at once, each one quarantine after another.
pub const TASKS: usize = 1_000;
/// Quarantines per round of the SQLite reference (one fsync each).
pub const REF_SQLITE: usize = 1_000;
/// Quarantines per round of the PostgreSQL reference.
pub const REF_PG: usize = 4_000;
/// Connections of the PostgreSQL reference, each committing one
/// quarantine after another (the server's own WAL flush groups what
/// commits at the same moment).
pub const PG_CONNECTIONS: usize = 64;

/// Quarantines per second of each side, one figure per round.
#[derive(Debug, Default)]
pub struct Commits {
    pub sqlite: Vec<f64>,
    pub sqlite_raw: Vec<f64>,
    pub postgres: Vec<f64>,
    /// The PostgreSQL backend alone, without the outbox in front (so no
    /// batch marks): where the outbox's cost shows.
    pub postgres_bare: Vec<f64>,
    pub postgres_raw: Vec<f64>,
}

/// The subscriber prefix the records are in (4 M addresses: every round
/// writes new ones).
const PREFIX: &str = "100.64.0.0/10";

/// Hands out fresh addresses, round after round.
struct Addresses(usize);

impl Addresses {
    fn take(&mut self, n: usize) -> Vec<Ipv4Addr> {
        let base = Ipv4Addr::new(100, 64, 1, 0);
        let v = (self.0..self.0 + n).map(|i| nth(base, i)).collect();
        self.0 += n;
        v
    }
}

/// Measures both backends, `runs` rounds each, sides alternating.
pub fn run(pg: &PgServer, dir: &Path, runs: usize) -> Result<Commits> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(measure(pg, dir, runs))
}

async fn measure(pg: &PgServer, dir: &Path, runs: usize) -> Result<Commits> {
    let dir = dir.join("commit");
    let db = dir.join("cordon.db");
    let (_, sqlite_config) = write_config(
        &dir,
        "sqlite",
        &cordond_config(&dir, PREFIX, &sqlite_store(&db)),
    )?;
    pg.database("commits");
    let (_, pg_config) = write_config(
        &dir,
        "postgres",
        &cordond_config(&dir, PREFIX, &pg_store(pg, "commits", "A", &dir)),
    )?;
    let config = sqlite_config.clone();
    let sqlite = tokio::task::spawn_blocking(move || Store::open(&db))
        .await?
        .context("opening the SQLite store")?
        .0;
    let postgres = Store::open_configured(&pg_config, || "A".into())
        .await
        .context("opening the PostgreSQL store")?
        .store;
    let bare = match &pg_config.store {
        cordon_config::Store::Postgres(p) => Store::over(std::sync::Arc::new(
            Postgres::open(p, "bare".into())
                .await
                .context("opening the PostgreSQL backend")?
                .0,
        )),
        cordon_config::Store::Sqlite(_) => bail!("postgres.yaml names no PostgreSQL store"),
    };
    let raw_sqlite = raw_sqlite(&dir.join("cordon.db"))?;
    let raw_pg = raw_pg(&pg.url("commits")).await?;

    let mut addresses = Addresses(0);
    let mut out = Commits::default();
    for round in 0..runs.max(1) {
        for ours_first in [round % 2 == 0, round % 2 == 1] {
            if ours_first {
                let w = writes(&config, &addresses.take(QUARANTINES))?;
                out.sqlite.push(through_store(&sqlite, w).await?);
                let w = writes(&config, &addresses.take(QUARANTINES))?;
                out.postgres.push(through_store(&postgres, w).await?);
                let w = writes(&config, &addresses.take(QUARANTINES))?;
                out.postgres_bare.push(through_store(&bare, w).await?);
            } else {
                let a = addresses.take(REF_SQLITE);
                let conn = raw_sqlite.clone();
                out.sqlite_raw.push(
                    tokio::task::spawn_blocking(move || sqlite_one_by_one(&conn, &a)).await??,
                );
                out.postgres_raw
                    .push(pg_one_by_one(&raw_pg, &addresses.take(REF_PG)).await?);
            }
        }
        eprintln!("cordon-bench: fleet: commit round {round}: {out:?}");
    }
    Ok(out)
}

/// The writes of one quarantine per address.
fn writes(config: &cordon_config::Config, addresses: &[Ipv4Addr]) -> Result<Vec<Vec<Write>>> {
    let at = unix_now();
    addresses
        .iter()
        .map(|a| quarantine(config, *a, at))
        .collect()
}

/// [`TASKS`] tasks commit `all` through `store`, each its share one
/// quarantine after another; quarantines per second.
async fn through_store(store: &Store, all: Vec<Vec<Write>>) -> Result<f64> {
    let n = all.len();
    let mut shares: Vec<Vec<Vec<Write>>> = (0..TASKS).map(|_| Vec::new()).collect();
    for (i, w) in all.into_iter().enumerate() {
        shares[i % TASKS].push(w);
    }
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for share in shares {
        let store = store.clone();
        tasks.spawn(async move {
            for w in share {
                store.write(w).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(per_second(n, t.elapsed()))
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// The SQLite writer's statements (orchestrator/src/store/sqlite/writer.rs).
const SQLITE_HOST: &str =
    "INSERT INTO hosts (address, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (address) DO UPDATE SET state = ?2, record = ?3, updated_at = ?4";
const SQLITE_AUDIT: &str = "INSERT INTO audit (at, address, from_state, to_state, actor, note, subscriber) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// A record as the stores keep it (JSON of the state), for the raw side.
fn record_json(at: i64) -> String {
    format!(
        r#"{{"state":{{"Quarantined":{{"since":{at},"reason":"operator","actor":{{"Operator":"bench"}},"note":"bench","hold_until":{},"until":null,"self_release":true,"relapses":0,"evidence":{{}}}}}},"self_releases":[],"mac":null}}"#,
        at + 86_400
    )
}

type SharedConn = std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>;

/// A plain connection to the store's file, with the store's durability.
fn raw_sqlite(path: &Path) -> Result<SharedConn> {
    let conn = rusqlite::Connection::open(path)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("{} stays in journal mode {mode}", path.display());
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")?;
    Ok(std::sync::Arc::new(std::sync::Mutex::new(conn)))
}

/// One transaction per quarantine on one connection (SQLite has one
/// writer at a time: more connections would only wait on its lock).
fn sqlite_one_by_one(conn: &SharedConn, addresses: &[Ipv4Addr]) -> Result<f64> {
    let mut conn = conn
        .lock()
        .map_err(|_| anyhow::anyhow!("the SQLite reference's connection was poisoned"))?;
    let at = unix_now();
    let json = record_json(at);
    let t = Instant::now();
    for a in addresses {
        let a = a.to_string();
        let tx = conn.transaction()?;
        tx.prepare_cached(SQLITE_HOST)?
            .execute(rusqlite::params![a, "quarantined", json, at])?;
        tx.prepare_cached(SQLITE_AUDIT)?.execute(rusqlite::params![
            at,
            a,
            "clean",
            "quarantined",
            "bench",
            "bench",
            Option::<String>::None
        ])?;
        tx.commit()?;
    }
    Ok(per_second(addresses.len(), t.elapsed()))
}

// The PostgreSQL writer's own statements, sent one transaction each here,
// without its group's advisory lock, marks and NOTIFY.
use cordon_orchestrator::store::postgres::{AUDIT as PG_AUDIT, HOST as PG_HOST};

/// [`PG_CONNECTIONS`] plain connections to the store's database.
async fn raw_pg(url: &str) -> Result<Vec<tokio_postgres::Client>> {
    let config: tokio_postgres::Config = url.parse()?;
    let mut clients = Vec::with_capacity(PG_CONNECTIONS);
    for _ in 0..PG_CONNECTIONS {
        let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        clients.push(client);
    }
    Ok(clients)
}

/// Each connection commits its share, one transaction per quarantine.
async fn pg_one_by_one(clients: &[tokio_postgres::Client], addresses: &[Ipv4Addr]) -> Result<f64> {
    let at = unix_now();
    let json = record_json(at);
    let share = addresses.len().div_ceil(clients.len());
    let t = Instant::now();
    let jobs = clients
        .iter()
        .zip(addresses.chunks(share))
        .map(|(c, part)| {
            let json = &json;
            async move {
                let host = c.prepare(PG_HOST).await?;
                let audit = c.prepare(PG_AUDIT).await?;
                for a in part {
                    let a = a.to_string();
                    c.batch_execute("BEGIN").await?;
                    c.query_one(&host, &[&a, &"quarantined", json, &at, &"raw"])
                        .await?;
                    c.execute(
                        &audit,
                        &[
                            &at,
                            &a,
                            &"clean",
                            &"quarantined",
                            &"bench",
                            &"bench",
                            &Option::<String>::None,
                            &"raw",
                        ],
                    )
                    .await?;
                    c.batch_execute("COMMIT").await?;
                }
                anyhow::Ok(())
            }
        });
    futures::future::try_join_all(jobs).await?;
    Ok(per_second(addresses.len(), t.elapsed()))
}
