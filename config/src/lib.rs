//! Cordon's configuration: one YAML file, read into typed and validated structs.
//!
//! Everything an operator can set lives here, so that every part of Cordon (the
//! daemon, the ruleset, the portal, the lab) reads the same types. Values are
//! parsed into address, prefix, duration, URL, socket-mode and interface-name
//! types at load time: nothing downstream ever re-parses a string from the
//! config.
//!
//! Errors name the file, the line and the column, and say what was expected
//! ([`ConfigError`]).

#![forbid(unsafe_code)]

// Reading a file: bounds, YAML into the sections' structs, then their checks.
mod check;
mod error;
mod limits;
mod load;
mod locate;

// The sections, one module each (model and checks), and the checks across
// sections.
mod sections;

// Value types shared by several sections.
mod addr;
pub mod duration;
mod overlap;
mod types;

pub use addr::{AddrError, SubscriberAddr};
pub use error::{ConfigError, ConfigErrors};
pub use load::{load_file, load_str};
pub use sections::{
    ALERT_REPEAT, Action, Config, Control, Detection, Dnsbl, DnsblZone, GatewayName, Interfaces,
    Ladder, LogFormat, Logging, MAX_WEBHOOK_SECRET, MIN_WEBHOOK_SECRET, Metrics, Notice, PgTls,
    PgUrl, PoolSize, Port25, Port25Mode, Portal, PortalUser, PostgresStore, PublicUrl, Quarantine,
    RadiusAccounting, RadiusClient, Relays, ReportWeights, Reports, SecretError, SelfRelease,
    Sessions, Signal, SocketMode, SqliteStore, Store, Subscribers, Support, TlsMode, Unbuilt,
    WalledGarden, Webhook, WebhookEvent, WebhookSecretError, WebhookUrl, default_outbox_path,
};
pub use types::{Destination, DnsName, IfName, Prefix};
