//! Decision on gateway A to enforced on gateway B: two cordonds, each in a
//! namespace of its own with its own subscriber prefixes, sharing one
//! PostgreSQL database. A subscriber has a session on B; an operator
//! quarantines it on A's control socket; the clock runs from A's answer
//! until B's kernel holds the subscriber's address (looked up over
//! netlink, `Kernel::is_quarantined`). Reference: the same quarantine made
//! on B's own control socket, same run, rounds alternating.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_config::{Config, SubscriberAddr};
use cordon_proto::control::{Request, Response};
use cordon_proto::portal::HostState;
use cordon_proto::subscriber::SessionSource;
use cordon_rules::{Kernel, NftCommand};
use cordon_testkit::Netns;
use cordon_testkit::pg::PgServer;

use super::{cordond_config, nth, pg_store, write_config};
use crate::control::{Client, bulk, bulk_timed};
use crate::daemon::Daemon;

/// Rounds of the single-subscriber measurement (each side once a round).
pub const SINGLE_ROUNDS: usize = 30;
/// Subscribers quarantined at once.
pub const MANY: usize = 10_000;
/// Control connections the many quarantines are sent through.
pub const CONNECTIONS: usize = 64;
/// Rounds of the many (each side once a round, on subscribers of its own).
pub const MANY_ROUNDS: usize = 3;
/// Every this many-th of the many is timed on its own (a sweep over all
/// of them takes too long to time each).
pub const SAMPLE_EVERY: usize = 20;
/// Pause between two lookups of one subscriber.
const POLL: Duration = Duration::from_micros(200);
/// Longest wait for B to enforce anything.
const DEADLINE: Duration = Duration::from_secs(60);

/// Latencies of both sides.
#[derive(Debug, Default)]
pub struct Follows {
    /// One subscriber: A's answer to enforced on B.
    pub fleet: Vec<Duration>,
    /// One subscriber: A's request sent to enforced on B.
    pub fleet_sent: Vec<Duration>,
    /// One subscriber: A's request sent to A's answer.
    pub fleet_answer: Vec<Duration>,
    /// B's request sent to B's answer.
    pub local_answer: Vec<Duration>,
    /// The same on B alone: B's answer to enforced on B.
    pub local: Vec<Duration>,
    /// B's request sent to enforced on B.
    pub local_sent: Vec<Duration>,
    /// Many at once, A deciding, one per round.
    pub many_fleet: Vec<Many>,
    /// Many at once, B deciding, one per round.
    pub many_local: Vec<Many>,
}

/// One run of [`MANY`] quarantines at once.
#[derive(Debug, Default)]
pub struct Many {
    /// Every [`SAMPLE_EVERY`]-th subscriber: the decider's answer to
    /// enforced on B.
    pub each: Vec<Duration>,
    /// First request sent to the last subscriber enforced on B.
    pub all: Duration,
    /// First request sent to the last answer.
    pub answered: Duration,
    /// The longest sweep of the watcher over the sampled subscribers
    /// still waiting: the resolution of `each`.
    pub sweep: Duration,
    /// The longest sweep over all the others, once the sampled ones were
    /// in: the resolution of `all`.
    pub sweep_all: Duration,
}

/// The prefixes of A and B.
const PREFIX_A: &str = "100.64.0.0/16";
const PREFIX_B: &str = "100.65.0.0/16";

struct Gateway {
    // Dropped in order: cordond before its namespace.
    _daemon: Daemon,
    ns: Netns,
    socket: std::path::PathBuf,
}

fn gateway(
    bin: &Path,
    pg: &PgServer,
    dir: &Path,
    name: &str,
    prefix: &str,
) -> Result<(Gateway, Config)> {
    let dir = dir.join(name);
    let ns = Netns::try_new(&format!("bench-fleet-{}", name.to_lowercase()))?;
    let text = cordond_config(&dir, prefix, &pg_store(pg, "fleet", name, &dir));
    let (path, config) = write_config(&dir, "cordon", &text)?;
    let daemon = Daemon::start(bin, ns.name(), &path, Some(&dir.join("cordond.log")))
        .with_context(|| {
            format!(
                "starting cordond {name} (log: {})",
                dir.join("cordond.log").display()
            )
        })?;
    Ok((
        Gateway {
            _daemon: daemon,
            ns,
            socket: dir.join("control.sock"),
        },
        config,
    ))
}

/// Measures both sides.
pub fn run(bin: &Path, pg: &PgServer, dir: &Path, runs: usize) -> Result<Follows> {
    pg.database("fleet");
    let (a, _) = gateway(bin, pg, dir, "A", PREFIX_A)?;
    let (b, config_b) = gateway(bin, pg, dir, "B", PREFIX_B)?;
    let kernel = Kernel::new(&config_b, NftCommand::in_netns(b.ns.name()));
    let mut out = Follows::default();
    single(
        &a,
        &b,
        &config_b,
        &kernel,
        runs.max(1) * SINGLE_ROUNDS / 5,
        &mut out,
    )?;
    // A set of subscribers for each side and round, so that none waits
    // for releases.
    let mut set = 0;
    for round in 0..MANY_ROUNDS {
        for fleet in [round % 2 == 1, round % 2 == 0] {
            let base = nth(Ipv4Addr::new(100, 65, 16, 0), set * MANY);
            let subs = sessions(&b, &config_b, &format!("many{set}"), base)?;
            set += 1;
            if fleet {
                out.many_fleet.push(many(&a, &kernel, &subs)?);
            } else {
                out.many_local.push(many(&b, &kernel, &subs)?);
            }
        }
    }
    Ok(out)
}

fn quarantine(subscriber: &str) -> Request {
    Request::Quarantine {
        address: None,
        subscriber: Some(subscriber.to_owned()),
        reason: "bench".into(),
        hold_s: None,
    }
}

/// One subscriber on B, quarantined and released `rounds` times by each
/// side in turn.
fn single(
    a: &Gateway,
    b: &Gateway,
    config_b: &Config,
    kernel: &Kernel,
    rounds: usize,
    out: &mut Follows,
) -> Result<()> {
    let s = "bench-one";
    let address = "100.65.1.1";
    let addr = config_b
        .subscriber_addr(address)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (mut ca, mut cb) = (Client::connect(&a.socket)?, Client::connect(&b.socket)?);
    cb.call(&Request::SessionStart {
        subscriber: s.into(),
        addresses: vec![address.into()],
        source: SessionSource::Operator,
    })?;
    for round in 0..rounds {
        for fleet in [round % 2 == 0, round % 2 == 1] {
            let decider = if fleet { &mut ca } else { &mut cb };
            let t0 = Instant::now();
            decider.call(&quarantine(s))?;
            let t1 = Instant::now();
            let t2 = until(kernel, &addr, true)?;
            if fleet {
                out.fleet.push(t2.saturating_duration_since(t1));
                out.fleet_sent.push(t2 - t0);
                out.fleet_answer.push(t1 - t0);
            } else {
                out.local.push(t2.saturating_duration_since(t1));
                out.local_sent.push(t2 - t0);
                out.local_answer.push(t1 - t0);
            }
            decider.call(&Request::Release {
                address: None,
                subscriber: Some(s.into()),
                reason: "bench".into(),
            })?;
            until(kernel, &addr, false)?;
            // Both gateways agree before the next decision, so that
            // neither decides on a state the other has moved on from.
            for c in [&mut ca, &mut cb] {
                settled(c, s)?;
            }
        }
    }
    Ok(())
}

/// Polls B's kernel until `addr` is quarantined (`held`) or not; when.
fn until(kernel: &Kernel, addr: &SubscriberAddr, held: bool) -> Result<Instant> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if kernel.is_quarantined(addr)? == held {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!(
                "{addr} not {} on B within {DEADLINE:?}",
                if held { "quarantined" } else { "released" }
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until the gateway behind `c` no longer has `subscriber`
/// quarantined.
fn settled(c: &mut Client, subscriber: &str) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = c.call(&Request::Show {
            address: None,
            subscriber: Some(subscriber.into()),
        })?;
        if let Response::Host(h) = &answer
            && h.state != HostState::Quarantined
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{subscriber} still quarantined after its release: {answer:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// [`MANY`] subscribers `STEM-i` with sessions on B at `base + i`.
fn sessions(
    b: &Gateway,
    config_b: &Config,
    stem: &str,
    base: Ipv4Addr,
) -> Result<Vec<(String, SubscriberAddr)>> {
    let mut subs = Vec::with_capacity(MANY);
    let mut requests = Vec::with_capacity(MANY);
    for i in 0..MANY {
        let (id, address) = (format!("{stem}-{i}"), nth(base, i).to_string());
        let addr = config_b
            .subscriber_addr(&address)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        requests.push(Request::SessionStart {
            subscriber: id.clone(),
            addresses: vec![address],
            source: SessionSource::Operator,
        });
        subs.push((id, addr));
    }
    let took = bulk(&b.socket, requests, CONNECTIONS)?;
    eprintln!("cordon-bench: fleet: {MANY} sessions on B in {took:?}");
    Ok(subs)
}

/// Quarantines every subscriber of `subs` on `decider` at once while a
/// thread watches B's kernel for each.
fn many(decider: &Gateway, kernel: &Kernel, subs: &[(String, SubscriberAddr)]) -> Result<Many> {
    let requests: Vec<Request> = subs.iter().map(|(id, _)| quarantine(id)).collect();
    let addrs: Vec<SubscriberAddr> = subs.iter().map(|(_, a)| *a).collect();
    let watcher = {
        let kernel = kernel.clone();
        std::thread::spawn(move || watch(&kernel, &addrs))
    };
    let t0 = Instant::now();
    let answered = bulk_timed(&decider.socket, requests, CONNECTIONS);
    let last_answer = Instant::now();
    let watched = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("the watcher panicked"))??;
    let answered = answered?;
    let each = (0..subs.len())
        .step_by(SAMPLE_EVERY)
        .map(|i| watched.seen[i].saturating_duration_since(answered[i]))
        .collect();
    let last_seen = watched.seen.iter().max().copied().unwrap_or(t0);
    Ok(Many {
        each,
        all: last_seen - t0,
        answered: last_answer - t0,
        sweep: watched.sweep,
        sweep_all: watched.sweep_all,
    })
}

/// What the watcher saw.
struct Watched {
    /// When each address was first seen quarantined.
    seen: Vec<Instant>,
    sweep: Duration,
    sweep_all: Duration,
}

/// Sweeps over the sampled addresses (every [`SAMPLE_EVERY`]-th) not yet
/// seen quarantined until all are, then over all the others: when each
/// was first seen, and the longest sweep of each kind.
fn watch(kernel: &Kernel, addrs: &[SubscriberAddr]) -> Result<Watched> {
    let deadline = Instant::now() + DEADLINE;
    let mut seen: Vec<Option<Instant>> = vec![None; addrs.len()];
    let (sample, rest): (Vec<usize>, Vec<usize>) =
        (0..addrs.len()).partition(|i| i % SAMPLE_EVERY == 0);
    let mut longest = [Duration::ZERO; 2];
    for (kind, mut waiting) in [sample, rest].into_iter().enumerate() {
        while !waiting.is_empty() {
            let t = Instant::now();
            let mut still = Vec::with_capacity(waiting.len());
            for i in waiting {
                if kernel.is_quarantined(&addrs[i])? {
                    seen[i] = Some(Instant::now());
                } else {
                    still.push(i);
                }
            }
            longest[kind] = longest[kind].max(t.elapsed());
            waiting = still;
            if Instant::now() > deadline {
                bail!(
                    "{} of {} subscribers not quarantined on B within {DEADLINE:?}",
                    waiting.len(),
                    addrs.len()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(Watched {
        seen: seen.into_iter().flatten().collect(),
        sweep: longest[0],
        sweep_all: longest[1],
    })
}
