//! Login storm: a BNG restarts and brings back 10 000 subscribers at once,
//! each an RADIUS Accounting-Start to cordond's accounting listener, a few
//! hundred of them quarantined subscribers coming back with new addresses.
//! Beside the trivial responder (`cordon-radius-responder`, which answers
//! every valid request at once: no store, no kernel) in the same run,
//! rounds alternating the sides, with `radclient` and with our own client
//! (which times each request).
//!
//! The benchmark checks its own result: after each storm against cordond
//! every quarantined subscriber's new address is in the kernel's
//! `quarantined_v4` and no other subscriber's is, and at the end `cordon
//! sessions` lists every Start. A failed check is an error, not a figure.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cordon_config::Prefix;
use cordon_lab::Lab;
use cordon_proto::control::{Request, SessionSource};
use cordon_radius::{Accounting, Status};

use crate::metrics::Scrape;

mod load;
mod report;
mod sides;

use load::{Client, Outcome};
use sides::{RadclientRun, Responder};

/// Subscribers coming back at once.
const STARTS: usize = 10_000;
/// Every this many of them is a quarantined subscriber.
const EVERY: usize = 32;
/// Rounds; each runs the four storms (two clients, two servers).
const ROUNDS: usize = 3;
/// Requests outstanding at most, as a BNG's accounting client keeps.
const WINDOW: usize = 1024;
/// Single Starts of quarantined subscribers sent one at a time, no storm.
const SINGLE: usize = 30;
/// The NAS every request names (`NAS-Identifier`): its Accounting-On ends
/// the sessions of the storm before.
const NAS: &str = "bench-bng";
/// The IPv4 subscriber prefix, widened from the lab's /16.
const PREFIX: &str = "100.64.0.0/14";
/// radclient's window. Its sockets keep the default receive buffer
/// (`net.core.rmem_default`, read-only inside a namespace), which holds
/// about 170 small answers: at `-p 1024` the fast responder's answers
/// overflowed it and radclient waited out its timeout.
const RADCLIENT: Client = Client {
    window: 256,
    ..CLIENT
};
/// Receive buffer of the benchmark's client sockets (the kernel caps it at
/// the namespace's `net.core.rmem_max`).
const CLIENT_BUFFER: usize = 4 << 20;
/// A NAS's accounting client: 3 s, then three more tries.
const CLIENT: Client = Client {
    window: WINDOW,
    timeout: Duration::from_secs(3),
    retries: 3,
};

fn quarantined(i: usize) -> bool {
    i.is_multiple_of(EVERY)
}

fn user(i: usize) -> String {
    format!("sub{i:05}")
}

/// Storm `k`'s address for subscriber `i` (100.65.0.0 on; new each storm).
fn address(k: usize, i: usize) -> Ipv4Addr {
    let base = u32::from(Ipv4Addr::new(100, 65, 0, 0));
    Ipv4Addr::from(base + u32::try_from(k * STARTS + i).unwrap_or(0))
}

/// A quarantined subscriber's address before the restart (100.67.0.0 on).
fn old_address(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 67, 0, 0)) + u32::try_from(i).unwrap_or(0))
}

fn start(k: usize, i: usize, session: String) -> Accounting {
    let mut a = Accounting::new(Status::Start, 0);
    a.user_name = Some(user(i));
    a.acct_session_id = Some(session);
    a.framed_ip = Some(address(k, i));
    a.nas_identifier = Some(NAS.into());
    a
}

/// Storm `k`: every subscriber's Start, each with its own session id.
fn storm(k: usize) -> Vec<Accounting> {
    (0..STARTS)
        .map(|i| start(k, i, format!("k{k}-{i}")))
        .collect()
}

/// One round's figures of both clients on both servers.
#[derive(Debug, Default)]
struct Round {
    radclient_ref: Option<RadclientRun>,
    radclient: Option<RadclientRun>,
    ours_ref: Option<Outcome>,
    ours: Option<Outcome>,
}

/// The four storms of a round.
#[derive(Debug, Clone, Copy)]
enum Side {
    RadclientRef,
    Radclient,
    OursRef,
    Ours,
}

/// Datagrams dropped for full receive buffers.
#[derive(Debug, Clone, Copy, Default)]
struct Drops {
    /// At the server's socket.
    server: u64,
    /// At the clients' sockets.
    clients: u64,
}

impl Drops {
    fn since(self, earlier: Drops) -> Drops {
        Drops {
            server: self.server.saturating_sub(earlier.server),
            clients: self.clients.saturating_sub(earlier.clients),
        }
    }
}

/// What a storm against cordond cost it, beside the answers.
#[derive(Debug, Clone, Copy)]
struct Cost {
    /// The Accounting-On before it, ending the storm before's sessions.
    acct_on: Option<Duration>,
    /// Store commits during the storm.
    commits: f64,
    /// Kernel transactions (set changes) during the storm.
    kernel_batches: f64,
    /// Datagrams the kernel dropped (receive buffers full).
    dropped: Drops,
}

/// What the whole run measured.
struct Measured {
    rounds: Vec<Round>,
    single: Outcome,
    single_ref: Outcome,
    costs: Vec<Cost>,
    ref_dropped: Vec<Drops>,
    sessions_listed: usize,
    storms: usize,
}

struct Bench<'a> {
    lab: &'a Lab,
    cordond: SocketAddr,
    secret: String,
    responder: Responder,
    /// Storms sent to cordond so far (each has its own addresses).
    storms: usize,
}

impl Bench<'_> {
    /// Client sockets in the gateway's namespace, with room for every
    /// answer they wait for: a drop must be the server's, not ours.
    fn sockets(&self, n: usize) -> Result<Vec<UdpSocket>> {
        use socket2::{Domain, Socket, Type};
        self.lab.gateway().run(|| {
            (0..n)
                .map(|_| {
                    let s = Socket::new(Domain::IPV4, Type::DGRAM, None)?;
                    s.set_recv_buffer_size(CLIENT_BUFFER)?;
                    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
                    Ok(UdpSocket::from(s))
                })
                .collect::<Result<Vec<_>>>()
        })?
    }

    /// Datagrams the kernel has dropped so far for full receive buffers:
    /// at `server`'s socket, and at the clients' (every other socket).
    fn drops(&self, server: SocketAddr) -> Result<Drops> {
        let at_server = sides::udp_drops(self.lab, server.port())?;
        let all = sides::udp_rcvbuf_errors(self.lab)?;
        Ok(Drops {
            server: at_server,
            clients: all.saturating_sub(at_server),
        })
    }

    fn ours(&self, server: SocketAddr, requests: &[Accounting], client: Client) -> Result<Outcome> {
        let sockets = self.sockets(client.window.div_ceil(256))?;
        load::run(sockets, server, self.secret.as_bytes(), requests, client)
    }

    fn radclient(&self, server: SocketAddr, requests: &[Accounting]) -> Result<RadclientRun> {
        let file = self.lab.run_dir().join("storm.radclient");
        sides::write(&file, &sides::radclient_file(requests))?;
        let run = sides::radclient(
            self.lab.gateway().netns(),
            &file,
            server,
            &self.secret,
            RADCLIENT,
        );
        let _ = std::fs::remove_file(&file);
        run
    }

    /// The BNG's Accounting-On: its earlier sessions end.
    fn accounting_on(&self) -> Result<Duration> {
        let mut on = Accounting::new(Status::AccountingOn, 0);
        on.nas_identifier = Some(NAS.into());
        let single = Client {
            window: 1,
            ..CLIENT
        };
        let out = self.ours(self.cordond, &[on], single)?;
        match out.latency.first().copied().flatten() {
            Some(l) => Ok(l),
            None => bail!("cordond never answered the Accounting-On"),
        }
    }

    /// After storm `k` against cordond: its quarantined subscribers' new
    /// addresses are in the kernel set, nobody else's.
    fn check_kernel(&self, k: usize) -> Result<()> {
        let set = sides::quarantined_v4(self.lab)?;
        for i in 0..STARTS {
            let a = address(k, i);
            match (quarantined(i), set.contains(&a)) {
                (true, false) => bail!("storm {k}: {} at {a} answered but not walled in", user(i)),
                (false, true) => bail!("storm {k}: {} at {a} walled in, not quarantined", user(i)),
                _ => {}
            }
        }
        Ok(())
    }

    /// One storm against cordond: Accounting-On first (not timed with the
    /// storm), then the Starts; returns the Accounting-On's time, the
    /// store commits and kernel batches the storm took.
    fn against_cordond<T>(
        &mut self,
        send: impl FnOnce(&Self, &[Accounting]) -> Result<T>,
    ) -> Result<(T, Cost)> {
        let k = self.storms;
        self.storms += 1;
        let requests = storm(k);
        let on = self.accounting_on()?;
        let gw = self.lab.gateway();
        let before = Scrape::fetch(&gw)?;
        let dropped = self.drops(self.cordond)?;
        let out = send(self, &requests)?;
        let dropped = self.drops(self.cordond)?.since(dropped);
        let after = Scrape::fetch(&gw)?;
        let delta = |name: &str| after.sum(name) - before.sum(name);
        self.check_kernel(k)?;
        Ok((
            out,
            Cost {
                // The first storm's Accounting-On ends nothing.
                acct_on: (k > 0).then_some(on),
                commits: delta("cordon_store_write_seconds_count"),
                kernel_batches: delta("cordon_rule_change_seconds_count"),
                dropped,
            },
        ))
    }
}

/// Pre-seeds the quarantined subscribers: each holds an old address
/// (`cordon session start`) and is quarantined by subscriber.
fn seed(lab: &Lab) -> Result<usize> {
    let ids: Vec<usize> = (0..STARTS).filter(|&i| quarantined(i)).collect();
    let socket = lab.gateway().control_socket().to_owned();
    let starts = ids
        .iter()
        .map(|&i| Request::SessionStart {
            subscriber: user(i),
            addresses: vec![old_address(i).to_string()],
            source: SessionSource::Operator,
        })
        .collect();
    crate::control::bulk(&socket, starts, 16)?;
    let quarantines = ids
        .iter()
        .map(|&i| Request::Quarantine {
            address: None,
            subscriber: Some(user(i)),
            reason: "bench: login storm".into(),
            hold_s: None,
        })
        .collect();
    crate::control::bulk(&socket, quarantines, 16)?;
    Ok(ids.len())
}

fn measure(bin: &Path) -> Result<Measured> {
    let wide: Prefix = PREFIX.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let lab = crate::lab::with_cordond("bstorm", bin)
        .subscribers(1)
        // No quarantine may end by itself during the run.
        .quiet_period(Duration::from_secs(1800))
        .configure(move |c| {
            c.subscribers.prefixes.retain(|p| !p.is_ipv4());
            c.subscribers.prefixes.insert(0, wide);
        })
        .up()?;
    let plan = lab
        .plan()
        .gateway
        .radius_accounting
        .clone()
        .context("the lab's cordond has no accounting listener")?;
    seed(&lab)?;
    let responder = Responder::start(bin, lab.gateway().netns(), &plan.secret)?;
    let mut b = Bench {
        lab: &lab,
        cordond: SocketAddr::new(plan.address, plan.port),
        secret: plan.secret.clone(),
        responder,
        storms: 0,
    };
    let reference = b.responder.address;
    let mut costs = Vec::new();
    let mut ref_dropped = Vec::new();
    let mut rounds = Vec::new();
    for r in 0..ROUNDS {
        let mut order = [
            Side::RadclientRef,
            Side::Radclient,
            Side::OursRef,
            Side::Ours,
        ];
        if r % 2 == 1 {
            order.reverse();
        }
        let mut round = Round::default();
        for side in order {
            match side {
                Side::RadclientRef => {
                    let d = b.drops(reference)?;
                    round.radclient_ref = Some(b.radclient(reference, &storm(0))?);
                    ref_dropped.push(b.drops(reference)?.since(d));
                }
                Side::OursRef => {
                    let d = b.drops(reference)?;
                    round.ours_ref = Some(b.ours(reference, &storm(0), CLIENT)?);
                    ref_dropped.push(b.drops(reference)?.since(d));
                }
                Side::Radclient => {
                    let (run, cost) = b.against_cordond(|b, req| b.radclient(b.cordond, req))?;
                    round.radclient = Some(run);
                    costs.push(cost);
                }
                Side::Ours => {
                    let (run, cost) = b.against_cordond(|b, req| b.ours(b.cordond, req, CLIENT))?;
                    round.ours = Some(run);
                    costs.push(cost);
                }
            }
        }
        eprintln!("cordon-bench: storm: round {} done", r + 1);
        rounds.push(round);
    }

    // Quarantined subscribers coming back one at a time, no storm.
    let k = b.storms;
    let singles: Vec<Accounting> = (0..STARTS)
        .filter(|&i| quarantined(i))
        .take(SINGLE)
        .map(|i| start(k, i, format!("single-{i}")))
        .collect();
    let one = Client {
        window: 1,
        ..CLIENT
    };
    let single = b.ours(b.cordond, &singles, one)?;
    let single_ref = b.ours(reference, &singles, one)?;
    let set = sides::quarantined_v4(&lab)?;
    if let Some(a) = singles
        .iter()
        .filter_map(|s| s.framed_ip)
        .find(|a| !set.contains(a))
    {
        bail!("a single Start's address {a} answered but not walled in");
    }

    // Every Start of every storm is in the session history, and the last
    // storm's sessions are open.
    let listed = sides::sessions(bin, &lab, (b.storms + 1) * STARTS + 10 * SINGLE)?;
    for k in 0..b.storms {
        let prefix = format!("k{k}-");
        let mine: Vec<bool> = listed
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .map(|&(_, open)| open)
            .collect();
        if mine.len() != STARTS {
            bail!(
                "cordon sessions lists {} of storm {k}'s {STARTS} Starts",
                mine.len()
            );
        }
        let open = mine.iter().filter(|&&o| o).count();
        let want = if k + 1 == b.storms { STARTS } else { 0 };
        if open != want {
            bail!("storm {k}: {open} sessions open in cordon sessions, expected {want}");
        }
    }
    let storms = b.storms;
    drop(b);
    drop(lab);
    Ok(Measured {
        rounds,
        single,
        single_ref,
        costs,
        ref_dropped,
        sessions_listed: listed.len(),
        storms,
    })
}

/// Runs the login storm and returns its Markdown section.
pub fn run(bin: &Path) -> Result<String> {
    let m = measure(bin)?;
    report::section(&m)
}
