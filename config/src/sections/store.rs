//! `store`: where quarantine records and the audit trail are kept.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::unbuilt::not_yet;
use crate::check::Section;
use crate::locate::Seg::Key;

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

impl Store {
    /// The postgres backend and its `url` refused: not built yet.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        if self.backend == StoreBackend::Postgres {
            p.push(
                &[Key("backend")],
                "the postgres backend is not available in this version; use `sqlite`",
            );
        }
        if self.url.is_some() {
            p.push(
                &[Key("url")],
                not_yet(
                    "store.url is for the postgres backend, which is",
                    "remove it",
                ),
            );
        }
    }
}
