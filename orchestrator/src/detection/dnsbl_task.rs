//! The DNSBL task: asks the configured block lists about subscribers that
//! made SMTP attempts, and hands listings to the core as reports (the zone
//! is the source, the zone's weight the weight).
//!
//! Who is asked about: every sender the kernel logs as new within the DNSBL
//! interval (the `dnsbl_asked` sets, one NFLOG event per sender per
//! interval, read by the NFLOG task and sent here), and every host a
//! threshold crossing names. Nothing is listed: the cost follows the senders
//! as they appear, never the number of subscribers or senders held. A sender
//! whose event is lost (a full queue here, an NFLOG overflow) is logged again
//! by the kernel once its element expires, one interval later.
//!
//! The checker (`cordon_detect::dnsbl`) keeps the per-address interval, the
//! query budget and the servers' health (an unreachable server is logged
//! once and skipped). Each check runs in a task of its own, at most
//! [`IN_FLIGHT`] at once: a list that answers slowly delays neither the
//! quarantines (another task entirely) nor the other checks.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use cordon_config::{Config, Dnsbl};
use cordon_detect::dnsbl::{DnsblChecker, DnsblOutcome, DnsblTiming, NotAsked};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Detector, policy};
use cordon_policy::Incoming;

/// Crossings waiting for a check.
pub const QUEUE: usize = 1024;
/// Checks running at once.
pub const IN_FLIGHT: usize = 64;

/// The config's `detection.dnsbl` with the walled garden's resolvers as
/// servers when none are named.
pub fn effective(config: &Config) -> Dnsbl {
    let mut d = config.detection.dnsbl.clone();
    if d.servers.is_empty() {
        d.servers = config
            .walled_garden
            .resolvers
            .iter()
            .map(|ip| SocketAddr::new(*ip, 53))
            .collect();
    }
    d
}

fn checker(config: &Config) -> Option<DnsblChecker> {
    if config.detection.dnsbl.zones.is_empty() {
        return None;
    }
    match DnsblChecker::new(&effective(config), DnsblTiming::default()) {
        Ok(c) => {
            let zones: Vec<&str> = config
                .detection
                .dnsbl
                .zones
                .iter()
                .map(|z| z.zone.as_str())
                .collect();
            info!(zones = %zones.join(","), "asking DNS block lists about hosts that send SMTP");
            Some(c)
        }
        Err(e) => {
            warn!(error = %e, "DNS block lists are configured but cannot be asked");
            None
        }
    }
}

/// Runs until cancelled.
pub async fn run(
    detector: Detector,
    mut senders: mpsc::Receiver<IpAddr>,
    cancel: CancellationToken,
) {
    let mut config_rx = detector.config.clone();
    let mut config = config_rx.borrow_and_update().clone();
    let mut checker = checker(&config);
    let mut running: JoinSet<(IpAddr, DnsblOutcome)> = JoinSet::new();
    let mut in_flight: HashSet<IpAddr> = HashSet::new();
    loop {
        let mut wanted: Vec<IpAddr> = Vec::new();
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = config_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let new = config_rx.borrow_and_update().clone();
                if effective(&new) != effective(&config) {
                    checker = self::checker(&new);
                }
                config = new;
            }
            ip = senders.recv() => match ip {
                Some(ip) => wanted.push(ip),
                None => return,
            },
            Some(done) = running.join_next() => {
                if let Ok((ip, outcome)) = done {
                    in_flight.remove(&ip);
                    listed(&detector, &config, ip, outcome).await;
                }
            }
        }
        let Some(checker) = &checker else { continue };
        for ip in wanted {
            if in_flight.contains(&ip) || policy::unit_of(&config, ip).is_err() {
                continue;
            }
            if running.len() >= IN_FLIGHT {
                debug!(subscriber = %ip, "DNSBL checks all busy; the next scan asks again");
                continue;
            }
            in_flight.insert(ip);
            let c = checker.clone();
            running.spawn(async move { (ip, c.check(ip).await) });
        }
    }
}

/// Sends the listings of one check to the core as reports.
async fn listed(detector: &Detector, config: &Arc<Config>, ip: IpAddr, outcome: DnsblOutcome) {
    for (zone, why) in &outcome.not_asked {
        debug!(subscriber = %ip, zone, ?why, "DNSBL zone not asked");
    }
    let cached = outcome
        .not_asked
        .iter()
        .all(|(_, why)| matches!(why, NotAsked::Cached));
    let result = if !outcome.reports.is_empty() {
        Some("listed")
    } else if outcome.not_asked.is_empty() {
        Some("not_listed")
    } else if cached {
        // Asked within the interval already: not a check.
        None
    } else {
        Some("not_asked")
    };
    if let Some(result) = result {
        detector.metrics.dnsbl_check(result);
    }
    let Ok(unit) = policy::unit_of(config, ip) else {
        return;
    };
    let incoming: Vec<Incoming> = outcome
        .reports
        .into_iter()
        .map(|report| Incoming {
            unit,
            holder: None,
            report,
            actor: cordon_policy::Actor::Dnsbl,
        })
        .collect();
    if incoming.is_empty() {
        return;
    }
    info!(subscriber = %unit, listings = incoming.len(), "listed on DNS block lists; reporting");
    if detector.core.report(incoming).await.is_none() {
        debug!("the core is stopping; DNSBL listings dropped");
    }
}
