//! Restart to reconciled with 100 000 quarantined records in PostgreSQL:
//! cordond started on a kernel without its table (as after a reboot),
//! timed until it says it is ready, which it does only once the table with
//! every quarantine is installed and its control socket listens (both are
//! checked after each start). Reference: the same cordond on a SQLite
//! store holding the same records, same run, alternating.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_config::Config;
use cordon_orchestrator::store::{Store, Write};
use cordon_proto::control::{Request, Response};
use cordon_rules::{Kernel, NftCommand};
use cordon_testkit::Netns;
use cordon_testkit::pg::PgServer;

use super::{cordond_config, nth, pg_store, quarantine, sqlite_store, unix_now, write_config};
use crate::control::Client;
use crate::daemon::Daemon;

/// Quarantined records in the store.
pub const RECORDS: usize = 100_000;
/// Quarantines per `Store::write` while seeding.
const SEED_BATCH: usize = 2_000;
/// Every this many-th record is looked up in the kernel after a start.
pub const CHECK_EVERY: usize = 100;
/// The gateway's prefix, wide enough for [`RECORDS`] addresses.
const PREFIX: &str = "100.64.0.0/14";

/// Both sides' start times, and how long seeding took.
#[derive(Debug, Default)]
pub struct Restarts {
    pub postgres: Vec<Duration>,
    pub sqlite: Vec<Duration>,
    pub seed_postgres: Duration,
    pub seed_sqlite: Duration,
}

/// Seeds both stores and starts cordond on each `runs` times.
pub fn run(bin: &Path, pg: &PgServer, dir: &Path, runs: usize) -> Result<Restarts> {
    let dir = dir.join("restart");
    pg.database("restart");
    let db = dir.join("cordon.db");
    let (pg_path, pg_config) = write_config(
        &dir,
        "postgres",
        &cordond_config(&dir, PREFIX, &pg_store(pg, "restart", "C", &dir)),
    )?;
    let (sqlite_path, sqlite_config) = write_config(
        &dir,
        "sqlite",
        &cordond_config(&dir, PREFIX, &sqlite_store(&db)),
    )?;
    let mut out = Restarts {
        seed_postgres: seed(&pg_config)?,
        seed_sqlite: seed(&sqlite_config)?,
        ..Restarts::default()
    };
    let ns = Netns::try_new("bench-fleet-c")?;
    let kernel = Kernel::new(&pg_config, NftCommand::in_netns(ns.name()));
    let socket = dir.join("control.sock");
    for round in 0..runs.max(1) {
        for postgres in [round % 2 == 0, round % 2 == 1] {
            let path: &PathBuf = if postgres { &pg_path } else { &sqlite_path };
            let took = start(bin, &ns, &kernel, &pg_config, path, &socket, &dir)?;
            if postgres {
                out.postgres.push(took);
            } else {
                out.sqlite.push(took);
            }
        }
    }
    Ok(out)
}

/// Writes [`RECORDS`] quarantines into the store `config` names, in
/// batches, as cordond would store them; how long that took.
fn seed(config: &Config) -> Result<Duration> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let opened = Store::open_configured(config, || "seed".into()).await?;
        let at = unix_now();
        let base = Ipv4Addr::new(100, 64, 1, 0);
        let t = Instant::now();
        for from in (0..RECORDS).step_by(SEED_BATCH) {
            let mut batch: Vec<Write> = Vec::with_capacity(2 * SEED_BATCH);
            for i in from..(from + SEED_BATCH).min(RECORDS) {
                batch.extend(quarantine(config, nth(base, i), at)?);
            }
            opened.store.write(batch).await?;
        }
        let took = t.elapsed();
        if let Some(o) = opened.store.outbox()
            && o.queued > 0
        {
            bail!(
                "{} seeding batches went to the outbox, not the store",
                o.queued
            );
        }
        Ok(took)
    })
}

/// Starts cordond on `config` with no table in the kernel; the time to
/// ready, once checked that the kernel holds every record and the
/// control socket answers.
fn start(
    bin: &Path,
    ns: &Netns,
    kernel: &Kernel,
    kernel_config: &Config,
    config: &Path,
    socket: &Path,
    dir: &Path,
) -> Result<Duration> {
    // As after a reboot: no table (absent the first time).
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.name(),
            "nft",
            "delete",
            "table",
            "inet",
            "cordon",
        ])
        .output();
    if kernel.exists()? {
        bail!("the table is still in {} after deleting it", ns.name());
    }
    let log = dir.join("cordond.log");
    let daemon = Daemon::start(bin, ns.name(), config, Some(&log))
        .with_context(|| format!("starting cordond (log: {})", log.display()))?;
    let took = daemon.started;
    // Looked up over netlink: listing 100 000 elements with `nft` takes
    // seconds on a busy machine and was refused under load.
    let base = Ipv4Addr::new(100, 64, 1, 0);
    for i in (0..RECORDS).step_by(CHECK_EVERY).chain([RECORDS - 1]) {
        let addr = config_of(kernel_config, nth(base, i))?;
        if !kernel.is_quarantined(&addr)? {
            bail!("cordond ready without record {i} ({addr}) in the kernel");
        }
    }
    match Client::connect(socket)?.call(&Request::Status)? {
        Response::Status(_) => {}
        other => bail!("status answered {other:?}"),
    }
    drop(daemon);
    Ok(took)
}

/// `address` as a subscriber address of `config`.
fn config_of(config: &Config, address: Ipv4Addr) -> Result<cordon_config::SubscriberAddr> {
    config
        .subscriber_addr(&address.to_string())
        .map_err(|e| anyhow::anyhow!("{address}: {e}"))
}
