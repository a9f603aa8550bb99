//! The async checker: asks every zone about an address over UDP, within
//! the cache, the budget and the servers' health from [`super::guards`].
//! The only part of the DNSBL code with sockets, a clock and logging.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, MutexGuard};
use tokio::net::UdpSocket;

use super::guards::{AskCache, HealthChange, ServerHealth, ServerState, TokenBucket};
use super::wire::{Answer, build_query, interpret, query_name};
use crate::error::DetectError;
use crate::reports::Report;

/// Why a zone was not asked, or not answered, in one check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotAsked {
    /// Asked within the interval already.
    Cached,
    /// The query budget would have made it wait too long; ask later.
    OverBudget,
    /// Every server is down and none is due for a retry.
    NoServer,
    /// No server answered (timeouts, unreachable), or the list answered
    /// with an error; ask later.
    NoAnswer,
}

/// The result of one check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsblOutcome {
    /// One report per zone that lists the address.
    pub reports: Vec<Report>,
    /// Zones not asked or not answered, with why.
    pub not_asked: Vec<(String, NotAsked)>,
}

/// Timing knobs with defaults; the zones, interval, budget and servers
/// come from `detection.dnsbl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsblTiming {
    /// Per-query timeout (2 s: a resolver on the LAN answers a cached name
    /// in a millisecond, a recursive lookup in tens).
    pub query_timeout: Duration,
    /// Longest wait for the budget before giving up (1 s).
    pub max_budget_wait: Duration,
    /// How long a down server is skipped before one query retries it (30 s).
    pub retry_down_after: Duration,
}

impl Default for DnsblTiming {
    fn default() -> Self {
        DnsblTiming {
            query_timeout: Duration::from_secs(2),
            max_budget_wait: Duration::from_secs(1),
            retry_down_after: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
struct Shared {
    cache: AskCache,
    bucket: TokenBucket,
    health: ServerHealth,
}

/// The async DNSBL checker. Cheap to clone; clones share the cache, the
/// budget and the servers' health.
#[derive(Debug, Clone)]
pub struct DnsblChecker {
    zones: Arc<[(String, u32)]>,
    servers: Arc<[SocketAddr]>,
    timing: DnsblTiming,
    shared: Arc<Mutex<Shared>>,
}

impl DnsblChecker {
    /// A checker for `detection.dnsbl`. `servers` in the config must not be
    /// empty (the caller fills in the walled garden's resolvers when the
    /// operator left it empty).
    pub fn new(config: &cordon_config::Dnsbl, timing: DnsblTiming) -> Result<Self, DetectError> {
        if config.servers.is_empty() {
            return Err(DetectError::NoDnsblServer);
        }
        if let Some(s) = config.servers.iter().find(|s| s.port() == 0) {
            return Err(DetectError::DnsblServer {
                server: *s,
                reason: "port 0".into(),
            });
        }
        let now = now();
        Ok(DnsblChecker {
            zones: config
                .zones
                .iter()
                .map(|z| (z.zone.as_str().to_owned(), z.weight))
                .collect(),
            servers: config.servers.iter().copied().collect(),
            timing,
            shared: Arc::new(Mutex::new(Shared {
                cache: AskCache::new(config.interval),
                bucket: TokenBucket::new(config.queries_per_second, now),
                health: ServerHealth::new(config.servers.len(), timing.retry_down_after),
            })),
        })
    }

    /// Asks every zone about `address` (concurrently), within the cache,
    /// the budget and the servers' health. Never takes much longer than
    /// `max_budget_wait` plus one query timeout per server that fails
    /// during this very check.
    #[tracing::instrument(level = "debug", skip(self), fields(subscriber = %address))]
    pub async fn check(&self, address: IpAddr) -> DnsblOutcome {
        let asks = (0..self.zones.len()).map(|i| self.check_zone(address, i));
        let mut outcome = DnsblOutcome::default();
        for (i, result) in futures::future::join_all(asks)
            .await
            .into_iter()
            .enumerate()
        {
            let zone = self.zones.get(i).map(|z| z.0.clone()).unwrap_or_default();
            match result {
                Ok(Some(report)) => outcome.reports.push(report),
                Ok(None) => {}
                Err(why) => outcome.not_asked.push((zone, why)),
            }
        }
        outcome
    }

    /// Each server's health, in config order (for `cordon status` and tests).
    pub fn server_states(&self) -> Vec<(SocketAddr, ServerState)> {
        let shared = self.lock();
        self.servers
            .iter()
            .copied()
            .zip(shared.health.states().iter().copied())
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock()
    }

    async fn check_zone(
        &self,
        address: IpAddr,
        zone_index: usize,
    ) -> Result<Option<Report>, NotAsked> {
        let Some((zone, weight)) = self.zones.get(zone_index).cloned() else {
            return Ok(None);
        };
        if !self.lock().cache.claim(address, zone_index, now()) {
            return Err(NotAsked::Cached);
        }
        let result = self.ask_zone(address, &zone, weight).await;
        if result.is_err() {
            self.lock().cache.release(address, zone_index);
        }
        result
    }

    async fn ask_zone(
        &self,
        address: IpAddr,
        zone: &str,
        weight: u32,
    ) -> Result<Option<Report>, NotAsked> {
        // The budget.
        loop {
            let wait = match self.lock().bucket.try_take(now()) {
                Ok(()) => break,
                Err(wait) => wait,
            };
            if wait > self.timing.max_budget_wait {
                tracing::debug!(zone, "DNSBL query budget exhausted; not asking now");
                return Err(NotAsked::OverBudget);
            }
            tokio::time::sleep(wait).await;
        }
        let qname = query_name(address, zone);
        let candidates = self.lock().health.candidates(now());
        if candidates.is_empty() {
            return Err(NotAsked::NoServer);
        }
        for i in candidates {
            let Some(&server) = self.servers.get(i) else {
                continue;
            };
            match ask(server, &qname, self.timing.query_timeout).await {
                Ok(answer) => {
                    if let Some(HealthChange::Recovered(after)) =
                        self.lock().health.success(i, now())
                    {
                        tracing::info!(%server, down_for = ?after, "DNSBL server answers again");
                    }
                    return self.read_answer(address, zone, weight, answer);
                }
                Err(e) => {
                    if let Some(HealthChange::WentDown) = self.lock().health.failure(i, now()) {
                        tracing::warn!(
                            %server,
                            error = %e,
                            retry_after = ?self.timing.retry_down_after,
                            "DNSBL server unreachable; skipping it until it answers again (logged once)"
                        );
                    }
                }
            }
        }
        Err(NotAsked::NoAnswer)
    }

    fn read_answer(
        &self,
        address: IpAddr,
        zone: &str,
        weight: u32,
        answer: Answer,
    ) -> Result<Option<Report>, NotAsked> {
        match answer {
            Answer::Listed(codes) => {
                let codes: Vec<String> = codes.iter().map(ToString::to_string).collect();
                tracing::info!(zone, codes = %codes.join(","), "listed on a DNS block list");
                Ok(Some(Report {
                    address,
                    at: SystemTime::now(),
                    source: zone.to_owned(),
                    // A listing says the address sent spam or was seen
                    // infected; the zone's own weight applies.
                    kind: cordon_policy::ReportKind::Spam,
                    evidence: format!("listed in {zone} ({})", codes.join(", ")),
                    // One listing is one piece of evidence per subscriber
                    // unit, however often it is seen again in the window.
                    message_id: Some("dnsbl-listing".to_owned()),
                    weight,
                }))
            }
            Answer::NotListed => Ok(None),
            Answer::ListError(codes) => {
                tracing::warn!(
                    zone,
                    ?codes,
                    "the DNS block list answered with an error code (does it refuse this resolver?)"
                );
                Err(NotAsked::NoAnswer)
            }
            Answer::ServerError(rcode) => {
                tracing::debug!(
                    zone,
                    rcode,
                    "DNS server could not answer for the block list"
                );
                Err(NotAsked::NoAnswer)
            }
        }
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Why one server gave no answer.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot build the query: {0}")]
    Build(String),
}

/// One query to one server over UDP, from a fresh socket (a random source
/// port, with the random id, against spoofed answers).
async fn ask(server: SocketAddr, qname: &str, timeout: Duration) -> Result<Answer, AskError> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    let id = getrandom::u32().map_err(|e| io::Error::other(e.to_string()))? as u16;
    let query = build_query(id, qname).map_err(AskError::Build)?;
    socket.send(&query).await?;
    let mut buf = vec![0u8; 1500];
    let answer = tokio::time::timeout(timeout, async {
        loop {
            let n = socket.recv(&mut buf).await?;
            match interpret(buf.get(..n).unwrap_or_default(), id, qname) {
                Ok(answer) => return Ok::<_, io::Error>(answer),
                Err(e) => tracing::debug!(%server, error = %e, "ignoring datagram"),
            }
        }
    })
    .await
    .map_err(|_| AskError::Timeout(timeout))??;
    Ok(answer)
}
