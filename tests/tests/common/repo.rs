//! The repository's files as the deploy and unit tests read them: paths,
//! a temporary directory, running a tool that says what to install when it is
//! missing, and a reader for systemd unit files.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// The workspace root (this package lives in `tests/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(stem: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "cordon-deploy-{stem}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a tool the tests need; a missing one fails with what to install.
pub fn run(program: &str, install_hint: &str, configure: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = Command::new(program);
    configure(&mut cmd);
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed, and this test needs it: {install_hint} \
             (scripts/install-deps test installs what the tests need)"
        ),
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A unit file: section -> key -> every value given (keys may repeat).
pub struct Unit {
    pub path: String,
    sections: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

pub fn unit(rel: &str) -> Unit {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = String::new();
    for (n, line) in read(rel).lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "{rel}:{}: keep values on one line",
            n + 1
        );
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{rel}:{}: not key=value: {line}", n + 1));
        assert!(
            !current.is_empty(),
            "{rel}:{}: key before any section",
            n + 1
        );
        sections
            .entry(current.clone())
            .or_default()
            .entry(k.trim().to_owned())
            .or_default()
            .push(v.trim().to_owned());
    }
    Unit {
        path: rel.to_owned(),
        sections,
    }
}

impl Unit {
    pub fn all(&self, section: &str, key: &str) -> Vec<String> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or_default()
    }

    /// The value of a key given exactly once.
    pub fn one(&self, section: &str, key: &str) -> String {
        let v = self.all(section, key);
        assert_eq!(v.len(), 1, "{}: [{section}] {key}= once: {v:?}", self.path);
        v[0].clone()
    }

    pub fn expect(&self, section: &str, key: &str, value: &str) {
        assert_eq!(
            self.one(section, key),
            value,
            "{}: [{section}] {key}",
            self.path
        );
    }

    /// Space-separated words over every assignment of a key (an empty
    /// assignment resets the list, as systemd reads it).
    pub fn words(&self, section: &str, key: &str) -> BTreeSet<String> {
        let mut words = BTreeSet::new();
        for v in self.all(section, key) {
            if v.is_empty() {
                words.clear();
            }
            words.extend(v.split_whitespace().map(str::to_owned));
        }
        words
    }

    pub fn has(&self, section: &str, key: &str) -> bool {
        !self.all(section, key).is_empty()
    }
}

pub fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}
