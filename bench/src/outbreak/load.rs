//! The outbreak's traffic: in each subscriber namespace one thread that
//! sends its 4 normal senders' attempts on their pace and starts each of
//! its 40 zombies at its moment, the 10 000 spread evenly over
//! [`SPREAD`]; and the addresses and routes they send from.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use cordon_lab::Lab;
use socket2::Socket;

use super::{
    NAMESPACES, NORMAL_EVERY, NORMAL_FROM, NORMAL_PER, SPREAD, ZOMBIE_FROM, ZOMBIES_PER, normal,
    zombie,
};
use crate::detection::load::{mail_server, routed_to_subscribers, syn};

/// Sockets a namespace's thread keeps open (answered by a reset already;
/// closed oldest first): 250 threads' worth stay well inside the
/// process's descriptor limit, which the `nft` and `ip` processes the
/// bench starts meanwhile need too.
const HELD: usize = 16;

/// Runs the outbreak: normal senders from the start, zombies spread over
/// [`SPREAD`], until `until` returns (it waits for the enforcements).
/// Returns each zombie's crossing and what was sent.
pub(super) fn outbreak(lab: &Lab, passes: u32, until: impl FnOnce()) -> Result<Sent> {
    let subs = lab.subscribers();
    let stop = AtomicBool::new(false);
    let counts = Counts::default();
    let start = Instant::now() + Duration::from_millis(200);
    std::thread::scope(|s| {
        let (stop, sent) = (&stop, &counts);
        let threads: Vec<_> = subs
            .iter()
            .enumerate()
            .map(|(i, h)| s.spawn(move || h.run(|| namespace(i, passes, start, stop, sent))))
            .collect();
        until();
        stop.store(true, Ordering::Relaxed);
        let mut crossed = BTreeMap::new();
        for t in threads {
            match t.join() {
                Ok(Ok(c)) => crossed.extend(c),
                Ok(Err(e)) => return Err(anyhow::Error::from(e)),
                Err(_) => anyhow::bail!("a sender thread panicked"),
            }
        }
        Ok(Sent {
            crossed,
            normal: counts.normal.load(Ordering::Relaxed),
            failed: counts.failed.load(Ordering::Relaxed),
        })
    })
}

/// What the senders did.
pub(super) struct Sent {
    /// Each zombie's crossing, for those whose every attempt was sent.
    pub(super) crossed: BTreeMap<Ipv4Addr, Instant>,
    /// Normal senders' attempts.
    pub(super) normal: u64,
    /// Attempts that could not be sent (a socket refused).
    pub(super) failed: u64,
}

#[derive(Default)]
struct Counts {
    normal: AtomicU64,
    failed: AtomicU64,
}

/// Namespace `i`'s senders until `stop`; its zombies' crossings.
fn namespace(
    i: usize,
    passes: u32,
    start: Instant,
    stop: &AtomicBool,
    sent: &Counts,
) -> Vec<(Ipv4Addr, Instant)> {
    let total = u32::try_from(NAMESPACES * ZOMBIES_PER).unwrap_or(u32::MAX);
    let slot = |n: usize| SPREAD * u32::try_from(n).unwrap_or(0) / total;
    // Zombie k of namespace i starts at slot k·250 + i: all 10 000 evenly.
    let mut zombies: VecDeque<(usize, Instant)> = (0..ZOMBIES_PER)
        .map(|k| (k, start + slot(k * NAMESPACES + i)))
        .collect();
    let slots = u32::try_from(NAMESPACES * NORMAL_PER).unwrap_or(u32::MAX);
    let mut normals: Vec<Instant> = (0..NORMAL_PER)
        .map(|k| start + NORMAL_EVERY * u32::try_from(i * NORMAL_PER + k).unwrap_or(0) / slots)
        .collect();
    let mut held: VecDeque<Socket> = VecDeque::new();
    let mut keep = |s: std::io::Result<Socket>| match s {
        Ok(s) => {
            held.push_back(s);
            if held.len() > HELD {
                held.pop_front();
            }
            true
        }
        Err(_) => {
            sent.failed.fetch_add(1, Ordering::Relaxed);
            false
        }
    };
    let mut crossed = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if let Some(&(k, at)) = zombies.front()
            && at <= now
        {
            zombies.pop_front();
            // One server, so only the attempts signal crosses, on the
            // attempt after those the meter lets pass.
            let (src, dst) = (zombie(i, k), mail_server(i * ZOMBIES_PER + k));
            let mut all = true;
            for _ in 0..passes {
                all &= keep(syn(src, dst));
            }
            let t = Instant::now();
            if keep(syn(src, dst)) && all {
                crossed.push((src, t));
            }
            continue;
        }
        if let Some((k, at)) = normals.iter().copied().enumerate().min_by_key(|(_, d)| *d)
            && at <= now
        {
            if keep(syn(normal(i, k), mail_server(i * NORMAL_PER + k + 7))) {
                sent.normal.fetch_add(1, Ordering::Relaxed);
            }
            normals[k] += NORMAL_EVERY;
            continue;
        }
        let next = zombies
            .front()
            .map(|z| z.1)
            .into_iter()
            .chain(normals.iter().copied())
            .min()
            .unwrap_or(now + Duration::from_millis(50));
        let wait = next.saturating_duration_since(Instant::now());
        std::thread::sleep(wait.min(Duration::from_millis(50)));
    }
    crossed
}

/// Gives every namespace its zombie and normal addresses, routed to it by
/// the gateway.
pub(super) fn add_addresses(lab: &Lab) -> Result<()> {
    routed_to_subscribers(lab, |i| {
        let zombies = (0..ZOMBIES_PER).map(|k| zombie(i, k));
        let normal = (0..NORMAL_PER).map(|k| normal(i, k));
        let prefixes = vec![
            format!("{}/26", super::host(i, ZOMBIE_FROM)),
            format!("{}/30", super::host(i, NORMAL_FROM)),
        ];
        (zombies.chain(normal).collect(), prefixes)
    })
}
