//! The config turned into Cordon's table, in `nft -f` syntax.
//!
//! The ruleset is a template (`templates/ruleset.nft`) so that a person can
//! review it as the kernel will see it; this module only computes the values
//! that go in. Every value comes from a typed config field, so nothing an
//! operator writes can inject nft syntax.

use std::net::IpAddr;
use std::time::Duration;

use cordon_config::{Config, Port25Mode, Prefix, Signal};
use ipnet::{IpNet, Ipv6Net};
use minijinja::{Environment, context};
use serde::Serialize;

use crate::elements::{Carried, SmtpSeen, nft_text};
use crate::error::RulesError;
use crate::names::{self, set_name};

const TEMPLATE: &str = include_str!("../templates/ruleset.nft");

/// How many hosts the per-host dynamic sets can track. A BNG serves up to a
/// few hundred thousand subscribers; elements cost about 100 bytes each.
const HOSTS_MAX: u32 = 262_144;
/// (host, destination) pairs tracked within the detection window.
const PAIRS_MAX: u32 = 1_048_576;
/// Relay-limit state per host is forgotten after this long without traffic.
const RELAY_STATE: Duration = Duration::from_secs(600);

/// Renders the complete table for `config`, with `carried` elements in its
/// sets, ready for `nft -f`.
pub fn render(config: &Config, carried: &Carried) -> Result<String, RulesError> {
    render_with(config, &sets(config, carried))
}

/// Renders the table declaring only `sets` (with their members): the
/// installer leaves out the sets it keeps from the live table.
pub(crate) fn render_with(config: &Config, sets: &[SetSpec]) -> Result<String, RulesError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.add_template("ruleset.nft", TEMPLATE)?;
    let tmpl = env.get_template("ruleset.nft")?;
    let det = &config.detection;
    let text = tmpl.render(context! {
        table => config.table,
        sets => sets.iter().map(SetSpec::view).collect::<Vec<_>>(),
        downlink => config.interfaces.downlink.iter().map(|i| i.as_str()).collect::<Vec<_>>(),
        mask6 => v6_mask(config.subscribers.ipv6_quarantine_prefix),
        redirect_port => config.portal.redirect_port,
        notice_port => config.portal.notice_port,
        captive_port => config.portal.captive_port,
        captive => captive_matches(config),
        port25_mode => match config.port25.mode {
            Port25Mode::Block => "block",
            Port25Mode::Monitor => "monitor",
            Port25Mode::Off => "off",
        },
        submission_ports => join(&config.port25.submission_ports),
        relay_ports => join(&config.relays.ports),
        relay => context! {
            rate => config.relays.new_connections_per_minute,
            burst => config.relays.burst,
        },
        attempts => Limit::for_signal(&det.smtp_attempts),
        destinations => Limit::for_signal(&det.smtp_destinations),
        nflog_group => det.nflog_group,
        dnsbl => !det.dnsbl.zones.is_empty(),
    })?;
    Ok(text)
}

fn join(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a quarantined host's own connections to the portal are taken from:
/// each port of `portal.listen`, on its address or, for an unspecified one,
/// on any of the gateway's own; none when `portal.captive_port` is 0 (a
/// test's portal, which no kernel sends anything to).
#[derive(Debug, Serialize, PartialEq, Eq)]
struct CaptiveMatch {
    v6: bool,
    daddr: String,
    port: u16,
}

fn captive_matches(config: &Config) -> Vec<CaptiveMatch> {
    if config.portal.captive_port == 0 {
        return Vec::new();
    }
    let mut out: Vec<CaptiveMatch> = Vec::new();
    for a in config.portal.listen.iter().filter(|a| a.port() != 0) {
        let daddr = match a.ip() {
            ip if ip.is_unspecified() => "fib daddr type local".to_owned(),
            IpAddr::V4(v4) => format!("ip daddr {v4}"),
            IpAddr::V6(v6) => format!("ip6 daddr {v6}"),
        };
        let m = CaptiveMatch {
            v6: a.is_ipv6(),
            daddr,
            port: a.port(),
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// The netmask that reduces an IPv6 address to its subscriber prefix.
fn v6_mask(len: u8) -> String {
    Ipv6Net::new(std::net::Ipv6Addr::UNSPECIFIED, len.min(128))
        .map(|n| n.netmask().to_string())
        .unwrap_or_else(|_| "ffff:ffff:ffff:ffff::".into())
}

/// A threshold over a window as an nftables token bucket.
///
/// The kernel's `limit rate over R/unit burst B` lets B packets through back
/// to back before it matches (measured: with burst 18 the 19th attempt
/// matched), then R per unit. With B = threshold and R = threshold per
/// window, a host matches on its attempt after `threshold` in a burst, or
/// when it keeps up more than `threshold` per window.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Limit {
    rate: String,
    burst: u32,
}

impl Limit {
    fn for_signal(s: &Signal) -> Limit {
        let window = s.window.as_secs().max(1);
        let threshold = u64::from(s.threshold.max(1));
        let (per, unit) = [
            (1, "second"),
            (60, "minute"),
            (3600, "hour"),
            (86_400, "day"),
        ]
        .into_iter()
        .map(|(secs, unit)| (threshold * secs / window, unit))
        .find(|(per, _)| *per >= 1)
        .unwrap_or((1, "day"));
        let per = per.min(threshold);
        let burst = u32::try_from(threshold).unwrap_or(u32::MAX);
        Limit {
            rate: format!("{per}/{unit}"),
            burst,
        }
    }
}

/// One set of the table: its definition and what goes in it.
#[derive(Debug, Clone)]
pub(crate) struct SetSpec {
    pub(crate) name: String,
    pub(crate) definition: SetDefinition,
    pub(crate) comment: &'static str,
    pub(crate) members: Members,
}

/// What makes two sets interchangeable: a set whose definition is unchanged
/// is kept, elements and meters and all, when the table is updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetDefinition {
    /// Key types in nft's words, one per concatenated field.
    pub(crate) key: Vec<&'static str>,
    /// Flags in nft's words, sorted.
    pub(crate) flags: Vec<&'static str>,
    pub(crate) size: Option<u32>,
    /// Element timeout, seconds.
    pub(crate) timeout: Option<u64>,
}

/// The elements a set is declared with.
#[derive(Debug, Clone)]
pub(crate) enum Members {
    /// Addresses and prefixes that Cordon decides (quarantines, garden, ...).
    Prefixes(Vec<IpNet>),
    /// Kernel-filled meters; only `smtp_recent` is ever carried, as nft text.
    Meters(Vec<String>),
}

/// A set as the template sees it.
#[derive(Debug, Serialize)]
struct SetView<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: String,
    size: Option<u32>,
    flags: Option<String>,
    timeout: Option<u64>,
    comment: &'a str,
    elements: Vec<String>,
}

impl SetSpec {
    fn view(&self) -> SetView<'_> {
        let d = &self.definition;
        SetView {
            name: &self.name,
            ty: d.key.join(" . "),
            size: d.size,
            flags: (!d.flags.is_empty()).then(|| d.flags.join(",")),
            timeout: d.timeout,
            comment: self.comment,
            elements: match &self.members {
                Members::Prefixes(nets) => nets.iter().map(nft_text).collect(),
                Members::Meters(text) => text.clone(),
            },
        }
    }
}

/// Prefixes sorted, deduplicated and split by family.
fn split(prefixes: impl IntoIterator<Item = IpNet>) -> (Vec<IpNet>, Vec<IpNet>) {
    let mut all: Vec<IpNet> = prefixes.into_iter().map(|p| p.trunc()).collect();
    all.sort();
    all.dedup();
    all.into_iter().partition(|p| matches!(p, IpNet::V4(_)))
}

fn nets(prefixes: &[Prefix]) -> impl Iterator<Item = IpNet> + '_ {
    prefixes.iter().map(Prefix::net)
}

/// Every set of the table, `_v4` before `_v6`, with what goes in each.
pub(crate) fn sets(config: &Config, carried: &Carried) -> Vec<SetSpec> {
    let mut out = Vec::new();
    let mut pair = |base: &str,
                    comment: &'static str,
                    flags: &[&'static str],
                    elements: (Vec<IpNet>, Vec<IpNet>)| {
        for (v4, members) in [(true, elements.0), (false, elements.1)] {
            out.push(SetSpec {
                name: set_name(base, v4),
                definition: SetDefinition {
                    key: vec![if v4 { "ipv4_addr" } else { "ipv6_addr" }],
                    flags: flags.to_vec(),
                    size: None,
                    timeout: None,
                },
                comment,
                members: Members::Prefixes(members),
            });
        }
    };
    let unit = config.subscribers.ipv6_quarantine_prefix;
    let placed_in = |base| split(names::placed_in(base, &carried.quarantined, unit));
    let noticed_in = |base| split(names::placed_in(base, &carried.noticed, unit));
    pair(
        names::QUARANTINED,
        "quarantined hosts, and IPv6 subscriber prefixes by first address (cordond, from its store)",
        &[],
        placed_in(names::QUARANTINED),
    );
    pair(
        names::QUARANTINED_RANGES,
        "quarantined ranges wider than one subscriber (cordond, from its store)",
        &["interval"],
        placed_in(names::QUARANTINED_RANGES),
    );
    pair(
        names::NOTICED,
        "noticed hosts, and IPv6 subscriber prefixes by first address: next http:// to the notice page (cordond, from its store)",
        &[],
        noticed_in(names::NOTICED),
    );
    pair(
        names::NOTICED_RANGES,
        "noticed ranges wider than one subscriber (cordond, from its store)",
        &["interval"],
        noticed_in(names::NOTICED_RANGES),
    );
    pair(
        names::UNRECORDED,
        "quarantines enforced by detection whose records are still being written (cordond; empty at rest)",
        &[],
        (Vec::new(), Vec::new()),
    );
    let garden_prefixes = config
        .walled_garden
        .destinations
        .iter()
        .filter_map(|d| match d {
            cordon_config::Destination::Prefix(p) => Some(p.net()),
            cordon_config::Destination::Name(_) => None,
        });
    pair(
        names::GARDEN,
        "walled garden: reachable while quarantined",
        &["interval"],
        split(garden_prefixes.chain(carried.garden.iter().copied())),
    );
    pair(
        names::RESOLVERS,
        "DNS resolvers quarantined hosts may ask",
        &[],
        split(
            config
                .walled_garden
                .resolvers
                .iter()
                .map(|a| IpNet::from(*a)),
        ),
    );
    pair(
        names::ALLOWED_SENDERS,
        "subscribers allowed to send on port 25",
        &["interval"],
        split(nets(&config.port25.allowed_senders)),
    );
    pair(
        names::RELAYS,
        "the ISP's mail relays",
        &["interval"],
        split(nets(&config.relays.addresses)),
    );

    let quiet = config.quarantine.quiet_period.as_secs();
    let recent = meters(&carried.smtp_recent, quiet);
    let held = meters(&carried.smtp_held, quiet);
    let det = &config.detection;
    let dynamic = [
        (
            names::SMTP_RECENT,
            "hosts with an SMTP attempt within the quiet period",
            quiet,
            HOSTS_MAX,
            false,
        ),
        (
            names::SMTP_HELD,
            "quarantined hosts with an SMTP attempt within the quiet period",
            quiet,
            HOSTS_MAX,
            false,
        ),
        (
            names::SMTP_RATE,
            "detection meter: new SMTP attempts per host",
            det.smtp_attempts.window.as_secs(),
            HOSTS_MAX,
            false,
        ),
        (
            names::SMTP_PAIRS,
            "detection: (host, destination) pairs within the window",
            det.smtp_destinations.window.as_secs(),
            PAIRS_MAX,
            true,
        ),
        (
            names::SMTP_DESTS,
            "detection meter: new SMTP destinations per host",
            det.smtp_destinations.window.as_secs(),
            HOSTS_MAX,
            false,
        ),
        (
            names::DNSBL_ASKED,
            "senders handed to cordond's DNSBL checks within the DNSBL interval",
            det.dnsbl.interval.as_secs(),
            HOSTS_MAX,
            false,
        ),
        (
            names::ALERTED,
            "hosts just reported to cordond (one event, not a flood)",
            cordon_config::ALERT_REPEAT.as_secs(),
            HOSTS_MAX,
            false,
        ),
        (
            names::RELAY_RATE,
            "relay limit state per host",
            RELAY_STATE.as_secs(),
            HOSTS_MAX,
            false,
        ),
    ];
    for (base, comment, timeout, size, concat) in dynamic {
        for v4 in [true, false] {
            let from = match base {
                names::SMTP_RECENT => &recent,
                names::SMTP_HELD => &held,
                _ => &(Vec::new(), Vec::new()),
            };
            let carried = if v4 { from.0.clone() } else { from.1.clone() };
            let addr = if v4 { "ipv4_addr" } else { "ipv6_addr" };
            out.push(SetSpec {
                name: set_name(base, v4),
                definition: SetDefinition {
                    key: if concat { vec![addr, addr] } else { vec![addr] },
                    flags: vec!["dynamic", "timeout"],
                    size: Some(size),
                    timeout: Some(timeout.max(1)),
                },
                comment,
                members: Members::Meters(carried),
            });
        }
    }
    out
}

/// Recent-attempt elements in nft syntax, by family, with their counters
/// and time left.
fn meters(seen: &[SmtpSeen], quiet: u64) -> (Vec<String>, Vec<String>) {
    let mut out = (Vec::new(), Vec::new());
    for s in seen {
        // An element that would expire within the second is not worth carrying.
        let left = s.expires.as_secs().min(quiet);
        if left == 0 {
            continue;
        }
        let text = format!(
            "{} counter packets {} bytes 0 timeout {quiet}s expires {left}s",
            s.key, s.attempts
        );
        match s.key {
            IpAddr::V4(_) => out.0.push(text),
            IpAddr::V6(_) => out.1.push(text),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(threshold: u32, window: u64) -> Signal {
        Signal {
            threshold,
            window: Duration::from_secs(window),
            action: cordon_config::Action::Enforce,
        }
    }

    #[test]
    fn thresholds_become_token_buckets_that_fire_at_the_threshold() {
        // 60 in 10 minutes: 6 a minute, and 60 back to back.
        let l = Limit::for_signal(&signal(60, 600));
        assert_eq!(
            l,
            Limit {
                rate: "6/minute".into(),
                burst: 60
            }
        );
        // 20 in 10 seconds: 2 a second.
        let l = Limit::for_signal(&signal(20, 10));
        assert_eq!(
            l,
            Limit {
                rate: "2/second".into(),
                burst: 20
            }
        );
        // 3 a day.
        let l = Limit::for_signal(&signal(3, 86_400));
        assert_eq!(
            l,
            Limit {
                rate: "3/day".into(),
                burst: 3
            }
        );
        // A threshold of 1 still leaves a burst the kernel accepts.
        let l = Limit::for_signal(&signal(1, 1));
        assert_eq!(
            l,
            Limit {
                rate: "1/second".into(),
                burst: 1
            }
        );
    }

    #[test]
    fn ipv6_masks_follow_the_quarantine_prefix() {
        assert_eq!(v6_mask(64), "ffff:ffff:ffff:ffff::");
        assert_eq!(v6_mask(56), "ffff:ffff:ffff:ff00::");
        assert_eq!(v6_mask(48), "ffff:ffff:ffff::");
    }
}
