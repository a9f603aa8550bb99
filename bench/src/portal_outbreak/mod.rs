//! The portal under an outbreak: thousands of newly quarantined hosts whose
//! browsers and OS probes all reach the gateway at once, beside nginx
//! (`worker_processes auto`, held to the portal's connection caps) serving
//! the same bytes, in rounds that alternate the two.
//!
//! 16 subscriber namespaces hold 1 000 quarantined addresses each (routed to
//! them by the gateway, as a BNG routes a delegated prefix). In a run every
//! one of the 16 000 hosts visits once: four requests, on one connection
//! (keep-alive) or one connection each. For the page the portal asks
//! cordond about each caller it has not seen within the last second (the
//! probes and the API on its address come to the captive listener, which
//! the kernel says is for quarantined hosts), so each visit here is a first
//! sight: the portal's memory of a host's previous visit has lapsed before
//! its next run starts.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use cordon_config::Prefix;
use cordon_lab::Lab;

use crate::metrics::{Scrape, bucket_delta, bucket_sum};
use crate::process::{Cpu, Machine};

mod client;
mod report;

use client::Visit;

/// Subscriber namespaces sending.
const NAMESPACES: usize = 16;
/// Quarantined hosts per namespace.
const HOSTS_PER: usize = 1000;
/// Connections open at once per namespace (64 in all).
const CONNECTIONS_PER: usize = 4;
/// Rounds; each runs every case on both servers, alternating who goes first.
const ROUNDS: usize = 5;
/// The IPv4 subscriber prefix, widened from the lab's /16 to hold the hosts.
const PREFIX: &str = "100.64.0.0/14";
/// The gateway's portal address (the lab's).
const GATEWAY: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// The portal's histogram of waits for cordond, and its failures.
const WAITS: &str = "cordon_portal_cordond_wait_seconds";
const FAILURES: &str = "cordon_portal_cordond_failures_total";
/// The cases the report's breakdown compares: the redirect (nothing asked,
/// nothing rendered) and the cleanup page.
const REDIRECT: &str = "redirect (302) of http:// elsewhere";
const PAGE: &str = "cleanup page";
/// nginx's ports: the page, the redirect, the probes and API.
const NGINX_PAGE: u16 = 8090;
const NGINX_REDIRECT: u16 = 8091;
const NGINX_PROBES: u16 = 8092;
/// The floor's port: hyper alone answering the redirect
/// (`cordon-bench-floor`).
const FLOOR: u16 = 8093;

/// Host `k` of namespace `i`: 100.66.(4i + k/250).(1 + k%250), so each
/// namespace's hosts are in a /22 of their own.
fn host(i: usize, k: usize) -> Ipv4Addr {
    let third = u8::try_from(4 * i + k / 250).unwrap_or(255);
    let fourth = u8::try_from(1 + k % 250).unwrap_or(255);
    Ipv4Addr::new(100, 66, third, fourth)
}

/// One case, served by both sides (and the redirect by the floor too).
struct Case {
    what: &'static str,
    portal: Visit,
    nginx: Visit,
    floor: Option<Visit>,
}

/// Figures of one (case, connections, side) over the rounds.
#[derive(Debug, Default, Clone)]
struct Side {
    rates: Vec<f64>,
    latencies_us: Vec<u32>,
    /// CPU of the side's processes (portal: cordon-portal and cordond).
    cpu: Vec<(Duration, Duration)>,
    requests: usize,
    /// The portal's own histogram of waits for cordond over the runs
    /// (bucket counts added up; the portal's side only).
    waits: Vec<(f64, f64)>,
    /// Questions that got no answer, over the runs.
    failures: f64,
    /// The whole machine's CPU time over each run.
    machine: Vec<Machine>,
    /// The client's CPU time (this process) over each run.
    client: Vec<Duration>,
}

/// Everything the section reports.
struct Measured {
    rows: Vec<(&'static str, &'static str, Side, Side)>,
    /// hyper alone answering the redirect, by connections.
    floor: Vec<(&'static str, Side)>,
    page_bytes: usize,
    caps: cordon_portal::ConnLimits,
    quarantine_took: Duration,
}

/// Runs the section and returns its Markdown.
pub fn run(bin: &Path, only: Option<&str>) -> Result<String> {
    let wide: Prefix = PREFIX.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    // Nobody is released by the lifecycle while the rounds run.
    let lab = crate::lab::with_gateway_timings("bpo", NAMESPACES, bin)
        .configure(move |c| {
            c.subscribers.prefixes.retain(|p| !p.is_ipv4());
            c.subscribers.prefixes.insert(0, wide);
        })
        .portal(bin.join("cordon-portal"))
        .up()?;
    report::report(&crate::lab::measure_in(lab, |lab| measure(lab, bin, only))?)
}

fn measure(lab: &Lab, bin: &Path, only: Option<&str>) -> Result<Measured> {
    add_addresses(lab)?;
    let gw = lab.gateway();
    // A run opens up to 64 000 connections; each closed one stays in the
    // gateway's conntrack table for TIME_WAIT's two minutes, and the table
    // (262 144 entries) would fill within a round and drop new connections.
    // A short TIME_WAIT in this namespace only, for both sides alike.
    cordon_lab::netns::set_sysctls(
        gw.netns(),
        &[("net.netfilter.nf_conntrack_tcp_timeout_time_wait", "1")],
    )?;
    let all: Vec<String> = (0..NAMESPACES)
        .flat_map(|i| (0..HOSTS_PER).map(move |k| host(i, k).to_string()))
        .collect();
    let quarantine_took = crate::control::bulk_quarantine(gw.control_socket(), &all, 64)?;

    let portal_url = gw.portal_url().to_owned();
    let portal_port = lab.config().portal.listen[0].port();
    let redirect_port = lab.config().portal.redirect_port;
    // nginx serves the page a quarantined host's browser gets (its facts,
    // its steps, its button; the form token differs from host to host, its
    // length does not): asked from one of the hosts, as the client asks.
    let one = host(0, 0).to_string();
    let language = format!("Accept-Language: {}", client::LANGUAGE);
    let page = lab.subscriber(0).curl(
        &portal_url,
        &[
            "--interface",
            &one,
            "-A",
            client::USER_AGENT,
            "-H",
            &language,
        ],
    )?;
    ensure!(
        page.status == Some(200) && page.body.contains("class=\"facts\""),
        "the cleanup page answered {:?}, without a quarantined host's facts",
        page.status
    );
    let portal_pid = crate::process::find(gw.netns(), "cordon-portal")?;
    let cordond_pid = crate::process::find(gw.netns(), "cordond")?;
    let caps = portal_caps(portal_pid, lab)?;
    let api = format!(
        "{{\"captive\":true,\"user-portal-url\":\"{}\"}}",
        portal_url
    );
    let nginx = start_nginx(lab, page.body.as_bytes(), &portal_url, &api, &caps)?;
    let floor = start_floor(lab, bin, &portal_url)?;
    let floor_pid = crate::process::find(gw.netns(), "cordon-bench-fl")?;

    let mut cases = cases(portal_port, redirect_port);
    let portal_metrics = format!(
        "http://{}/metrics",
        lab.config()
            .portal
            .metrics_listen
            .context("the lab's portal serves no metrics")?
    );
    cases.retain(|c| only.is_none_or(|o| c.what.contains(o)));
    ensure!(!cases.is_empty(), "no case holds {only:?}");
    let mut sides: Vec<[Side; 3]> = vec![Default::default(); cases.len() * 2];
    let hosts = lab.subscribers();
    // The portal's memory of a caller lasts FACTS_TTL: a portal run starts
    // only once its previous one ended at least that long ago (and cordond's
    // one-second memory of the kernel's counts has lapsed with it), so every
    // visit is a first sight.
    let mut portal_ended = Instant::now();
    for round in 0..ROUNDS {
        for (c, case) in cases.iter().enumerate() {
            for (m, keep_alive) in [true, false].into_iter().enumerate() {
                for side in order(round, case.floor.is_some()) {
                    let (visit, pids) = match (side, &case.floor) {
                        (0, _) => {
                            let lapse = cordon_portal::cache::FACTS_TTL
                                .saturating_sub(portal_ended.elapsed());
                            std::thread::sleep(lapse + Duration::from_millis(50));
                            (&case.portal, vec![portal_pid, cordond_pid])
                        }
                        (2, Some(floor)) => (floor, vec![floor_pid]),
                        _ => (&case.nginx, nginx_pids(lab)?),
                    };
                    // The scrape (a process of its own) before the readings.
                    let before = (side == 0)
                        .then(|| Scrape::fetch_from(&gw, &portal_metrics))
                        .transpose()?;
                    let cpu0 = cpus(&pids)?;
                    let client0 = Cpu::of(own_pid())?;
                    let machine0 = Machine::now()?;
                    let out =
                        client::run(&hosts, HOSTS_PER, host, CONNECTIONS_PER, visit, keep_alive)
                            .with_context(|| {
                                format!(
                                    "{} ({})",
                                    case.what,
                                    ["cordon-portal", "nginx", "hyper alone"][side]
                                )
                            })?;
                    let cpu1 = cpus(&pids)?;
                    let machine = Machine::now()?.since(&machine0);
                    let client = Cpu::of(own_pid())?.since(&client0).own;
                    if side == 0 {
                        portal_ended = Instant::now();
                    }
                    let s = &mut sides[c * 2 + m][side];
                    if let Some(before) = before {
                        let after = Scrape::fetch_from(&gw, &portal_metrics)?;
                        let delta = bucket_delta(&before.buckets(WAITS), &after.buckets(WAITS));
                        s.waits = bucket_sum(&s.waits, &delta);
                        s.failures += after.sum(FAILURES) - before.sum(FAILURES);
                    }
                    s.rates.push(out.rate());
                    s.machine.push(machine);
                    s.client.push(client);
                    s.requests = out.requests;
                    s.latencies_us.extend(&out.latencies_us);
                    let used: Vec<Duration> = cpu0
                        .iter()
                        .zip(&cpu1)
                        .map(|(a, b)| b.since(a).own)
                        .collect();
                    let first = used.first().copied().unwrap_or_default();
                    let rest = used.iter().skip(1).sum::<Duration>();
                    s.cpu.push(if side == 0 {
                        (first, rest)
                    } else {
                        (used.iter().sum(), Duration::ZERO)
                    });
                }
            }
        }
    }
    drop(nginx);
    drop(floor);
    let mut rows = Vec::new();
    let mut floors = Vec::new();
    for (c, case) in cases.iter().enumerate() {
        for (m, label) in ["keep-alive", "new per request"].into_iter().enumerate() {
            let [ours, theirs, alone] = sides[c * 2 + m].clone();
            rows.push((case.what, label, ours, theirs));
            if case.floor.is_some() {
                floors.push((label, alone));
            }
        }
    }
    Ok(Measured {
        rows,
        floor: floors,
        page_bytes: page.body.len(),
        caps,
        quarantine_took,
    })
}

fn cases(portal_port: u16, redirect_port: u16) -> Vec<Case> {
    let at = |port| SocketAddr::from((GATEWAY, port));
    let probes = vec![
        ("/generate_204", 302),
        ("/hotspot-detect.html", 302),
        ("/connecttest.txt", 302),
        ("/api/captive", 200),
    ];
    let page = vec![("/", 200); 4];
    let redirect = vec![
        ("/", 302),
        ("/news/today.html", 302),
        ("/favicon.ico", 302),
        ("/style.css", 302),
    ];
    // The probes as they really arrive: `http://` to the vendors' hosts,
    // which the kernel sends to the redirect listener.
    let os_probes = vec![
        ("/generate_204", 302),
        ("/hotspot-detect.html", 302),
        ("/connecttest.txt", 302),
        ("/success.txt", 302),
    ];
    let visit = |port, host_header, requests: &Vec<(&'static str, u16)>| Visit {
        server: at(port),
        host_header,
        requests: requests.clone(),
    };
    let portal_host = "100.64.0.1:8080";
    vec![
        Case {
            what: REDIRECT,
            portal: visit(redirect_port, "example.org", &redirect),
            nginx: visit(NGINX_REDIRECT, "example.org", &redirect),
            floor: Some(visit(FLOOR, "example.org", &redirect)),
        },
        Case {
            what: PAGE,
            portal: visit(portal_port, portal_host, &page),
            nginx: visit(NGINX_PAGE, portal_host, &page),
            floor: None,
        },
        Case {
            what: "OS probes, as the kernel sends them (redirect port)",
            portal: visit(redirect_port, "connectivitycheck.gstatic.com", &os_probes),
            nginx: visit(NGINX_REDIRECT, "connectivitycheck.gstatic.com", &os_probes),
            floor: None,
        },
        Case {
            what: "probe paths and RFC 8908 API on the portal's own address",
            portal: visit(portal_port, portal_host, &probes),
            nginx: visit(NGINX_PROBES, portal_host, &probes),
            floor: None,
        },
    ]
}

/// The portal's connection caps, as it computes them from the descriptor
/// limit it runs under.
fn portal_caps(pid: i32, lab: &Lab) -> Result<cordon_portal::ConnLimits> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .context("no descriptor limit in /proc/PID/limits")?;
    Ok(cordon_portal::ConnLimits::for_nofile(
        soft,
        lab.config().subscribers.ipv6_quarantine_prefix,
    ))
}

/// nginx serving the same bytes: the page from a file, the same 302 to the
/// portal for the redirect and the probes, the same RFC 8908 document; its
/// connections capped as the portal's are (in all, and per address).
fn start_nginx(
    lab: &Lab,
    page: &[u8],
    portal_url: &str,
    api: &str,
    caps: &cordon_portal::ConnLimits,
) -> Result<crate::nginx::Nginx> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let servers = format!(
        "server {{ listen {NGINX_PAGE}; root ROOT; default_type text/html; add_header Cache-Control no-store; }}\n\
         server {{ listen {NGINX_REDIRECT}; add_header Cache-Control no-store; return 302 {portal_url}; }}\n\
         server {{ listen {NGINX_PROBES}; add_header Cache-Control no-store;\n\
           location = /api/captive {{ default_type application/captive+json; return 200 '{api}'; }}\n\
           location / {{ return 302 {portal_url}; }} }}\n"
    );
    crate::nginx::start(
        lab,
        &[("index.html", page)],
        &servers,
        crate::nginx::Caps {
            per_worker: caps.max_connections.div_ceil(workers),
            per_address: Some(caps.max_connections_per_client),
        },
        &format!("http://{GATEWAY}:{NGINX_PAGE}/"),
    )
}

/// Who goes first in `round`: the portal (0) and nginx (1) alternate; with
/// the floor (2) too, the three take turns.
fn order(round: usize, floor: bool) -> Vec<usize> {
    if floor {
        let mut o = vec![0, 1, 2];
        o.rotate_left(round % 3);
        o
    } else if round.is_multiple_of(2) {
        vec![0, 1]
    } else {
        vec![1, 0]
    }
}

/// The floor in the lab's gateway, killed and reaped on drop.
struct Floor(std::process::Child);

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cordon-bench-floor` in the gateway, answering the redirect to
/// `portal_url` on [`FLOOR`]; returns once it answers.
fn start_floor(lab: &Lab, bin: &Path, portal_url: &str) -> Result<Floor> {
    let child = std::process::Command::new("ip")
        .args(["netns", "exec", lab.gateway().netns()])
        .arg(bin.join("cordon-bench-floor"))
        .arg(FLOOR.to_string())
        .arg(portal_url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting cordon-bench-floor (cargo build --release -p cordon-bench)")?;
    let floor = Floor(child);
    let url = format!("http://{GATEWAY}:{FLOOR}/");
    let s0 = lab.subscriber(0);
    cordon_lab::wait_for(Duration::from_secs(10), "the floor to answer", || {
        s0.curl(&url, &[]).ok().and_then(|r| r.status) == Some(302)
    })?;
    Ok(floor)
}

fn nginx_pids(lab: &Lab) -> Result<Vec<i32>> {
    crate::process::find_all(lab.gateway().netns(), "nginx")
}

/// This process: the client's threads run in it.
fn own_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

fn cpus(pids: &[i32]) -> Result<Vec<Cpu>> {
    pids.iter().map(|&p| Cpu::of(p)).collect()
}

/// Gives each namespace its hosts, routed to it by the gateway.
fn add_addresses(lab: &Lab) -> Result<()> {
    crate::detection::load::routed_to_subscribers(lab, |i| {
        let net = Ipv4Addr::new(100, 66, u8::try_from(4 * i).unwrap_or(255), 0);
        (
            (0..HOSTS_PER).map(|k| host(i, k)).collect(),
            vec![format!("{net}/22")],
        )
    })
}
