//! Connection caps, overall and per subscriber, so that one busy or hostile
//! subscriber cannot take all of the portal's sockets from everybody else.
//!
//! A subscriber is the quarantine unit: an IPv4 address, or the IPv6 prefix
//! of the configured `subscribers.ipv6_quarantine_prefix` length (a /56
//! delegation holds 256 /64s; counting per /64 let one subscriber with 80
//! addresses hold every slot). On top of the per-subscriber cap, the last
//! quarter of the slots (the reserve) is open only to subscribers holding
//! few connections, so no single subscriber can fill the pool however the
//! caps are sized. Every refusal is counted, by reason.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Who a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// One IPv4 address.
    V4(u32),
    /// One IPv6 prefix (the address with the host bits cleared).
    V6(u128),
}

impl ClientKey {
    /// The key for `ip` with IPv6 prefixes of `v6_prefix` bits
    /// (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(ip: IpAddr, v6_prefix: u8) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u32::from(v6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                ClientKey::V6(u128::from(v6) & mask)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<ClientKey, usize>,
}

/// Refusals so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    /// All slots were taken.
    pub total: u64,
    /// The subscriber had its cap.
    pub subscriber: u64,
    /// Only the reserve was left and the subscriber already held its share.
    pub reserve: u64,
}

/// Counts open connections.
#[derive(Debug)]
pub struct ConnLimiter {
    max_total: usize,
    max_per_client: usize,
    reserve: usize,
    reserve_per_client: usize,
    v6_prefix: u8,
    counts: Mutex<Counts>,
    refused: [AtomicU64; 3],
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
    /// This subscriber has its cap.
    Client,
    /// Only the reserve is left, and this subscriber holds its share.
    Reserve,
}

impl ConnLimiter {
    /// At most `max_total` connections, `max_per_client` per subscriber
    /// (IPv6 prefixes of `v6_prefix` bits). The last quarter of the slots is
    /// kept for subscribers holding fewer than an eighth of their cap (at
    /// least 2): a page and its few assets still load for them.
    pub fn new(max_total: usize, max_per_client: usize, v6_prefix: u8) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            max_total,
            max_per_client,
            reserve: max_total / 4,
            reserve_per_client: (max_per_client / 8).max(2),
            v6_prefix,
            counts: Mutex::new(Counts::default()),
            refused: Default::default(),
        })
    }

    /// Takes a slot for `ip`, or says why not (and counts the refusal).
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Full> {
        let key = ClientKey::of(ip, self.v6_prefix);
        let verdict = {
            let mut c = self.counts.lock();
            let free = self.max_total.saturating_sub(c.total);
            let mine = c.per_client.get(&key).copied().unwrap_or(0);
            if free == 0 {
                Err(Full::Total)
            } else if mine >= self.max_per_client {
                Err(Full::Client)
            } else if free <= self.reserve && mine >= self.reserve_per_client {
                Err(Full::Reserve)
            } else {
                *c.per_client.entry(key).or_insert(0) += 1;
                c.total += 1;
                Ok(())
            }
        };
        match verdict {
            Ok(()) => Ok(ConnPermit {
                limiter: Arc::clone(self),
                key,
            }),
            Err(full) => {
                let i = match full {
                    Full::Total => 0,
                    Full::Client => 1,
                    Full::Reserve => 2,
                };
                self.refused[i].fetch_add(1, Ordering::Relaxed);
                Err(full)
            }
        }
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.counts.lock().total
    }

    /// Refusals so far.
    pub fn refusals(&self) -> Refusals {
        let n = |i: usize| self.refused[i].load(Ordering::Relaxed);
        Refusals {
            total: n(0),
            subscriber: n(1),
            reserve: n(2),
        }
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut c = self.limiter.counts.lock();
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
        let l = ConnLimiter::new(3, 2, 64);
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
        assert_eq!(
            l.refusals(),
            Refusals {
                total: 1,
                subscriber: 1,
                reserve: 0
            }
        );
    }

    #[test]
    fn ipv6_counts_per_configured_prefix() {
        let l = ConnLimiter::new(10, 1, 56);
        let _p = l.try_acquire("2001:db8:1:200::1".parse().unwrap()).unwrap();
        // Another /64 of the same /56 is the same subscriber.
        assert_eq!(
            l.try_acquire("2001:db8:1:2ff::99".parse().unwrap())
                .unwrap_err(),
            Full::Client
        );
        assert!(l.try_acquire("2001:db8:1:300::1".parse().unwrap()).is_ok());
        assert_eq!(
            ClientKey::of("::ffff:100.64.0.1".parse().unwrap(), 56),
            ClientKey::of("100.64.0.1".parse().unwrap(), 56)
        );
        assert_eq!(
            ClientKey::of("2001:db8::1".parse().unwrap(), 128),
            ClientKey::V6(u128::from(
                "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
            ))
        );
    }

    /// The field case: one subscriber with 80 addresses, each in its own
    /// /64 of its /56, holds at most its cap, and the others keep getting
    /// slots.
    #[test]
    fn a_subscriber_with_80_addresses_cannot_take_the_pool() {
        let l = ConnLimiter::new(4096, 64, 56);
        let mut held = Vec::new();
        for i in 0..80u16 {
            for _ in 0..64 {
                let ip: IpAddr = format!("2001:db8:1:{:x}::1", 0x100 + i).parse().unwrap();
                if let Ok(p) = l.try_acquire(ip) {
                    held.push(p);
                }
            }
        }
        assert_eq!(held.len(), 64);
        for s in 0..1000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x6440_0000 + s));
            held.push(l.try_acquire(ip).unwrap());
        }
    }

    #[test]
    fn no_subscriber_fills_the_reserve() {
        // 40 slots, 10 per subscriber: the last 10 are the reserve, open
        // only to subscribers holding fewer than 2.
        let l = ConnLimiter::new(40, 10, 64);
        let mut held = Vec::new();
        for s in 0..4u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x6440_0000 + s));
            while let Ok(p) = l.try_acquire(ip) {
                held.push(p);
            }
        }
        // 30 taken by the four hogs (the fourth got 2 before the reserve
        // stopped it... at most 10 each until the reserve begins at 30).
        assert!(l.open() <= 32, "{}", l.open());
        assert!(l.refusals().reserve >= 1);
        // A light subscriber still gets in.
        let light: IpAddr = "100.64.9.9".parse().unwrap();
        held.push(l.try_acquire(light).unwrap());
        held.push(l.try_acquire(light).unwrap());
        assert_eq!(l.try_acquire(light).unwrap_err(), Full::Reserve);
    }
}
