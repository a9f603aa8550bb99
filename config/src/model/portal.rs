//! What quarantined hosts may reach, and the subscriber-facing portal.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Unbuilt;
use crate::portal_values::{PortalUser, PublicUrl};
use crate::types::Destination;

/// The walled garden.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalledGarden {
    /// DNS resolvers quarantined hosts may ask.
    pub resolvers: Vec<IpAddr>,
    /// Cleanup tool vendors, OS updates: addresses, prefixes or DNS names.
    #[serde(default)]
    pub destinations: Vec<Destination>,
    /// How often DNS names are looked up again: names are not resolved
    /// yet, so the key is refused when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Unbuilt>,
}

/// The portal.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    /// Where the portal's own pages are served (reachable by every subscriber).
    #[serde(default = "default_portal_listen")]
    pub listen: Vec<SocketAddr>,
    /// Port on the gateway where the kernel sends quarantined `http` traffic.
    #[serde(default = "default_redirect_port")]
    pub redirect_port: u16,
    /// The portal's public base URL; every redirect points here.
    pub public_url: PublicUrl,
    /// Cleanup tools offered for download.
    #[serde(default)]
    pub tools_dir: Option<PathBuf>,
    /// Operator's templates that override the built-in ones.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Extra or replacement translation files (`LANG.ftl`).
    #[serde(default)]
    pub translations_dir: Option<PathBuf>,
    /// Languages offered, the first is the fallback.
    #[serde(default = "default_languages")]
    pub languages: Vec<String>,
    /// The ISP's name as subscribers know it.
    #[serde(default = "default_isp_name")]
    pub isp_name: String,
    /// How subscribers reach support.
    #[serde(default)]
    pub support: Support,
    /// Run as this user when started as root (a dedicated account, never
    /// root or `nobody`: see [`PortalUser`]).
    #[serde(default)]
    pub user: Option<PortalUser>,
    /// Where the portal serves its Prometheus `/metrics` (connections open
    /// and refused by reason, answers by status class): a listener of its
    /// own, never one of `listen`, so subscribers cannot read it. Loopback
    /// by default; `null` serves no metrics.
    #[serde(default = "default_portal_metrics_listen")]
    pub metrics_listen: Option<SocketAddr>,
}

fn default_portal_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 8080))]
}
fn default_portal_metrics_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 9465)))
}
fn default_redirect_port() -> u16 {
    8081
}
fn default_languages() -> Vec<String> {
    vec!["en".into(), "es".into(), "da".into()]
}
fn default_isp_name() -> String {
    "your Internet provider".into()
}

/// Support contact shown on the pages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Support {
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Web page.
    #[serde(default)]
    pub url: Option<String>,
    /// Opening hours, free text.
    #[serde(default)]
    pub hours: Option<String>,
}
