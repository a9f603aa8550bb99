//! `portal`: the subscriber-facing web portal.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::{Index, Key};

mod values;

pub use values::{PortalUser, PublicUrl};

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
    /// Port on the gateway where the kernel sends noticed hosts' `http`
    /// traffic. A port of its own, so that the redirect port knows every
    /// caller is quarantined (the kernel said so) and answers without
    /// asking `cordond`; only the notice port asks.
    #[serde(default = "default_notice_port")]
    pub notice_port: u16,
    /// Port on the gateway where the kernel sends a quarantined host's own
    /// connections to the portal (to a port of `listen`). The portal serves
    /// them as it serves `listen`, except that the captive-portal probes and
    /// the RFC 8908 API on a new connection answer "captive" without asking
    /// `cordond`: the kernel said so when the connection began.
    #[serde(default = "default_captive_port")]
    pub captive_port: u16,
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
fn default_notice_port() -> u16 {
    8082
}
fn default_captive_port() -> u16 {
    8083
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

impl Portal {
    /// At least one language, each a language tag; metrics on a port of
    /// their own (the clash with cordond's metrics is checked across
    /// sections, in `cross`).
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        if self.languages.is_empty() {
            p.push(
                &[Key("languages")],
                "list at least one language; the first is the fallback",
            );
        }
        for (i, l) in self.languages.iter().enumerate() {
            if !valid_language_tag(l) {
                p.push(
                    &[Key("languages"), Index(i)],
                    format!("expected a language tag such as `en`, `es` or `pt-BR`, found `{l}`"),
                );
            }
        }
        // Each kernel-fed listener tells the portal what the kernel knew of
        // its callers, so none may share a port with another.
        for (key, port, others, why) in [
            (
                "notice_port",
                self.notice_port,
                &[self.redirect_port][..],
                "portal.redirect_port or a port of portal.listen; the kernel sends noticed hosts here, quarantined ones to the redirect port, so each needs a port of its own (8082 is the default)",
            ),
            (
                "captive_port",
                self.captive_port,
                &[self.redirect_port, self.notice_port][..],
                "portal.redirect_port, portal.notice_port or a port of portal.listen; the kernel sends a quarantined host's own connections to the portal here, and the portal answers them as captive, so it needs a port of its own (8083 is the default)",
            ),
        ] {
            if port != 0 && (others.contains(&port) || self.listen.iter().any(|a| a.port() == port))
            {
                p.push(&[Key(key)], format!("port {port} is also {why}"));
            }
        }
        if let Some(m) = self
            .metrics_listen
            .filter(|m| self.metrics_on_public_port(*m))
        {
            p.push(
                &[Key("metrics_listen")],
                format!(
                    "{m} shares a port with portal.listen, portal.redirect_port, portal.notice_port or portal.captive_port, where subscribers are served; \
                     give the metrics a port of their own on loopback or a management address (9465 is usual)"
                ),
            );
        }
    }

    /// True when metrics at `m` would share a port subscribers are served
    /// on: open to subscribers (and the bind fails anyway).
    pub(crate) fn metrics_on_public_port(&self, m: SocketAddr) -> bool {
        self.listen.iter().any(|a| same_port(*a, m))
            || (m.port() != 0
                && [self.redirect_port, self.notice_port, self.captive_port].contains(&m.port()))
    }
}

/// True when listeners at `a` and `m` would clash: the same port on the
/// same or an unspecified address. Port 0 (tests) is one the kernel picks,
/// so it clashes with nothing.
pub(crate) fn same_port(a: SocketAddr, m: SocketAddr) -> bool {
    m.port() != 0
        && a.port() == m.port()
        && (a.ip() == m.ip() || a.ip().is_unspecified() || m.ip().is_unspecified())
}

fn valid_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}
