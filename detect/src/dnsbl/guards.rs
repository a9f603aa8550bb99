//! What protects the lists and the checker: the ask cache, the query
//! budget (a token bucket) and the servers' health. Pure, with time passed
//! in, so each rule is tested without waiting; the checker holds them under
//! one lock.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use cordon_proto::expiring::Expiring;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::Ipv4Addr;

    use super::*;

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
