//! `store`: where quarantine records and the audit trail are kept, by
//! backend: `store: { backend: sqlite, path: ... }`, `backend` defaulting to
//! `sqlite` so `store: { path: ... }` reads as it always did.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::unbuilt::not_yet;

/// Where records are kept: one variant per backend, each with only its own
/// keys. A backend not built yet is refused at load, at `store.backend`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "StoreKeys", tag = "backend", rename_all = "lowercase")]
pub enum Store {
    /// One SQLite file (one gateway).
    Sqlite(SqliteStore),
}

impl Store {
    /// The file the records are kept in. Every backend built so far keeps
    /// one; a backend without a file (PostgreSQL) will change this.
    pub fn path(&self) -> &Path {
        match self {
            Store::Sqlite(s) => &s.path,
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

/// The `store` section as written: every backend's keys, read in one pass
/// so an unknown key or a bad value is refused at its own line, then sorted
/// into the [`Store`] of the chosen backend.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreKeys {
    /// `sqlite` (the default), or `postgres` (refused: not built yet).
    #[serde(default)]
    backend: Backend,
    /// The SQLite file (sqlite backend).
    #[serde(default = "default_store_path")]
    path: PathBuf,
    /// The PostgreSQL connection string: refused while that backend is not
    /// built (see [`PostgresKey`]).
    #[serde(default)]
    url: Option<PostgresKey>,
}

impl TryFrom<StoreKeys> for Store {
    type Error = String;
    fn try_from(keys: StoreKeys) -> Result<Store, String> {
        // `url` never gets here set: its value is refused as it is read.
        debug_assert!(keys.url.is_none());
        match keys.backend {
            Backend::Sqlite => Ok(Store::Sqlite(SqliteStore { path: keys.path })),
        }
    }
}

/// The backends built, by the name `store.backend` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Backend {
    #[default]
    Sqlite,
}

/// Backends designed but not built: named with the same refusal as every
/// unbuilt key ([`not_yet`]) rather than as an unknown variant.
const UNBUILT_BACKENDS: &[&str] = &["postgres"];

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Backend;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a store backend: `sqlite`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Backend, E> {
                match s {
                    "sqlite" => Ok(Backend::Sqlite),
                    _ if UNBUILT_BACKENDS.contains(&s) => Err(E::custom(not_yet(
                        &format!("the {s} backend is"),
                        "use `sqlite` (the default)",
                    ))),
                    _ => Err(E::unknown_variant(s, &["sqlite"])),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A key of the PostgreSQL backend, which is not built: any value is
/// refused where it is written, with the wording every unbuilt key gets.
struct PostgresKey;

impl<'de> Deserialize<'de> for PostgresKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn refusal() -> String {
            not_yet(
                "store.url is for the postgres backend, which is",
                "remove it",
            )
        }
        // Refused from inside the reader's visit, so the error carries the
        // value's line and column.
        struct V;
        impl Visitor<'_> for V {
            type Value = PostgresKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&refusal())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<PostgresKey, E> {
                Err(E::custom(refusal()))
            }
        }
        d.deserialize_str(V)
    }
}
