//! `store`: where quarantine records and the audit trail are kept, by
//! backend: `store: { backend: sqlite, path: ... }`, `backend` defaulting to
//! `sqlite` so `store: { path: ... }` reads as it always did, or
//! `store: { backend: postgres, url: ..., ... }` (see [`PostgresStore`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::postgres::{
    DEFAULT_CONNECT_TIMEOUT, GatewayName, PgTls, PgUrl, PoolSize, PostgresStore, TlsMode,
};

/// Where records are kept: one variant per backend, each with only its own
/// keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "StoreKeys", tag = "backend", rename_all = "lowercase")]
pub enum Store {
    /// One SQLite file (one gateway).
    Sqlite(SqliteStore),
    /// A PostgreSQL database shared by a fleet of gateways.
    Postgres(Box<PostgresStore>),
}

impl Store {
    /// The SQLite file, when the records are kept in one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Store::Sqlite(s) => Some(&s.path),
            Store::Postgres(_) => None,
        }
    }

    /// The store for messages and logs: the SQLite file, or the server and
    /// database (never a password).
    pub fn location(&self) -> String {
        match self {
            Store::Sqlite(s) => s.path.display().to_string(),
            Store::Postgres(p) => p.url.location(),
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::Sqlite(SqliteStore::default())
    }
}

/// The SQLite backend's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqliteStore {
    /// The SQLite file (with its `-wal` and `-shm` beside it).
    pub path: PathBuf,
}

/// Where a gateway of a fleet keeps the decisions the shared store has not
/// taken yet (beside the SQLite default, on the gateway's own disk).
pub fn default_outbox_path() -> PathBuf {
    PathBuf::from("/var/lib/cordon/outbox.db")
}

fn default_store_path() -> PathBuf {
    PathBuf::from("/var/lib/cordon/cordon.db")
}

impl Default for SqliteStore {
    fn default() -> Self {
        SqliteStore {
            path: default_store_path(),
        }
    }
}

/// Every key of the `store` section, whichever backend it belongs to.
const KEYS: &[&str] = &[
    "backend",
    "path",
    "url",
    "gateway",
    "pool_size",
    "connect_timeout",
    "tls",
    "password_file",
    "outbox",
];

/// The key a "key of the other backend" refusal names (its message begins
/// `store.KEY is a key of`), so the loader can point at that key's line
/// rather than the section's.
pub(crate) fn misplaced_store_key(message: &str) -> Option<&'static str> {
    let rest = message.strip_prefix("store: store.")?;
    let (key, tail) = rest.split_once(' ')?;
    tail.starts_with("is a key of")
        .then(|| KEYS.iter().copied().find(|k| *k == key))
        .flatten()
}

/// The `store` section as written: every backend's keys, read in one pass
/// so an unknown key or a bad value is refused at its own line, then sorted
/// into the [`Store`] of the chosen backend (a key of the other backend is
/// refused there, naming the backend it belongs to).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreKeys {
    /// `sqlite` (the default) or `postgres`.
    #[serde(default)]
    backend: Backend,
    /// The SQLite file (sqlite backend).
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<PgUrl>,
    #[serde(default)]
    gateway: Option<GatewayName>,
    #[serde(default)]
    pool_size: Option<PoolSize>,
    #[serde(default)]
    connect_timeout: Option<ConnectTimeout>,
    #[serde(default)]
    tls: Option<PgTls>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default)]
    outbox: Option<PathBuf>,
}

impl TryFrom<StoreKeys> for Store {
    type Error = String;
    fn try_from(k: StoreKeys) -> Result<Store, String> {
        let misplaced = |key: &str, backend: &str| {
            format!(
                "store.{key} is a key of the {backend} backend, but store.backend is {}; remove it or set store.backend: {backend}",
                k.backend.name()
            )
        };
        match k.backend {
            Backend::Sqlite => {
                let postgres_keys = [
                    ("url", k.url.is_some()),
                    ("gateway", k.gateway.is_some()),
                    ("pool_size", k.pool_size.is_some()),
                    ("connect_timeout", k.connect_timeout.is_some()),
                    ("tls", k.tls.is_some()),
                    ("password_file", k.password_file.is_some()),
                    ("outbox", k.outbox.is_some()),
                ];
                if let Some((key, _)) = postgres_keys.iter().find(|(_, set)| *set) {
                    return Err(misplaced(key, "postgres"));
                }
                Ok(Store::Sqlite(SqliteStore {
                    path: k.path.unwrap_or_else(default_store_path),
                }))
            }
            Backend::Postgres => {
                if k.path.is_some() {
                    return Err(misplaced("path", "sqlite"));
                }
                let url = k.url.ok_or(
                    "store.url is missing: the postgres backend needs the database's URL, such as postgresql://cordon@db.example/cordon",
                )?;
                let tls = k.tls.unwrap_or_default();
                if tls.mode != TlsMode::Disable && tls.ca_file.is_none() {
                    return Err(format!(
                        "store.tls.mode is {} but store.tls.ca_file is missing: name the PEM file of the CA that signed the server's certificate (cordon never accepts an unverified one), or set store.tls.mode: disable",
                        tls.mode.name()
                    ));
                }
                Ok(Store::Postgres(Box::new(PostgresStore {
                    url,
                    gateway: k.gateway,
                    pool_size: k.pool_size.unwrap_or_default(),
                    connect_timeout: k.connect_timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |t| t.0),
                    tls,
                    password_file: k.password_file,
                    outbox: k.outbox.unwrap_or_else(default_outbox_path),
                })))
            }
        }
    }
}

/// `store.connect_timeout` as written: a duration from 100 ms to 5 min
/// (zero would fail every connection; longer would hold every decision
/// that long before the store counts as unreachable).
struct ConnectTimeout(Duration);

impl<'de> Deserialize<'de> for ConnectTimeout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = crate::duration::deserialize(d)?;
        if (Duration::from_millis(100)..=Duration::from_secs(300)).contains(&t) {
            Ok(ConnectTimeout(t))
        } else {
            Err(serde::de::Error::custom(format!(
                "a connect timeout of {}: give 100ms to 5m",
                crate::duration::format(t)
            )))
        }
    }
}

/// The backends, by the name `store.backend` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    #[default]
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}
