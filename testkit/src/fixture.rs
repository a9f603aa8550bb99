//! Config fixtures as a builder: the smallest config the loader accepts,
//! and a call for each value a test depends on. Tests used to write the
//! whole YAML inline, a dozen times with small differences; now each says
//! only what it relies on, and a change of the config's shape is made here
//! once.
//!
//! ```
//! use cordon_testkit::Fixture;
//!
//! let dir = std::env::temp_dir();
//! let config = Fixture::new()
//!     .prefixes("[100.64.0.0/16]")
//!     .section("quarantine", "min_hold: 30m, quiet_period: 2h")
//!     .set("detection.reports", "{score: 3, window: 1d}")
//!     .store_in(&dir)
//!     .load();
//! assert_eq!(config.quarantine.min_hold.as_secs(), 30 * 60);
//! ```
//!
//! The YAML is written in block style, one line a key, as [`MINIMAL`]
//! is: sections in the order first set, values as given (YAML text: flow
//! lists and mappings, plain or quoted scalars).

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// The smallest config the loader accepts, everything else defaulted:
/// subscribers `100.64.0.0/16` and `2001:db8:1000::/36`, downlink `sub0`,
/// uplink `eth0`, resolver `192.0.2.53`, portal URL
/// `http://portal.example/`. [`Fixture::new`] starts from it; tests of the
/// loader's own messages (which name lines and columns) use the text.
pub const MINIMAL: &str = "\
subscribers:
  prefixes: [100.64.0.0/16, 2001:db8:1000::/36]
interfaces:
  downlink: [sub0]
  uplink: [eth0]
walled_garden:
  resolvers: [192.0.2.53]
portal:
  public_url: http://portal.example/
";

/// A config under construction. Every method takes and returns it, so a
/// fixture is one expression; [`Fixture::yaml`] gives its text,
/// [`Fixture::load`] the loaded [`cordon_config::Config`], [`Fixture::write`]
/// a file for a binary to read.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Top-level keys in order, each a section of entries or one value.
    keys: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
enum Value {
    /// `key:` then `  entry: value` lines.
    Section(Vec<(String, String)>),
    /// `key: value` on one line (a list, a scalar, a flow mapping).
    Whole(String),
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// The smallest config the loader accepts, everything else defaulted:
    /// [`MINIMAL`].
    pub fn new() -> Fixture {
        let mut f = Fixture { keys: Vec::new() };
        let mut section = "";
        for line in MINIMAL.lines() {
            match line.strip_prefix("  ").and_then(|l| l.split_once(": ")) {
                Some((k, v)) => f = f.set(&format!("{section}.{k}"), v),
                None => section = line.trim_end_matches(':'),
            }
        }
        f
    }

    /// Sets one value, `value` being its YAML text. `path` is a top-level
    /// key (`"retention"`, `"never_quarantine"`: the value replaces whatever
    /// the key held, a whole section included) or `section.key`
    /// (`"quarantine.min_hold"`: one entry, replaced in place or added last).
    /// Deeper values are given whole: `set("detection.smtp_attempts",
    /// "{threshold: 20, window: 10s}")`.
    pub fn set(mut self, path: &str, value: impl Display) -> Fixture {
        let value = value.to_string();
        let Some((section, key)) = path.split_once('.') else {
            match self.keys.iter_mut().find(|(k, _)| k == path) {
                Some((_, v)) => *v = Value::Whole(value),
                None => self.keys.push((path.to_owned(), Value::Whole(value))),
            }
            return self;
        };
        assert!(
            !key.contains('.'),
            "fixture: {path} is too deep; set {section}.{} whole",
            key.split('.').next().unwrap_or(key)
        );
        let entries = match self.keys.iter_mut().find(|(k, _)| k == section) {
            Some((_, Value::Section(entries))) => entries,
            Some((_, Value::Whole(v))) => {
                panic!("fixture: {section} was set whole ({v}); set it as a section to set {path}")
            }
            None => {
                self.keys
                    .push((section.to_owned(), Value::Section(Vec::new())));
                match self.keys.last_mut() {
                    Some((_, Value::Section(entries))) => entries,
                    _ => unreachable!("just pushed a section"),
                }
            }
        };
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => entries.push((key.to_owned(), value)),
        }
        self
    }

    /// Sets a path value (a store file, a socket, a directory), quoted so
    /// that any temporary directory's name is read back as written.
    pub fn set_path(self, path: &str, value: &Path) -> Fixture {
        let quoted = serde_json::to_string(&value.display().to_string())
            .unwrap_or_else(|e| panic!("quoting {}: {e}", value.display()));
        self.set(path, quoted)
    }

    /// Sets each entry of a section from the inside of a flow mapping,
    /// `"min_hold: 30m, quiet_period: 2h"`, keeping the section's other
    /// entries. Values may be flow lists or mappings themselves.
    pub fn section(self, section: &str, entries: &str) -> Fixture {
        split_flow(entries)
            .into_iter()
            .fold(self, |f, (k, v)| f.set(&format!("{section}.{k}"), v))
    }

    /// Removes a top-level key or one entry of a section (a test of what
    /// happens without it).
    pub fn without(mut self, path: &str) -> Fixture {
        match path.split_once('.') {
            None => self.keys.retain(|(k, _)| k != path),
            Some((section, key)) => {
                if let Some((_, Value::Section(entries))) =
                    self.keys.iter_mut().find(|(k, _)| k == section)
                {
                    entries.retain(|(k, _)| k != key);
                }
            }
        }
        self
    }

    /// `subscribers.prefixes`, a YAML list: `"[100.64.0.0/16]"`.
    pub fn prefixes(self, list: &str) -> Fixture {
        self.set("subscribers.prefixes", list)
    }

    /// The store's file, `cordon.db` in `dir` (the one place that knows
    /// how a store is named in the config).
    pub fn store_in(self, dir: &Path) -> Fixture {
        self.set_path("store.path", &dir.join("cordon.db"))
    }

    /// cordond's sockets in `dir`: `control.sock` for the CLI,
    /// `portal.sock` for the portal.
    pub fn control_in(self, dir: &Path) -> Fixture {
        self.set_path("control.socket", &dir.join("control.sock"))
            .set_path("control.portal_socket", &dir.join("portal.sock"))
    }

    /// The config's text.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.keys {
            match value {
                Value::Whole(v) => out.push_str(&format!("{key}: {v}\n")),
                Value::Section(entries) => {
                    out.push_str(&format!("{key}:\n"));
                    for (k, v) in entries {
                        out.push_str(&format!("  {k}: {v}\n"));
                    }
                }
            }
        }
        out
    }

    /// The config, loaded as cordond would load it (`fixture.yaml` names
    /// the file in errors); panics with the loader's errors and the text
    /// if it is refused.
    pub fn load(&self) -> cordon_config::Config {
        let text = self.yaml();
        cordon_config::load_str(&text, Path::new("fixture.yaml"))
            .unwrap_or_else(|e| panic!("the fixture is refused: {e}\n{text}"))
    }

    /// Writes the config to `dir/cordon.yaml` and returns that path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("cordon.yaml");
        std::fs::write(&path, self.yaml())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

/// Splits the inside of a flow mapping into its entries, at the commas and
/// colons outside brackets, braces and quotes.
fn split_flow(text: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p
                .split_once(": ")
                .unwrap_or_else(|| panic!("fixture: {p:?} is not `key: value`"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_is_the_minimal_config_in_block_style() {
        assert_eq!(Fixture::new().yaml(), MINIMAL);
        Fixture::new().load();
    }

    #[test]
    fn sections_are_split_at_their_own_commas_and_set_in_place() {
        let f = Fixture::new()
            .section(
                "quarantine",
                "min_hold: 30m, self_release: {count: 2, window: 30d}",
            )
            .set("quarantine.min_hold", "1h")
            .set("never_quarantine", "[100.64.0.1]")
            .without("portal");
        let text = f.yaml();
        assert!(
            text.ends_with(
                "quarantine:\n  min_hold: 1h\n  self_release: {count: 2, window: 30d}\n\
                 never_quarantine: [100.64.0.1]\n"
            ),
            "{text}"
        );
        assert!(!text.contains("portal"), "{text}");
    }

    #[test]
    fn paths_are_quoted_and_read_back_as_written() {
        let dir = Path::new("/tmp/a dir: with # odd \"chars\"");
        let c = Fixture::new().store_in(dir).load();
        assert_eq!(c.store.sqlite_path(), Some(dir.join("cordon.db").as_path()));
    }
}
