//! The config's shape, one module per top-level section: each owns its serde
//! model and the checks that its fields' types cannot make by themselves.
//! Checks that need two sections are in [`cross`]. Every struct refuses
//! unknown keys; every optional key has a default chosen for a mid-sized
//! ISP, documented where it is set.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::{Problem, Problems};
use crate::duration;
use crate::locate::Seg::Key;
use crate::overlap::Prefixes;
use crate::types::Prefix;

mod control;
mod cross;
mod detection;
mod http_url;
mod interfaces;
mod logging;
mod metrics;
mod notice;
mod port25;
mod portal;
mod postgres;
mod quarantine;
mod relays;
mod sessions;
mod store;
mod subscribers;
mod unbuilt;
mod walled_garden;
mod webhooks;

pub use control::{Control, SocketMode};
pub use detection::{
    ALERT_REPEAT, Action, Detection, Dnsbl, DnsblZone, ReportWeights, Reports, Signal,
};
pub use interfaces::Interfaces;
pub use logging::{LogFormat, Logging};
pub use metrics::Metrics;
pub use notice::{Ladder, Notice};
pub use port25::{Port25, Port25Mode};
pub use portal::{Portal, PortalUser, PublicUrl, Support};
pub use quarantine::{Quarantine, SelfRelease};
pub use relays::Relays;
pub use sessions::{RadiusAccounting, RadiusClient, SecretError, Sessions};
pub(crate) use store::misplaced_store_key;
pub use store::{
    GatewayName, PgTls, PgUrl, PoolSize, PostgresStore, SqliteStore, Store, TlsMode,
    default_outbox_path,
};
pub use subscribers::Subscribers;
pub use unbuilt::Unbuilt;
pub use walled_garden::WalledGarden;
pub use webhooks::{
    Event as WebhookEvent, MAX_SECRET as MAX_WEBHOOK_SECRET, MIN_SECRET as MIN_WEBHOOK_SECRET,
    Webhook, WebhookSecretError, WebhookUrl,
};

/// The whole config file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The nftables table Cordon owns (family `inet`). Nothing else is touched.
    #[serde(default = "default_table")]
    pub table: String,
    /// Who the subscribers are.
    pub subscribers: Subscribers,
    /// Where subscribers and the internet are.
    pub interfaces: Interfaces,
    /// Addresses that are never quarantined, whatever any signal says.
    #[serde(default)]
    pub never_quarantine: Vec<Prefix>,
    /// Outbound port 25 for all subscribers.
    #[serde(default)]
    pub port25: Port25,
    /// Per-subscriber limits towards the ISP's own mail relays.
    #[serde(default)]
    pub relays: Relays,
    /// How zombies are found.
    #[serde(default)]
    pub detection: Detection,
    /// How long a quarantine lasts and how it ends.
    #[serde(default)]
    pub quarantine: Quarantine,
    /// The soft answer (a notice page once per interval, nothing blocked).
    #[serde(default)]
    pub notice: Notice,
    /// What a quarantined host may still reach.
    pub walled_garden: WalledGarden,
    /// The subscriber-facing web portal.
    pub portal: Portal,
    /// Where quarantine records and the audit trail are kept.
    #[serde(default)]
    pub store: Store,
    /// Where cordond hears who holds which address (RADIUS accounting).
    #[serde(default)]
    pub sessions: Sessions,
    /// The operators' and the portal's sockets to `cordond`.
    #[serde(default)]
    pub control: Control,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: Metrics,
    /// How long records about subscribers are kept (personal data).
    #[serde(default = "default_retention", with = "duration")]
    pub retention: Duration,
    /// Where transitions are POSTed, signed (CRM, ticketing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    /// Log output.
    #[serde(default)]
    pub logging: Logging,
}

fn default_table() -> String {
    "cordon".into()
}

/// 180 days: long enough to see a relapse pattern, short enough for data
/// minimisation; operators set what their regulator asks.
fn default_retention() -> Duration {
    Duration::from_secs(180 * 86_400)
}

impl Config {
    /// Every problem the types could not refuse by themselves: each
    /// section's own checks, then the root keys', then those across
    /// sections.
    pub(crate) fn check(&self) -> Vec<Problem> {
        let mut p = Problems::default();
        // Sorted once (n log n) for the overlap check and the coverage
        // checks across sections.
        let subscribers = Prefixes::new(&self.subscribers.prefixes);
        self.check_root(&mut p);
        self.subscribers
            .check(&subscribers, &mut p.section("subscribers"));
        self.interfaces.check(&mut p.section("interfaces"));
        cross::never_quarantine_is_subscribers(self, &subscribers, &mut p);
        self.port25.check(&mut p.section("port25"));
        self.relays.check(&mut p.section("relays"));
        self.detection.check(&mut p.section("detection"));
        self.quarantine.check(&mut p.section("quarantine"));
        self.notice.check(&mut p.section("notice"));
        self.walled_garden.check(&mut p.section("walled_garden"));
        self.portal.check(&mut p.section("portal"));
        cross::portal_metrics_apart_from_cordonds(self, &mut p);
        self.control.check(&mut p.section("control"));
        self.sessions.check(&mut p.section("sessions"));
        p.into_vec()
    }

    /// The keys at the root: `table`, `retention`, `webhooks`.
    fn check_root(&self, p: &mut Problems) {
        if !valid_table_name(&self.table) {
            p.push(
                &[Key("table")],
                format!(
                    "`{}` is not a usable nftables table name: use letters, digits and `_`, starting with a letter, at most 32",
                    self.table
                ),
            );
        }
        if self.retention.as_secs() < 86_400 {
            p.push(
                &[Key("retention")],
                "expected at least 1d, or the audit trail is gone before anyone can read it",
            );
        }
        webhooks::check(&self.webhooks, p);
    }
}

fn valid_table_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
