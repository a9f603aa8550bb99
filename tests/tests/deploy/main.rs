//! The deployment files (`deploy/`) and the Vagrant lab (`vagrant/`), checked
//! without a gateway or a hypervisor: the scripts parse and pass shellcheck,
//! `vagrant validate` accepts the Vagrantfile, the lab's config loads, the
//! Grafana dashboard queries only metrics cordond exports, and the configs
//! agree with the units (the units themselves: units.rs). Needs no root;
//! needs `shellcheck` and `vagrant` (scripts/install-deps test), and says so
//! when one is missing rather than skipping.
//!
//! One test binary (`--test deploy`), one module per kind of file: the
//! shell `scripts`, the session `hooks` (called as their servers call
//! them, with a stub `cordon`), the `vagrant` lab's Vagrantfile, the lab's `config`
//! against the units, and the `grafana` dashboard against cordond's metrics.
//! The list of script files, which two of them read, is here.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};

use common::repo::root;

mod config;
mod grafana;
mod hooks;
mod scripts;
mod vagrant;

/// Every file in `vagrant/provision/`, `scripts/` and `deploy/hooks/`, sorted.
fn script_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["vagrant/provision", "scripts", "deploy/hooks"] {
        let dir = root().join(dir);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}
