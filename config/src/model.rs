//! The config's shape. Every struct refuses unknown keys; every optional key
//! has a default chosen for a mid-sized ISP, documented where it is set.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::{Destination, IfName, Prefix, duration};

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
    /// The soft answer: a notice page once per interval, nothing blocked.
    #[serde(default)]
    pub notice: Notice,
    /// What a quarantined host may still reach.
    pub walled_garden: WalledGarden,
    /// The subscriber-facing web portal.
    pub portal: Portal,
    /// Where quarantine records and the audit trail are kept.
    #[serde(default)]
    pub store: Store,
    /// The operators' and the portal's sockets to `cordond`.
    #[serde(default)]
    pub control: Control,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: Metrics,
    /// How long records about subscribers are kept (personal data).
    #[serde(default = "default_retention", with = "duration")]
    pub retention: Duration,
    /// Where transitions are POSTed (CRM, ticketing).
    #[serde(default)]
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

/// Subscriber address space.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribers {
    /// IPv4 and IPv6 prefixes subscribers' addresses come from.
    pub prefixes: Vec<Prefix>,
    /// IPv6 quarantines cover the subscriber's prefix of this length (a /64
    /// by default; up to the delegated prefix, e.g. 56), because single
    /// IPv6 addresses change every few hours.
    #[serde(default = "default_v6_len")]
    pub ipv6_quarantine_prefix: u8,
}

fn default_v6_len() -> u8 {
    64
}

/// Interfaces of the gateway.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Interfaces {
    /// Towards subscribers (names or patterns such as `ppp*`).
    pub downlink: Vec<IfName>,
    /// Towards the internet.
    pub uplink: Vec<IfName>,
}

/// What happens to outbound TCP/25.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Port25Mode {
    /// Refused with a TCP reset (mail programs fail fast), except allowed senders.
    #[default]
    Block,
    /// Counted and logged, not refused.
    Monitor,
    /// Not looked at (detection still counts attempts).
    Off,
}

/// Port-25 policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Port25 {
    /// `block`, `monitor` or `off`.
    #[serde(default)]
    pub mode: Port25Mode,
    /// Subscribers that may send on port 25 (business customers, own relays).
    #[serde(default)]
    pub allowed_senders: Vec<Prefix>,
    /// Submission ports that always stay open (authenticated mail).
    #[serde(default = "default_submission")]
    pub submission_ports: Vec<u16>,
}

fn default_submission() -> Vec<u16> {
    vec![587, 465]
}

impl Default for Port25 {
    fn default() -> Self {
        Port25 {
            mode: Port25Mode::Block,
            allowed_senders: Vec::new(),
            submission_ports: default_submission(),
        }
    }
}

/// The ISP's own mail relays and how fast one subscriber may open
/// connections to them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Relays {
    /// Relay addresses.
    #[serde(default)]
    pub addresses: Vec<Prefix>,
    /// Ports the limit applies to.
    #[serde(default = "default_relay_ports")]
    pub ports: Vec<u16>,
    /// New connections per subscriber per minute (sustained).
    #[serde(default = "default_relay_rate")]
    pub new_connections_per_minute: u32,
    /// Connections allowed in a burst above the sustained rate.
    #[serde(default = "default_relay_burst")]
    pub burst: u32,
}

fn default_relay_ports() -> Vec<u16> {
    vec![25, 587, 465]
}
/// 20 a minute sustained with a burst of 40: a family's mail programs
/// fetching and sending on wake-up stay far below; a bulk sender does not.
fn default_relay_rate() -> u32 {
    20
}
fn default_relay_burst() -> u32 {
    40
}

impl Default for Relays {
    fn default() -> Self {
        Relays {
            addresses: Vec::new(),
            ports: default_relay_ports(),
            new_connections_per_minute: default_relay_rate(),
            burst: default_relay_burst(),
        }
    }
}

/// What a signal does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Log and count; the host shows as a suspect.
    Observe,
    /// Tell the subscriber (notice page), block nothing.
    Notice,
    /// Quarantine.
    #[default]
    Enforce,
}

/// A threshold over a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// How many within the window fire the signal.
    pub threshold: u32,
    /// The window.
    #[serde(with = "duration")]
    pub window: Duration,
    /// What firing does.
    #[serde(default)]
    pub action: Action,
}

/// Detection settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    /// New outbound SMTP (TCP/25) connection attempts per host.
    #[serde(default = "default_smtp_attempts")]
    pub smtp_attempts: Signal,
    /// Distinct port-25 destination addresses per host.
    #[serde(default = "default_smtp_destinations")]
    pub smtp_destinations: Signal,
    /// External reports (abuse desk, feeds, block lists) adding up per host.
    #[serde(default)]
    pub reports: Reports,
    /// DNS block lists asked about hosts that made SMTP attempts.
    #[serde(default)]
    pub dnsbl: Dnsbl,
    /// A noticed host that keeps sending moves on to quarantine.
    #[serde(default)]
    pub ladder: Ladder,
    /// NFLOG group on which the kernel reports threshold crossings.
    #[serde(default = "default_nflog_group")]
    pub nflog_group: u16,
}

/// 60 new port-25 connections in 10 minutes: a person's mail program uses
/// submission (587/465) or the ISP relay, so direct-to-MX traffic at this rate
/// is what the M3AAWG and the spam-zombie studies describe as bot behaviour.
fn default_smtp_attempts() -> Signal {
    Signal {
        threshold: 60,
        window: Duration::from_secs(600),
        action: Action::Enforce,
    }
}
/// 20 distinct MX addresses in 10 minutes: a bot fans out to hundreds of
/// domains' servers; even a small office server rarely reaches 20.
fn default_smtp_destinations() -> Signal {
    Signal {
        threshold: 20,
        window: Duration::from_secs(600),
        action: Action::Enforce,
    }
}
fn default_nflog_group() -> u16 {
    7107
}

impl Default for Detection {
    fn default() -> Self {
        Detection {
            smtp_attempts: default_smtp_attempts(),
            smtp_destinations: default_smtp_destinations(),
            reports: Reports::default(),
            dnsbl: Dnsbl::default(),
            ladder: Ladder::default(),
            nflog_group: default_nflog_group(),
        }
    }
}

/// External reports.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    /// Score (sum of report weights within the window) that fires.
    #[serde(default = "default_report_score")]
    pub score: u32,
    /// Window reports add up in.
    #[serde(default = "default_report_window", with = "duration")]
    pub window: Duration,
    /// What reaching the score does.
    #[serde(default)]
    pub action: Action,
}

fn default_report_score() -> u32 {
    3
}
fn default_report_window() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl Default for Reports {
    fn default() -> Self {
        Reports {
            score: default_report_score(),
            window: default_report_window(),
            action: Action::Enforce,
        }
    }
}

/// DNS block lists.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dnsbl {
    /// Zones to ask (empty: none).
    #[serde(default)]
    pub zones: Vec<DnsblZone>,
    /// Ask about one address at most once per interval.
    #[serde(default = "default_dnsbl_interval", with = "duration")]
    pub interval: Duration,
    /// Query budget.
    #[serde(default = "default_dnsbl_qps")]
    pub queries_per_second: u32,
    /// DNS servers to ask (default: the walled garden's resolvers).
    #[serde(default)]
    pub servers: Vec<SocketAddr>,
}

/// One DNS block list zone and the weight of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsblZone {
    /// The zone, e.g. `xbl.example.org`.
    pub zone: crate::types::DnsName,
    /// Points a listing adds to the host's report score.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}
fn default_dnsbl_interval() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_dnsbl_qps() -> u32 {
    10
}

impl Default for Dnsbl {
    fn default() -> Self {
        Dnsbl {
            zones: Vec::new(),
            interval: default_dnsbl_interval(),
            queries_per_second: default_dnsbl_qps(),
            servers: Vec::new(),
        }
    }
}

/// Moving a noticed host to quarantine when it keeps sending.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// Quarantine a noticed host that fires again this many times.
    #[serde(default = "default_ladder_after")]
    pub quarantine_after_notices: u32,
    /// Within this long of the first notice.
    #[serde(default = "default_ladder_window", with = "duration")]
    pub window: Duration,
}

fn default_ladder_after() -> u32 {
    2
}
fn default_ladder_window() -> Duration {
    Duration::from_secs(86_400)
}

impl Default for Ladder {
    fn default() -> Self {
        Ladder {
            quarantine_after_notices: default_ladder_after(),
            window: default_ladder_window(),
        }
    }
}

/// Quarantine lifecycle.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    /// Shortest quarantine, however quiet the host is.
    #[serde(default = "default_min_hold", with = "duration")]
    pub min_hold: Duration,
    /// No SMTP attempt for this long counts as stopped.
    #[serde(default = "default_quiet", with = "duration")]
    pub quiet_period: Duration,
    /// "I have cleaned my computer" releases.
    #[serde(default)]
    pub self_release: SelfRelease,
    /// After release, a relapse within this long quarantines again, longer.
    #[serde(default = "default_probation", with = "duration")]
    pub probation: Duration,
    /// Factor on `min_hold` for each relapse.
    #[serde(default = "default_escalation")]
    pub escalation: f64,
    /// Upper bound for escalated holds.
    #[serde(default = "default_max_hold", with = "duration")]
    pub max_hold: Duration,
}

fn default_min_hold() -> Duration {
    Duration::from_secs(30 * 60)
}
/// Two hours without a single port-25 attempt: bots retry queued mail every
/// few minutes to an hour, so two quiet hours means the sender has stopped.
fn default_quiet() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_probation() -> Duration {
    Duration::from_secs(30 * 86_400)
}
fn default_escalation() -> f64 {
    4.0
}
fn default_max_hold() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            min_hold: default_min_hold(),
            quiet_period: default_quiet(),
            self_release: SelfRelease::default(),
            probation: default_probation(),
            escalation: default_escalation(),
            max_hold: default_max_hold(),
        }
    }
}

/// Self-release limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SelfRelease {
    /// How many self-releases a subscriber has within the window.
    #[serde(default = "default_self_count")]
    pub count: u32,
    /// The window.
    #[serde(default = "default_self_window", with = "duration")]
    pub window: Duration,
    /// Quiet needed for the "I have cleaned my computer" button. Shorter
    /// than `quiet_period` on purpose: with the same test the button would
    /// only ever do what the automatic release does at the same moment. A
    /// subscriber who cleaned up gets out sooner; probation catches a
    /// relapse. Never longer than `quiet_period` (clamped).
    #[serde(default = "default_self_quiet", with = "duration")]
    pub quiet: Duration,
}

fn default_self_count() -> u32 {
    2
}
fn default_self_window() -> Duration {
    Duration::from_secs(30 * 86_400)
}
/// 15 minutes: a spam program retries within minutes, so a quarter of an
/// hour without a single attempt right after cleaning is good evidence.
fn default_self_quiet() -> Duration {
    Duration::from_secs(15 * 60)
}

impl Default for SelfRelease {
    fn default() -> Self {
        SelfRelease {
            count: default_self_count(),
            window: default_self_window(),
            quiet: default_self_quiet(),
        }
    }
}

/// Notice pages (RFC 6108 style).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// At most one notice page per host per interval.
    #[serde(default = "default_notice_interval", with = "duration")]
    pub interval: Duration,
    /// A notice stops being shown after this long.
    #[serde(default = "default_notice_duration", with = "duration")]
    pub duration: Duration,
}

fn default_notice_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}
fn default_notice_duration() -> Duration {
    Duration::from_secs(7 * 86_400)
}

impl Default for Notice {
    fn default() -> Self {
        Notice {
            interval: default_notice_interval(),
            duration: default_notice_duration(),
        }
    }
}

/// The walled garden.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalledGarden {
    /// DNS resolvers quarantined hosts may ask.
    pub resolvers: Vec<IpAddr>,
    /// Cleanup tool vendors, OS updates: addresses, prefixes or DNS names.
    #[serde(default)]
    pub destinations: Vec<Destination>,
    /// How often DNS names are looked up again.
    #[serde(default = "default_garden_refresh", with = "duration")]
    pub refresh: Duration,
}

fn default_garden_refresh() -> Duration {
    Duration::from_secs(15 * 60)
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
    pub public_url: String,
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
    /// Run as this user when started as root.
    #[serde(default)]
    pub user: Option<String>,
}

fn default_portal_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 8080))]
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

/// Store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// One SQLite file (one gateway).
    #[default]
    Sqlite,
    /// PostgreSQL shared by a fleet of gateways.
    Postgres,
}

/// Where records are kept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// `sqlite` or `postgres`.
    #[serde(default)]
    pub backend: StoreBackend,
    /// SQLite file (sqlite backend).
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Connection string (postgres backend).
    #[serde(default)]
    pub url: Option<String>,
}

fn default_store_path() -> PathBuf {
    PathBuf::from("/var/lib/cordon/cordon.db")
}

impl Default for Store {
    fn default() -> Self {
        Store {
            backend: StoreBackend::Sqlite,
            path: default_store_path(),
            url: None,
        }
    }
}

/// Control and portal sockets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Operators' socket (`cordon` talks to it).
    #[serde(default = "default_control_socket")]
    pub socket: PathBuf,
    /// Its permission bits, as an octal string such as `"0660"`.
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Group that may use it (operators).
    #[serde(default)]
    pub group: Option<String>,
    /// The portal's socket: one address at a time, nothing else.
    #[serde(default = "default_portal_socket")]
    pub portal_socket: PathBuf,
}

fn default_control_socket() -> PathBuf {
    PathBuf::from("/run/cordon/control.sock")
}
fn default_portal_socket() -> PathBuf {
    PathBuf::from("/run/cordon/portal.sock")
}
fn default_mode() -> String {
    "0660".into()
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: default_control_socket(),
            mode: default_mode(),
            group: None,
            portal_socket: default_portal_socket(),
        }
    }
}

impl Control {
    /// The socket mode as permission bits (validated at load time).
    pub fn mode_bits(&self) -> u32 {
        u32::from_str_radix(self.mode.trim_start_matches("0o"), 8).unwrap_or(0o660)
    }
}

/// Metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Where `/metrics` is served; loopback by default.
    #[serde(default = "default_metrics_listen")]
    pub listen: Option<SocketAddr>,
}

fn default_metrics_listen() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: default_metrics_listen(),
        }
    }
}

/// A webhook target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// URL to POST transitions to.
    pub url: String,
    /// File holding the HMAC secret that signs each POST.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}
