//! The PostgreSQL backend's keys (`store: { backend: postgres, ... }`):
//! the connection URL, this gateway's name in the fleet, the pool, the
//! connect timeout, TLS, and the file holding the password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::types::serde_via_str;

/// How long a connection attempt may take when `store.connect_timeout` is
/// not given.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL backend's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostgresStore {
    /// Where the database is (a libpq URL or `key=value` string, without a
    /// password).
    pub url: PgUrl,
    /// This gateway's name in the fleet; `None`: the host name.
    pub gateway: Option<GatewayName>,
    /// Connections kept open to the server.
    pub pool_size: PoolSize,
    /// How long one connection attempt may take before the store counts as
    /// unreachable.
    #[serde(with = "crate::duration")]
    pub connect_timeout: Duration,
    /// TLS to the server.
    pub tls: PgTls,
    /// A file holding the password (its first line), readable only by
    /// cordond; the URL may not carry one.
    pub password_file: Option<PathBuf>,
    /// The local outbox: a SQLite file on this gateway's disk where its
    /// decisions wait, acknowledged, while the database cannot be reached.
    pub outbox: PathBuf,
}

/// The database's connection string, checked by the client library's own
/// parser at load. A password inside is refused: the config file is read
/// by operators and tools and its values end up in logs, so the password
/// lives in `store.password_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    text: String,
    #[cfg(feature = "postgres")]
    parsed: tokio_postgres::Config,
}

#[cfg(not(feature = "postgres"))]
impl PgUrl {
    /// The text as written, escaped (without the `postgres` feature no
    /// connection string is accepted, see [`FromStr`], so this is not
    /// reached).
    pub fn location(&self) -> String {
        cordon_text(&self.text)
    }
}

#[cfg(not(feature = "postgres"))]
impl FromStr for PgUrl {
    type Err = String;
    fn from_str(_: &str) -> Result<Self, String> {
        Err("this build of Cordon reads no PostgreSQL settings (cordon-config without its `postgres` feature); use the cordond and cordon-portal of a full build, or store.backend: sqlite".into())
    }
}

#[cfg(feature = "postgres")]
impl PgUrl {
    /// The parsed connection settings (no password: see
    /// [`PostgresStore::password_file`]).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.parsed
    }

    /// The server and database for messages and logs, such as
    /// `postgresql://cordon@db.example:5432/cordon`; never a password.
    pub fn location(&self) -> String {
        let c = &self.parsed;
        let user = c.get_user().unwrap_or("");
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .zip(c.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(h, port)| match h {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(dir) => {
                    format!("[{}]:{port}", dir.display())
                }
            })
            .collect();
        let db = c.get_dbname().unwrap_or(user);
        let at = if user.is_empty() { "" } else { "@" };
        cordon_text(&format!("postgresql://{user}{at}{}/{db}", hosts.join(",")))
    }
}

/// Escapes control characters (a config value reaches logs and terminals).
fn cordon_text(s: &str) -> String {
    s.chars().flat_map(char::escape_default).collect::<String>()
}

#[cfg(feature = "postgres")]
impl FromStr for PgUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() > 4096 {
            return Err("a connection string of at most 4096 bytes".into());
        }
        // TLS is store.tls's alone, which would override an sslmode here
        // (to plain TCP under its default `disable`): a setting not taken
        // is refused rather than silently ignored.
        let lower = s.to_ascii_lowercase();
        if let Some(key) = ["sslmode", "sslnegotiation"]
            .into_iter()
            .find(|k| lower.contains(k))
        {
            return Err(format!(
                "the connection string sets {key}, which cordon does not take from it; remove it and set TLS with store.tls (mode: verify-full and ca_file: the PEM file of the CA that signed the server's certificate, or mode: disable)"
            ));
        }
        let parsed = tokio_postgres::Config::from_str(s).map_err(|e| {
            format!(
                "not a PostgreSQL connection string ({e}); write a URL such as postgresql://cordon@db.example/cordon or key=value pairs such as \"host=db.example dbname=cordon user=cordon\""
            )
        })?;
        if parsed.get_password().is_some() {
            return Err("the connection string holds a password; remove it and put the password in a file named by store.password_file (mode 0600), so it never shows in the config or a log".into());
        }
        if parsed.get_hosts().is_empty() {
            return Err("the connection string names no server: add a host (a name, an address, or a socket directory such as host=/run/postgresql)".into());
        }
        Ok(PgUrl {
            text: s.to_owned(),
            parsed,
        })
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

serde_via_str!(
    PgUrl,
    "a PostgreSQL connection string (postgresql://user@host/db or key=value pairs)"
);

/// A gateway's name in the fleet: 1 to 63 bytes of letters, digits, `.`,
/// `-` and `_`, so it prints safely wherever the audit trail is shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayName(String);

impl GatewayName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GatewayName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if ok {
            Ok(GatewayName(s.to_owned()))
        } else {
            Err(format!(
                "{:?} is not a gateway name: 1 to 63 letters, digits, '.', '-' or '_'",
                cordon_text(&s.chars().take(80).collect::<String>())
            ))
        }
    }
}

impl fmt::Display for GatewayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(
    GatewayName,
    "a gateway name (letters, digits, '.', '-', '_')"
);

/// Connections in the pool: 1 to 256 (8 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PoolSize(u16);

impl PoolSize {
    /// The size.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize(8)
    }
}

impl<'de> Deserialize<'de> for PoolSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        match u16::try_from(n) {
            Ok(n @ 1..=256) => Ok(PoolSize(n)),
            _ => Err(serde::de::Error::custom(format!(
                "a pool of {n} connections: give 1 to 256"
            ))),
        }
    }
}

/// `store.tls`: whether and how the connection is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PgTls {
    /// See [`TlsMode`].
    #[serde(default)]
    pub mode: TlsMode,
    /// The PEM file of the CA(s) that sign the server's certificate;
    /// required unless the mode is `disable`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// TLS modes, named as libpq names them. Whenever TLS is used, the server's
/// certificate chain and host name are verified against `ca_file` (libpq's
/// `verify-full`): cordon never accepts an unverified certificate, so
/// libpq's `require` and `verify-ca`, which do, are refused rather than
/// silently made stricter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain TCP (or a Unix socket, which never uses TLS).
    #[default]
    Disable,
    /// TLS when the server offers it (verified), plain TCP when it does not.
    Prefer,
    /// TLS always, verified.
    VerifyFull,
}

impl TlsMode {
    /// The name as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}
