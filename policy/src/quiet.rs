//! How long each quarantine due for its quiet check has gone without an SMTP
//! attempt, at a cost that follows the quarantines, not the subscribers.
//!
//! The kernel keeps two recent-attempt sets with the quiet period as their
//! timeout: `smtp_recent` for every sender and `smtp_held` for attempts made
//! while quarantined. A round lists `smtp_held` (as long as the quarantines
//! still sending). A host missing from it has not sent since its quarantine
//! began, so only what it sent before can still count, and that cannot
//! change any more: it is looked up once per quarantine in `smtp_recent` and
//! remembered here. A host quarantined for longer than the quiet period needs
//! no look-up at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use cordon_config::SubscriberAddr;
use cordon_proto::time::{Unix, duration};

/// A quarantine due for its quiet check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The quarantine unit.
    pub addr: SubscriberAddr,
    /// When its quarantine began.
    pub since: Unix,
}

/// One recent-attempt element as the kernel listed it: the host (IPv4) or
/// its prefix's first address (IPv6), and how long ago its last attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The element's key.
    pub key: IpAddr,
    /// Time since its last attempt.
    pub ago: Duration,
}

/// The answer for one quarantine: the time since its last attempt, `None`
/// when there was none within the quiet period.
pub type Quietness = (SubscriberAddr, Option<Duration>);

/// The last attempt each quarantine made before it began, as looked up.
#[derive(Debug, Default)]
pub struct BeforeQuarantine {
    /// Per unit: the quarantine's start (a new quarantine needs a new
    /// look-up) and the last attempt before it, if any within the period.
    last: HashMap<SubscriberAddr, (Unix, Option<Unix>)>,
}

impl BeforeQuarantine {
    /// Answers what `held` (the `smtp_held` listing) and what was looked up
    /// before can answer; returns the rest, to be looked up in `smtp_recent`.
    pub fn judge(
        &self,
        due: &[Due],
        held: impl IntoIterator<Item = Seen>,
        quiet: Duration,
        now: Unix,
    ) -> (Vec<Quietness>, Vec<Due>) {
        let by_key: HashMap<IpAddr, Duration> = held.into_iter().map(|s| (s.key, s.ago)).collect();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for d in due {
            if let Some(last) = latest(d.addr, &by_key) {
                known.push((d.addr, Some(last)));
                continue;
            }
            let quarantined_for = duration(now.saturating_sub(d.since));
            if quarantined_for >= quiet {
                known.push((d.addr, None));
                continue;
            }
            match self.last.get(&d.addr) {
                Some((since, before)) if *since == d.since => {
                    let ago = before.map(|at| duration(now.saturating_sub(at)));
                    known.push((d.addr, ago.filter(|a| *a < quiet)));
                }
                _ => unknown.push(*d),
            }
        }
        (known, unknown)
    }

    /// Remembers what `recent` (look-ups in `smtp_recent`) says about
    /// `looked_up`, and answers for them.
    pub fn learn(
        &mut self,
        looked_up: &[Due],
        recent: impl IntoIterator<Item = Seen>,
        now: Unix,
    ) -> Vec<Quietness> {
        let by_key: HashMap<IpAddr, Duration> =
            recent.into_iter().map(|s| (s.key, s.ago)).collect();
        looked_up
            .iter()
            .map(|d| {
                let last = latest(d.addr, &by_key);
                let at = last.map(|ago| {
                    now.saturating_sub(i64::try_from(ago.as_secs()).unwrap_or(i64::MAX))
                });
                self.last.insert(d.addr, (d.since, at));
                (d.addr, last)
            })
            .collect()
    }

    /// Forgets the quarantines that are not in `current` any more.
    pub fn retain(&mut self, current: impl Fn(&SubscriberAddr, Unix) -> bool) {
        self.last.retain(|addr, (since, _)| current(addr, *since));
    }
}

/// The most recent attempt inside `addr` (one key for a host or a prefix;
/// several for a quarantined range).
fn latest(addr: SubscriberAddr, by_key: &HashMap<IpAddr, Duration>) -> Option<Duration> {
    let net = addr.net();
    if let Some(d) = by_key.get(&net.network()) {
        return Some(*d);
    }
    if net.prefix_len() == net.max_prefix_len() {
        return None;
    }
    by_key
        .iter()
        .filter(|(k, _)| addr.contains(k))
        .map(|(_, d)| *d)
        .min()
}

#[cfg(test)]
mod tests {
    use cordon_testkit::Fixture;

    use super::*;

    const QUIET: Duration = Duration::from_secs(7200);
    const NOW: Unix = 1_000_000;

    fn config() -> cordon_config::Config {
        Fixture::new()
            .prefixes("[100.64.0.0/16, 2001:db8:100::/48]")
            .load()
    }

    fn due(text: &str, since: Unix) -> Due {
        Due {
            addr: config().subscriber_addr(text).unwrap(),
            since,
        }
    }

    fn seen(key: &str, ago: u64) -> Seen {
        Seen {
            key: key.parse().unwrap(),
            ago: Duration::from_secs(ago),
        }
    }

    #[test]
    fn attempts_while_quarantined_answer_without_a_look_up() {
        let before = BeforeQuarantine::default();
        let host = due("100.64.1.2", NOW - 3600);
        let v6 = due("2001:db8:100:7::99", NOW - 3600);
        let held = [seen("100.64.1.2", 60), seen("2001:db8:100:7::", 10)];
        let (known, unknown) = before.judge(&[host, v6], held, QUIET, NOW);
        assert_eq!(
            known,
            [
                (host.addr, Some(Duration::from_secs(60))),
                (v6.addr, Some(Duration::from_secs(10)))
            ]
        );
        assert!(unknown.is_empty());
    }

    #[test]
    fn a_quarantine_older_than_the_quiet_period_is_quiet_without_a_look_up() {
        let before = BeforeQuarantine::default();
        let old = due("100.64.1.2", NOW - 7200);
        let (known, unknown) = before.judge(&[old], [], QUIET, NOW);
        assert_eq!(known, [(old.addr, None)]);
        assert!(unknown.is_empty());
    }

    #[test]
    fn what_was_sent_before_is_looked_up_once_per_quarantine() {
        let mut before = BeforeQuarantine::default();
        let host = due("100.64.1.2", NOW - 1800);
        let (known, unknown) = before.judge(&[host], [], QUIET, NOW);
        assert!(known.is_empty());
        assert_eq!(unknown, [host]);

        // It last tried 1900 s ago, just before its quarantine.
        let answered = before.learn(&unknown, [seen("100.64.1.2", 1900)], NOW);
        assert_eq!(answered, [(host.addr, Some(Duration::from_secs(1900)))]);

        // An hour later it is answered from memory, and the time has moved on.
        let later = NOW + 3600;
        let (known, unknown) = before.judge(&[host], [], QUIET, later);
        assert_eq!(known, [(host.addr, Some(Duration::from_secs(5500)))]);
        assert!(unknown.is_empty());
        // Past the quiet period since that attempt: quiet.
        let (known, _) = before.judge(&[host], [], QUIET, NOW + 5400);
        assert_eq!(known, [(host.addr, None)]);

        // A new quarantine of the same host is looked up again.
        let again = due("100.64.1.2", NOW + 100);
        let (known, unknown) = before.judge(&[again], [], QUIET, NOW + 200);
        assert!(known.is_empty());
        assert_eq!(unknown, [again]);
    }

    #[test]
    fn nothing_sent_before_is_remembered_as_nothing() {
        let mut before = BeforeQuarantine::default();
        let host = due("100.64.1.2", NOW - 1800);
        assert_eq!(before.learn(&[host], [], NOW), [(host.addr, None)]);
        let (known, unknown) = before.judge(&[host], [], QUIET, NOW + 60);
        assert_eq!(known, [(host.addr, None)]);
        assert!(unknown.is_empty());
    }

    #[test]
    fn a_range_takes_its_most_recent_host() {
        let before = BeforeQuarantine::default();
        let range = due("100.64.9.0/24", NOW - 600);
        let held = [
            seen("100.64.9.7", 300),
            seen("100.64.9.8", 20),
            seen("100.64.10.1", 1),
        ];
        let (known, _) = before.judge(&[range], held, QUIET, NOW);
        assert_eq!(known, [(range.addr, Some(Duration::from_secs(20)))]);
    }

    #[test]
    fn ended_quarantines_are_forgotten() {
        let mut before = BeforeQuarantine::default();
        let a = due("100.64.1.2", NOW - 10);
        let b = due("100.64.1.3", NOW - 10);
        before.learn(&[a, b], [], NOW);
        before.retain(|addr, _| *addr == a.addr);
        let (_, unknown) = before.judge(&[a, b], [], QUIET, NOW);
        assert_eq!(unknown, [b]);
    }
}
