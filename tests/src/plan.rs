//! The plan of a lab: every name, path and address a test or an operator
//! needs, printed by `cordon-lab up --json` and saved as `plan.json` in the
//! run directory.
//!
//! With several gateways, `gateways[i]` describes each (all with the keys
//! of `gateway`, which stays gateway 0 so that one-gateway readers work
//! unchanged) and `subscribers[i].gateway` is the index of the gateway a
//! subscriber sits behind.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use cordon_config::Config;
use serde::{Deserialize, Serialize};

use crate::addresses::*;
use crate::config::{GatewaySite, StoreChoice};
use crate::internet::{SMTP_PORTS, STATS_SOCKET, WEB_PORTS};
use crate::names::LabName;

/// A pair of addresses, one per family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addrs {
    /// IPv4.
    pub ipv4: Ipv4Addr,
    /// IPv6.
    pub ipv6: Ipv6Addr,
}

/// One gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayPlan {
    /// Its name in the lab (`gw0`, `gw1`, ...).
    pub name: String,
    /// Its index in `gateways`.
    pub index: usize,
    /// Its namespace.
    pub netns: String,
    /// The cordond config the lab wrote.
    pub config: PathBuf,
    /// cordond's control socket (for `cordon --socket`).
    pub control_socket: PathBuf,
    /// The portal's socket to cordond.
    pub portal_socket: PathBuf,
    /// The portal's base URL.
    pub portal: String,
    /// The portal's addresses (on the gateway's `lo`).
    pub portal_address: Addrs,
    /// Where quarantined `http` traffic is redirected.
    pub redirect_port: u16,
    /// Where noticed hosts' `http` traffic is redirected.
    pub notice_port: u16,
    /// The subscriber prefixes it serves (IPv4, IPv6), apart from every
    /// other gateway's.
    pub subscriber_prefixes: Vec<String>,
    /// The gateway's end of the uplink.
    pub uplink: Addrs,
    /// `quarantine.quiet_period` in seconds.
    pub quiet_period_s: u64,
    /// `quarantine.min_hold` in seconds.
    pub min_hold_s: u64,
    /// `detection.reports.score`.
    pub report_score: u32,
    /// `detection.smtp_attempts.threshold`.
    pub smtp_attempts_threshold: u32,
    /// `detection.smtp_destinations.threshold`.
    pub smtp_destinations_threshold: u32,
    /// The daemons started in the gateway (`cordond`, `cordon-portal`).
    pub daemons: Vec<String>,
    /// cordond's RADIUS accounting listener, reachable from inside the
    /// gateway's namespace.
    pub radius_accounting: Option<RadiusPlan>,
}

/// Where and how to send RADIUS accounting to cordond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadiusPlan {
    /// Its address.
    pub address: IpAddr,
    /// Its UDP port.
    pub port: u16,
    /// The shared secret for requests from the gateway's loopback.
    pub secret: String,
}

/// One subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberPlan {
    /// 0-based.
    pub index: usize,
    /// The index of the gateway it sits behind (in `gateways`).
    pub gateway: usize,
    /// Its namespace.
    pub netns: String,
    /// The gateway's interface towards it (its veth, or the bridge
    /// `sublan` when the subscribers share one link).
    pub interface: String,
    /// Its IPv4 address.
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address.
    pub ipv6: Ipv6Addr,
    /// Its IPv6 /64.
    pub ipv6_prefix: String,
    /// Its gateway's addresses on its link (its default routes).
    pub router: Addrs,
    /// True when it may send on port 25.
    pub allowed_sender: bool,
}

/// The internet namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternetPlan {
    /// Its namespace.
    pub netns: String,
    /// Its end of the uplink.
    pub address: Addrs,
    /// Web server addresses (every internet address answers, these are the
    /// ones DNS points at).
    pub web: Vec<IpAddr>,
    /// Web server ports.
    pub web_ports: Vec<u16>,
    /// The ISP's mail relay.
    pub smtp: Vec<IpAddr>,
    /// SMTP ports (every internet address listens).
    pub smtp_ports: Vec<u16>,
    /// The DNS resolver.
    pub dns: Vec<IpAddr>,
    /// Other networks' mail servers (64 per family).
    pub mail_servers: Vec<IpAddr>,
    /// A host inside the walled garden's destinations.
    pub garden: Vec<IpAddr>,
    /// Where the services' counters are read.
    pub stats_socket: PathBuf,
}

/// The store the gateways share, when they share one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorePlan {
    /// The lab's PostgreSQL's socket directory (libpq's `host`; the
    /// database is `cordon`, the user `postgres`).
    pub socket_dir: PathBuf,
}

/// The whole lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The lab's name.
    pub name: String,
    /// Its run directory (config, sockets, logs, store).
    pub run_dir: PathBuf,
    /// The gateway (gateway 0 when there are several).
    pub gateway: GatewayPlan,
    /// Every gateway, by index.
    pub gateways: Vec<GatewayPlan>,
    /// The subscribers, by index.
    pub subscribers: Vec<SubscriberPlan>,
    /// The internet.
    pub internet: InternetPlan,
    /// The shared store: null when each gateway keeps its own SQLite file.
    pub store: Option<StorePlan>,
}

impl Plan {
    /// The plan for lab `name` with `subscribers` subscribers (on one
    /// shared link per gateway or a link each) and the gateways `sites`,
    /// each with the config the lab wrote for it and running `daemons`;
    /// the shared store from the first site's choice (made once for all).
    ///
    /// # Panics
    /// If `sites` is empty (the lab refuses zero gateways first).
    pub fn new(
        name: &LabName,
        subscribers: usize,
        shared_link: bool,
        sites: &[(GatewaySite, Config)],
        daemons: Vec<String>,
    ) -> Self {
        let run_dir = name.run_dir();
        let gateways: Vec<GatewayPlan> = sites
            .iter()
            .map(|(site, c)| gateway_plan(name, site, c, daemons.clone()))
            .collect();
        Plan {
            name: name.to_string(),
            gateway: gateways[0].clone(),
            subscribers: (0..subscribers)
                .map(|i| {
                    let g = gateway_of(i, sites.len());
                    let net = GatewayNet::of(g);
                    let ipv4 = net.subscriber_v4(i);
                    SubscriberPlan {
                        index: i,
                        gateway: g,
                        netns: name.subscriber_netns(i),
                        interface: subscriber_link(i, shared_link),
                        ipv4,
                        ipv6: net.subscriber_v6(i),
                        ipv6_prefix: net.subscriber_v6_prefix(i),
                        router: Addrs {
                            ipv4: net.subscriber_gw_v4(i),
                            ipv6: net.subscriber_gw_v6(i),
                        },
                        allowed_sender: sites[g]
                            .1
                            .port25
                            .allowed_senders
                            .iter()
                            .any(|p| p.contains(&IpAddr::V4(ipv4))),
                    }
                })
                .collect(),
            gateways,
            internet: InternetPlan {
                netns: name.internet_netns(),
                address: Addrs {
                    ipv4: UPLINK_NET_V4,
                    ipv6: UPLINK_NET_V6,
                },
                web: vec![WEB_V4.into(), WEB_V6.into()],
                web_ports: WEB_PORTS.to_vec(),
                smtp: vec![RELAY_V4.into(), RELAY_V6.into()],
                smtp_ports: SMTP_PORTS.to_vec(),
                dns: vec![RESOLVER_V4.into(), RESOLVER_V6.into()],
                mail_servers: mail_servers(),
                garden: vec![GARDEN_V4.into(), GARDEN_V6.into()],
                stats_socket: run_dir.join(STATS_SOCKET),
            },
            store: match &sites[0].0.store {
                StoreChoice::Sqlite => None,
                StoreChoice::Postgres { socket_dir } => Some(StorePlan {
                    socket_dir: socket_dir.clone(),
                }),
            },
            run_dir,
        }
    }

    /// Every namespace of the lab, gateways first.
    pub fn namespaces(&self) -> Vec<String> {
        let mut v: Vec<String> = self.gateways.iter().map(|g| g.netns.clone()).collect();
        v.extend(self.subscribers.iter().map(|s| s.netns.clone()));
        v.push(self.internet.netns.clone());
        v
    }
}

/// A gateway's plan, from the config the lab wrote for it.
fn gateway_plan(
    name: &LabName,
    site: &GatewaySite,
    config: &Config,
    daemons: Vec<String>,
) -> GatewayPlan {
    let net = GatewayNet::of(site.index);
    GatewayPlan {
        name: site.name(),
        index: site.index,
        netns: name.gateway_netns_at(site.index),
        config: site.config_path(),
        control_socket: config.control.socket.clone(),
        portal_socket: config.control.portal_socket.clone(),
        portal: config.portal.public_url.to_string(),
        portal_address: Addrs {
            ipv4: net.portal_v4(),
            ipv6: net.portal_v6(),
        },
        redirect_port: config.portal.redirect_port,
        notice_port: config.portal.notice_port,
        subscriber_prefixes: config
            .subscribers
            .prefixes
            .iter()
            .map(ToString::to_string)
            .collect(),
        uplink: Addrs {
            ipv4: net.uplink_v4(),
            ipv6: net.uplink_v6(),
        },
        quiet_period_s: config.quarantine.quiet_period.as_secs(),
        min_hold_s: config.quarantine.min_hold.as_secs(),
        report_score: config.detection.reports.score,
        smtp_attempts_threshold: config.detection.smtp_attempts.threshold,
        smtp_destinations_threshold: config.detection.smtp_destinations.threshold,
        daemons,
        radius_accounting: config.sessions.radius.as_ref().map(|r| RadiusPlan {
            address: r.listen.ip(),
            port: r.listen.port(),
            secret: r.secret_for(r.listen.ip()).unwrap_or_default().to_owned(),
        }),
    }
}
