//! Connection caps, overall and per client, so that one busy or hostile
//! client cannot take all of the portal's sockets from everybody else.
//!
//! A client is an IPv4 address or an IPv6 /64: one subscriber's devices share
//! a /64, and a host can pick any address inside it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Who a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// One IPv4 address.
    V4(u32),
    /// One IPv6 /64 (the upper 64 bits).
    V6(u64),
}

impl ClientKey {
    /// The key for `ip` (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => ClientKey::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<ClientKey, usize>,
}

/// Counts open connections.
#[derive(Debug)]
pub struct ConnLimiter {
    max_total: usize,
    max_per_client: usize,
    counts: Mutex<Counts>,
}

/// One open connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    key: ClientKey,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// All slots are taken.
    Total,
    /// This client has its share.
    Client,
}

impl ConnLimiter {
    /// At most `max_total` connections, `max_per_client` per client.
    pub fn new(max_total: usize, max_per_client: usize) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            max_total,
            max_per_client,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Takes a slot for `ip`, or says why not.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Full> {
        let key = ClientKey::of(ip);
        // A poisoned lock only means a panic elsewhere while counting; the
        // counts themselves are still usable.
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if c.total >= self.max_total {
            return Err(Full::Total);
        }
        let mine = c.per_client.entry(key).or_insert(0);
        if *mine >= self.max_per_client {
            return Err(Full::Client);
        }
        *mine += 1;
        c.total += 1;
        Ok(ConnPermit {
            limiter: Arc::clone(self),
            key,
        })
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut c = self
            .limiter
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_client.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_client.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn caps_per_client_and_overall() {
        let l = ConnLimiter::new(3, 2);
        let a: IpAddr = "100.64.0.1".parse().unwrap();
        let b: IpAddr = "100.64.0.2".parse().unwrap();
        let c: IpAddr = "100.64.0.3".parse().unwrap();
        let a1 = l.try_acquire(a).unwrap();
        let _a2 = l.try_acquire(a).unwrap();
        assert_eq!(l.try_acquire(a).unwrap_err(), Full::Client);
        let _b1 = l.try_acquire(b).unwrap();
        assert_eq!(l.try_acquire(c).unwrap_err(), Full::Total);
        drop(a1);
        assert_eq!(l.open(), 2);
        let _c1 = l.try_acquire(c).unwrap();
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = ConnLimiter::new(10, 1);
        let _p = l.try_acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(
            l.try_acquire("2001:db8:1:2::99".parse().unwrap())
                .unwrap_err(),
            Full::Client
        );
        assert!(l.try_acquire("2001:db8:1:3::1".parse().unwrap()).is_ok());
        assert_eq!(
            ClientKey::of("::ffff:100.64.0.1".parse().unwrap()),
            ClientKey::of("100.64.0.1".parse().unwrap())
        );
    }
}
