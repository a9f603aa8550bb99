//! The gateway and the internet: hosts with a role, and what tests ask of
//! that role (the gateway's config and sockets, the internet's counters).

use std::net::IpAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::addresses;
use crate::error::LabError;
use crate::host::Host;
use crate::internet::{read_stats, stats::InternetStats};
use crate::plan::{GatewayPlan, Plan};

/// A gateway, where cordond and the portal run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    host: Host,
    name: String,
    index: usize,
    config: PathBuf,
    control_socket: PathBuf,
    portal_url: String,
}

impl Gateway {
    pub(crate) fn new(g: &GatewayPlan) -> Self {
        Gateway {
            host: Host::new(
                g.netns.clone(),
                g.portal_address.ipv4,
                g.portal_address.ipv6,
            ),
            name: g.name.clone(),
            index: g.index,
            config: g.config.clone(),
            control_socket: g.control_socket.clone(),
            portal_url: g.portal.clone(),
        }
    }

    /// Its name in the lab (`gw0`, `gw1`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its index (subscribers name it in their plan's `gateway`).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The cordond config the lab wrote.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// cordond's control socket.
    pub fn control_socket(&self) -> &Path {
        &self.control_socket
    }

    /// The portal's base URL.
    pub fn portal_url(&self) -> &str {
        &self.portal_url
    }
}

impl Deref for Gateway {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

/// The internet: web server, SMTP sink, DNS resolver, mail servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Internet {
    host: Host,
    stats_socket: PathBuf,
}

impl Internet {
    pub(crate) fn new(plan: &Plan) -> Self {
        let n = &plan.internet;
        Internet {
            host: Host::new(n.netns.clone(), n.address.ipv4, n.address.ipv6),
            stats_socket: n.stats_socket.clone(),
        }
    }

    /// What the services have counted so far.
    pub fn stats(&self) -> Result<InternetStats, LabError> {
        read_stats(&self.stats_socket, "stats")
    }

    /// The counters so far, then zero them (so a test counts only its own).
    pub fn reset_stats(&self) -> Result<InternetStats, LabError> {
        read_stats(&self.stats_socket, "reset")
    }

    /// The web server's address of `like`'s family.
    pub fn web(&self, like: IpAddr) -> IpAddr {
        pick(like, addresses::WEB_V4.into(), addresses::WEB_V6.into())
    }

    /// The mail relay's address of `like`'s family.
    pub fn relay(&self, like: IpAddr) -> IpAddr {
        pick(like, addresses::RELAY_V4.into(), addresses::RELAY_V6.into())
    }

    /// The resolver's address of `like`'s family.
    pub fn resolver(&self, like: IpAddr) -> IpAddr {
        pick(
            like,
            addresses::RESOLVER_V4.into(),
            addresses::RESOLVER_V6.into(),
        )
    }

    /// Other networks' mail servers (64 IPv4, then 64 IPv6).
    pub fn mail_servers(&self) -> Vec<IpAddr> {
        addresses::mail_servers()
    }
}

fn pick(like: IpAddr, v4: IpAddr, v6: IpAddr) -> IpAddr {
    if like.is_ipv4() { v4 } else { v6 }
}

impl Deref for Internet {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}
