//! DNS block lists: asking the configured zones about subscriber addresses
//! that made SMTP attempts.
//!
//! The agencies' plan is to find zombies in public spam databases, so a
//! listing is a [`Report`] with the zone as its source and the zone's
//! weight. The checker protects the lists and itself:
//!
//! - **Cache**: one address is asked about each zone at most once per
//!   `interval` (a DNSBL's own TTLs are minutes to hours; asking again
//!   sooner adds load and no news). Only answered questions are cached, so
//!   an unreachable server does not hide an address for a whole interval.
//! - **Budget**: a token bucket of `queries_per_second` (burst of one
//!   second's worth) across all addresses and zones. Public lists block
//!   heavy askers; a flood of crossings must not get the ISP's resolvers
//!   blocked. A query that would wait longer than `max_budget_wait` is not
//!   made ([`NotAsked::OverBudget`]); the caller asks again later.
//! - **Servers**: each query has its own timeout. A server that fails
//!   (timeout, ICMP unreachable) is marked down and logged *once*; while
//!   down it is skipped, so it delays nothing else, and it is tried again
//!   at most once per `retry_down_after` (one query, not all of them). Its
//!   recovery is logged once too.
//!
//! Answers are read as RFC 5782 says: an A record in 127.0.0.0/8 means
//! listed, NXDOMAIN or no such record means not listed. Answers in
//! 127.255.255.0/24 are the lists' error codes (for example "queries
//! through public resolvers are refused"), not listings.
//!
//! Pure parts ([`query_name`], [`interpret`], [`TokenBucket`],
//! [`ServerHealth`], [`AskCache`]) take time as an argument; [`DnsblChecker`]
//! is the async shell around them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cordon_proto::expiring::Expiring;
use parking_lot::{Mutex, MutexGuard};
use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};
use tokio::net::UdpSocket;

use crate::error::DetectError;
use crate::reports::Report;

/// The name to ask: the address reversed (octets for IPv4, nibbles for
/// IPv6, RFC 5782) under the zone.
pub fn query_name(address: IpAddr, zone: &str) -> String {
    let zone = zone.trim_end_matches('.');
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len() + 1);
            for byte in v6.octets().iter().rev() {
                for nibble in [byte & 0xf, byte >> 4] {
                    name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    name.push('.');
                }
            }
            name.push_str(zone);
            name
        }
    }
}

/// What a block list said about one address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Listed, with the return codes (127.0.0.x).
    Listed(Vec<Ipv4Addr>),
    /// Not listed (NXDOMAIN, or no A record in 127.0.0.0/8).
    NotListed,
    /// The list answered with an error code (127.255.255.x), e.g. it
    /// refuses queries through this resolver. Not a listing.
    ListError(Vec<Ipv4Addr>),
    /// The server could not answer (SERVFAIL, REFUSED, ...). It is
    /// reachable; the zone is not answered this time.
    ServerError(String),
}

/// Why a datagram is not the answer to our question.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotOurs {
    /// Not a DNS message.
    #[error("not a DNS message: {0}")]
    Malformed(String),
    /// Another id, no response flag, or another question: a late answer to
    /// an earlier query, or spoofing. Ignored.
    #[error("answer to another query")]
    Mismatch,
}

/// Reads a response to the query `id` for `qname`. Pure.
pub fn interpret(response: &[u8], id: u16, qname: &str) -> Result<Answer, NotOurs> {
    let packet = Packet::parse(response).map_err(|e| NotOurs::Malformed(e.to_string()))?;
    let same_question = packet.questions.len() == 1
        && packet
            .questions
            .first()
            .is_some_and(|q| q.qname.to_string().eq_ignore_ascii_case(qname));
    if packet.id() != id || !packet.has_flags(PacketFlag::RESPONSE) || !same_question {
        return Err(NotOurs::Mismatch);
    }
    match packet.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Ok(Answer::NotListed),
        other => return Ok(Answer::ServerError(format!("{other:?}"))),
    }
    let mut listed = Vec::new();
    let mut errors = Vec::new();
    for rr in &packet.answers {
        if let RData::A(a) = &rr.rdata {
            let ip = Ipv4Addr::from(a.address);
            let [first, second, third, _] = ip.octets();
            if first != 127 {
                continue;
            }
            if second == 255 && third == 255 {
                errors.push(ip);
            } else {
                listed.push(ip);
            }
        }
    }
    Ok(if !listed.is_empty() {
        Answer::Listed(listed)
    } else if !errors.is_empty() {
        Answer::ListError(errors)
    } else {
        Answer::NotListed
    })
}

/// Builds the A query for `qname` with recursion desired (the configured
/// servers are usually the ISP's resolvers).
pub fn build_query(id: u16, qname: &str) -> Result<Vec<u8>, String> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let name = Name::new(qname).map_err(|e| e.to_string())?;
    packet.questions.push(Question::new(
        name,
        QTYPE::TYPE(TYPE::A),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec().map_err(|e| e.to_string())
}

/// A token bucket: `rate` tokens a second, holding at most `rate` (one
/// second's burst). Pure.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_second: u32, now: Instant) -> Self {
        let rate = f64::from(rate_per_second);
        TokenBucket {
            rate,
            capacity: rate.max(1.0),
            tokens: rate.max(1.0),
            last: now,
        }
    }

    /// Takes a token, or says how long until one is there. A rate of zero
    /// never gives one (`Duration::MAX`).
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Err(Duration::MAX);
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// A server's health as the checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Answering (or not yet tried).
    Up,
    /// Failed; skipped until `next_try`.
    Down {
        /// When it failed first.
        since: Instant,
        /// When one query may try it again.
        next_try: Instant,
    },
}

/// A change worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    /// The server stopped answering.
    WentDown,
    /// It answers again after being down this long.
    Recovered(Duration),
}

/// The health of the configured servers. Pure.
#[derive(Debug, Clone)]
pub struct ServerHealth {
    states: Vec<ServerState>,
    retry_after: Duration,
}

impl ServerHealth {
    /// `count` servers, all up; a down server is retried after `retry_after`.
    pub fn new(count: usize, retry_after: Duration) -> Self {
        ServerHealth {
            states: vec![ServerState::Up; count],
            retry_after,
        }
    }

    /// The servers to try for one query, in order: those up (in config
    /// order), then any down server whose retry time has come. Handing out
    /// a retry moves that server's next retry on, so concurrent queries do
    /// not all wait on a dead server.
    pub fn candidates(&mut self, now: Instant) -> Vec<usize> {
        let mut up = Vec::new();
        let mut retry = Vec::new();
        for (i, state) in self.states.iter_mut().enumerate() {
            match state {
                ServerState::Up => up.push(i),
                ServerState::Down { next_try, .. } if *next_try <= now => {
                    *next_try = now + self.retry_after;
                    retry.push(i);
                }
                ServerState::Down { .. } => {}
            }
        }
        up.extend(retry);
        up
    }

    /// Server `i` failed a query.
    pub fn failure(&mut self, i: usize, now: Instant) -> Option<HealthChange> {
        let retry_after = self.retry_after;
        let state = self.states.get_mut(i)?;
        match state {
            ServerState::Up => {
                *state = ServerState::Down {
                    since: now,
                    next_try: now + retry_after,
                };
                Some(HealthChange::WentDown)
            }
            ServerState::Down { next_try, .. } => {
                *next_try = (*next_try).max(now + retry_after);
                None
            }
        }
    }

    /// Server `i` answered.
    pub fn success(&mut self, i: usize, now: Instant) -> Option<HealthChange> {
        let state = self.states.get_mut(i)?;
        match *state {
            ServerState::Up => None,
            ServerState::Down { since, .. } => {
                *state = ServerState::Up;
                Some(HealthChange::Recovered(
                    now.saturating_duration_since(since),
                ))
            }
        }
    }

    /// Each server's state, in config order.
    pub fn states(&self) -> &[ServerState] {
        &self.states
    }
}

/// Which (address, zone) pairs were asked about recently. Pure.
///
/// No cap on the count: an address must not be asked about again within
/// `interval` however many are asked about, and what is held is bounded by
/// the questions of one interval (expired ones are dropped as new ones
/// come).
#[derive(Debug, Clone)]
pub struct AskCache {
    asked: Expiring<(IpAddr, usize), ()>,
}

impl AskCache {
    /// Remembers questions for `interval`.
    pub fn new(interval: Duration) -> Self {
        AskCache {
            asked: Expiring::new(interval, usize::MAX),
        }
    }

    /// True when `address` may be asked about `zone` now; then it is
    /// recorded as asked (so concurrent checks do not ask twice).
    pub fn claim(&mut self, address: IpAddr, zone: usize, now: Instant) -> bool {
        if self.asked.get(&(address, zone), now).is_some() {
            return false;
        }
        self.asked.insert((address, zone), (), now);
        true
    }

    /// The question got no answer: it may be asked again at once.
    pub fn release(&mut self, address: IpAddr, zone: usize) {
        self.asked.remove(&(address, zone));
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.asked.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.asked.is_empty()
    }
}

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::A;

    #[test]
    fn query_names_reverse_octets_and_nibbles() {
        assert_eq!(
            query_name("100.64.1.7".parse().unwrap(), "xbl.example.org."),
            "7.1.64.100.xbl.example.org"
        );
        assert_eq!(
            query_name("2001:db8::1".parse().unwrap(), "zen.example"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.example"
        );
    }

    fn reply(id: u16, qname: &str, rcode: RCODE, answers: &[Ipv4Addr]) -> Vec<u8> {
        let mut p = Packet::new_reply(id);
        *p.rcode_mut() = rcode;
        p.questions.push(Question::new(
            Name::new(qname).unwrap(),
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        for a in answers {
            p.answers.push(ResourceRecord::new(
                Name::new(qname).unwrap(),
                CLASS::IN,
                60,
                RData::A(A::from(*a)),
            ));
        }
        p.build_bytes_vec().unwrap()
    }

    #[test]
    fn interprets_rfc5782_answers() {
        let q = "7.1.64.100.xbl.example";
        let l = Ipv4Addr::new(127, 0, 0, 4);
        assert_eq!(
            interpret(&reply(9, q, RCODE::NoError, &[l]), 9, q),
            Ok(Answer::Listed(vec![l]))
        );
        assert_eq!(
            interpret(&reply(9, q, RCODE::NameError, &[]), 9, q),
            Ok(Answer::NotListed)
        );
        assert_eq!(
            interpret(
                &reply(9, q, RCODE::NoError, &[Ipv4Addr::new(192, 0, 2, 1)]),
                9,
                q
            ),
            Ok(Answer::NotListed)
        );
        let e = Ipv4Addr::new(127, 255, 255, 254);
        assert_eq!(
            interpret(&reply(9, q, RCODE::NoError, &[e]), 9, q),
            Ok(Answer::ListError(vec![e]))
        );
        assert!(matches!(
            interpret(&reply(9, q, RCODE::ServerFailure, &[]), 9, q),
            Ok(Answer::ServerError(_))
        ));
        assert_eq!(
            interpret(&reply(8, q, RCODE::NoError, &[l]), 9, q),
            Err(NotOurs::Mismatch)
        );
        assert_eq!(
            interpret(
                &reply(9, "8.1.64.100.xbl.example", RCODE::NoError, &[l]),
                9,
                q
            ),
            Err(NotOurs::Mismatch)
        );
        assert!(matches!(
            interpret(b"\x00", 9, q),
            Err(NotOurs::Malformed(_))
        ));
        // Our own query is not an answer.
        assert_eq!(
            interpret(&build_query(9, q).unwrap(), 9, q),
            Err(NotOurs::Mismatch)
        );
    }

    #[test]
    fn bucket_gives_rate_per_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, t0);
        assert!(b.try_take(t0).is_ok());
        assert!(b.try_take(t0).is_ok());
        let wait = b.try_take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(b.try_take(t0 + Duration::from_millis(499)).is_err());
        assert!(b.try_take(t0 + Duration::from_millis(1000)).is_ok());
        // An idle hour does not bank more than one second's burst.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.try_take(later).is_ok());
        assert!(b.try_take(later).is_ok());
        assert!(b.try_take(later).is_err());
        assert_eq!(TokenBucket::new(0, t0).try_take(t0), Err(Duration::MAX));
    }

    #[test]
    fn health_logs_once_and_retries_once_per_period() {
        let t0 = Instant::now();
        let retry = Duration::from_secs(30);
        let mut h = ServerHealth::new(2, retry);
        assert_eq!(h.candidates(t0), vec![0, 1]);
        assert_eq!(h.failure(0, t0), Some(HealthChange::WentDown));
        assert_eq!(h.failure(0, t0), None); // already down: no second log
        assert_eq!(h.candidates(t0), vec![1]);
        assert_eq!(h.candidates(t0 + retry), vec![1, 0]); // one retry...
        assert_eq!(h.candidates(t0 + retry), vec![1]); // ...not two
        assert_eq!(h.failure(0, t0 + retry), None);
        let t2 = t0 + 2 * retry;
        assert_eq!(h.candidates(t2), vec![1, 0]);
        assert_eq!(h.success(0, t2), Some(HealthChange::Recovered(2 * retry)));
        assert_eq!(h.success(0, t2), None);
        assert_eq!(h.candidates(t2), vec![0, 1]);
    }

    #[test]
    fn cache_asks_once_per_interval_and_forgets_failures() {
        let t0 = Instant::now();
        let mut c = AskCache::new(Duration::from_secs(60));
        let a: IpAddr = "100.64.1.7".parse().unwrap();
        assert!(c.claim(a, 0, t0));
        assert!(!c.claim(a, 0, t0 + Duration::from_secs(59)));
        assert!(c.claim(a, 1, t0)); // another zone
        assert!(c.claim(a, 0, t0 + Duration::from_secs(60)));
        c.release(a, 0);
        assert!(c.claim(a, 0, t0 + Duration::from_secs(61)));
        // Pruning keeps the map bounded by what is still fresh.
        for i in 0..5000u32 {
            c.claim(
                IpAddr::from(Ipv4Addr::from(i)),
                0,
                t0 + Duration::from_secs(1000 + u64::from(i)),
            );
        }
        assert!(c.len() < 5000);
    }
}
