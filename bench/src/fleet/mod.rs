//! Fleet: gateways sharing PostgreSQL. Quarantines acknowledged per second
//! through the store on each backend (beside the raw driver, one
//! transaction per quarantine), decision on gateway A to enforced on
//! gateway B (beside the same decision made on B), and restart to
//! reconciled with 100 000 records in PostgreSQL (beside SQLite).
//!
//! One PostgreSQL server for the whole section (`cordon_testkit::pg`: a
//! real server on a Unix socket in a temporary directory, stopped and
//! removed at the end); each part has its own database. Every cordond runs
//! in a namespace of the benchmark's own (`cl-bench-fleet-…`, which
//! scripts/bench removes if the benchmark is killed).

mod commit;
mod follow;
mod report;
mod restart;

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{Context, Result};
use cordon_config::Config;
use cordon_orchestrator::store::Write;
use cordon_policy::Actor;
use cordon_policy::lifecycle::{Audit, Host, Quarantined, State};
use cordon_policy::subject::Subject;
use cordon_proto::portal::{HostState, Reason};
use cordon_testkit::pg::PgServer;

/// Runs the fleet benchmark and returns its Markdown section.
pub fn run(bin: &Path, runs: usize) -> Result<String> {
    let dir = tempfile::Builder::new()
        .prefix(&format!("cordon-bench-fleet-{}-", std::process::id()))
        .tempdir()
        .context("a temporary directory")?;
    let pg = PgServer::start();
    let commits = commit::run(&pg, dir.path(), runs)?;
    let follows = follow::run(bin, &pg, dir.path(), runs)?;
    let restarts = restart::run(bin, &pg, dir.path(), runs)?;
    report::render(&commits, &follows, &restarts)
}

/// A cordond config for a gateway in a bare namespace: subscribers in
/// `prefix`, its sockets in `dir`, its store as the YAML flow map `store`.
/// No interface needs to exist (the names are patterns the rules match).
fn cordond_config(dir: &Path, prefix: &str, store: &str) -> String {
    let dir = dir.display();
    format!(
        "subscribers: {{ prefixes: [{prefix}] }}
interfaces: {{ downlink: [\"sub*\"], uplink: [up0] }}
walled_garden: {{ resolvers: [192.0.2.53] }}
portal: {{ public_url: \"http://portal.test/\" }}
quarantine: {{ min_hold: 1d, quiet_period: 2h, max_hold: 7d }}
store: {store}
control: {{ socket: {dir}/control.sock, portal_socket: {dir}/portal.sock }}
metrics: {{ listen: null }}
"
    )
}

/// The `store:` flow map of gateway `gateway` on database `db` of `pg`,
/// its outbox in `dir`.
fn pg_store(pg: &PgServer, db: &str, gateway: &str, dir: &Path) -> String {
    format!(
        "{{ backend: postgres, url: \"{}\", gateway: {gateway}, outbox: {}/{gateway}-outbox.db }}",
        pg.url(db),
        dir.display()
    )
}

/// The `store:` flow map of a SQLite file.
fn sqlite_store(path: &Path) -> String {
    format!("{{ backend: sqlite, path: {} }}", path.display())
}

/// Writes `text` as `dir/NAME.yaml` and loads it as cordond would.
fn write_config(dir: &Path, name: &str, text: &str) -> Result<(std::path::PathBuf, Config)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text)?;
    let config =
        cordon_config::load_str(text, &path).map_err(|e| anyhow::anyhow!("{name}.yaml: {e}"))?;
    Ok((path, config))
}

/// The `i`-th address from `base`.
fn nth(base: Ipv4Addr, i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + u32::try_from(i).unwrap_or(u32::MAX))
}

/// What cordond writes for an operator quarantining `address` at `at`:
/// the host's record and its audit entry, in one commit.
fn quarantine(config: &Config, address: Ipv4Addr, at: i64) -> Result<Vec<Write>> {
    let addr = config
        .subscriber_addr(&address.to_string())
        .map_err(|e| anyhow::anyhow!("{address}: {e}"))?;
    let mut host = Host::clean(Subject::Addr(addr));
    host.state = State::Quarantined(Quarantined {
        since: at,
        reason: Reason::Operator,
        actor: Actor::Operator("bench".into()),
        note: "bench".into(),
        hold_until: at + 86_400,
        until: None,
        self_release: true,
        relapses: 0,
        evidence: Default::default(),
    });
    let audit = Audit {
        at,
        subject: Subject::Addr(addr),
        address: None,
        from: HostState::Clean,
        to: HostState::Quarantined,
        actor: Actor::Operator("bench".into()),
        note: "bench".into(),
    };
    Ok(vec![Write::Host(host, at), Write::Audit(audit)])
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}
