//! Where records live, the sockets, metrics and logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// Connection string (postgres backend, not available yet: refused
    /// when set).
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
