//! `webhooks`: where every state change is POSTed, signed, so the ISP's CRM
//! or ticket system hears of it. Each hook has its URL, the events it
//! wants, the file holding its HMAC key, and the bounds of its queue.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::Problems;
use crate::duration;
use crate::locate::Seg::{Index, Key};

/// One receiver of transitions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Where to POST: `http://` or `https://` (verified against the
    /// system's roots, or `ca_file`).
    pub url: WebhookUrl,
    /// The events wanted; absent means all of them.
    #[serde(default = "Event::all")]
    pub events: Vec<Event>,
    /// A file holding the HMAC-SHA256 key (at least 32 bytes; a trailing
    /// newline is not part of it). Never inline: the config is readable
    /// by the portal's user, the key only by root.
    pub secret_file: PathBuf,
    /// PEM certificates to trust for an `https://` URL instead of the
    /// system's roots (an internal CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// How long one attempt may take, connecting to reading the answer.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// An event not delivered this long after it happened is dropped (and
    /// counted as failed): a week-old quarantine is news to nobody.
    #[serde(default = "default_max_age", with = "duration")]
    pub max_age: Duration,
    /// At most this many events wait for the hook; beyond, the oldest are
    /// dropped (counted, and the queue-full alarm metric is raised).
    #[serde(default = "default_max_queued")]
    pub max_queued: u64,
}

/// Ten seconds: a CRM's endpoint answers in well under a second, and a
/// stuck one must not hold the queue long.
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Three days: a long weekend of the receiver being down.
fn default_max_age() -> Duration {
    Duration::from_secs(3 * 86_400)
}

/// 100 000 events: a few megabytes of rows, far more than a busy day's
/// transitions.
fn default_max_queued() -> u64 {
    100_000
}

/// What a hook can ask for: one kind of transition each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Walled in (from any state).
    Quarantined,
    /// A quarantine ended (by the quiet test, the subscriber or an
    /// operator): on probation, or clean.
    Released,
    /// Noticed (the soft answer).
    Noticed,
    /// A notice ended without a quarantine.
    NoticeEnded,
    /// Put on probation other than by a release.
    Probation,
    /// Probation ended: clean again.
    ProbationEnded,
}

impl Event {
    /// Every event, the default of `events`.
    pub fn all() -> Vec<Event> {
        vec![
            Event::Quarantined,
            Event::Released,
            Event::Noticed,
            Event::NoticeEnded,
            Event::Probation,
            Event::ProbationEnded,
        ]
    }

    /// The name in the config and in the payload's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Quarantined => "quarantined",
            Event::Released => "released",
            Event::Noticed => "noticed",
            Event::NoticeEnded => "notice_ended",
            Event::Probation => "probation",
            Event::ProbationEnded => "probation_ended",
        }
    }
}

/// A hook's URL: absolute `http://` or `https://` with a host, no user
/// name or password (they would show in logs and metrics labels; put
/// credentials in the signature's key instead), at most 2048 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is `https://`.
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

impl FromStr for WebhookUrl {
    type Err = String;
    fn from_str(url: &str) -> Result<Self, String> {
        const GIVE: &str = "give the receiver's address, e.g. https://crm.isp.example/cordon";
        let uri = super::http_url::checked(url, GIVE)?;
        let bad = |why: &str| super::http_url::bad(url, why, GIVE);
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad(
                "carries a user name or password, which would show in logs; the signature authenticates cordond",
            ));
        }
        Ok(WebhookUrl(url.to_owned()))
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<WebhookUrl> for String {
    fn from(u: WebhookUrl) -> String {
        u.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shortest key: HMAC-SHA256's own output size, so the key is no
/// weaker than the hash.
pub const MIN_SECRET: usize = 32;
/// The longest key read: a key file of kilobytes is a wrong file.
pub const MAX_SECRET: usize = 4096;

/// Why a hook's key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSecretError {
    /// The file could not be read.
    #[error("cannot read the webhook secret file {}: {source}; it must exist and be readable by cordond (root, mode 0600)", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Too short or too long.
    #[error("the webhook secret in {} is {len} bytes; use {MIN_SECRET} to {MAX_SECRET} (e.g. `openssl rand -hex 32 > FILE`)", path.display())]
    Length {
        /// The file.
        path: PathBuf,
        /// What it held (without a trailing newline).
        len: usize,
    },
}

impl Webhook {
    /// The HMAC key: the file's bytes without a trailing newline, read
    /// with a size bound.
    pub fn read_secret(&self) -> Result<Vec<u8>, WebhookSecretError> {
        read_key(&self.secret_file)
    }
}

fn read_key(path: &Path) -> Result<Vec<u8>, WebhookSecretError> {
    use std::io::Read;
    let mut key = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET as u64 + 2).read_to_end(&mut key))
        .map_err(|source| WebhookSecretError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
    for end in [b'\n', b'\r'] {
        if key.last() == Some(&end) {
            key.pop();
        }
    }
    if !(MIN_SECRET..=MAX_SECRET).contains(&key.len()) {
        return Err(WebhookSecretError::Length {
            path: path.to_owned(),
            len: key.len(),
        });
    }
    Ok(key)
}

/// The checks types cannot make: each hook once, some event, sane bounds.
pub(crate) fn check(hooks: &[Webhook], p: &mut Problems) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, h) in hooks.iter().enumerate() {
        let at = |k: &'static str| [Key("webhooks"), Index(i), Key(k)];
        if !seen.insert(&h.url) {
            p.push(
                &at("url"),
                "this URL is given twice; one hook per URL (its queue is kept by URL)",
            );
        }
        if h.events.is_empty() {
            p.push(
                &at("events"),
                "expected at least one event, or leave `events` out for all of them",
            );
        }
        if h.timeout < Duration::from_secs(1) || h.timeout > Duration::from_secs(120) {
            p.push(&at("timeout"), "expected between 1s and 2m");
        }
        if h.max_age < Duration::from_secs(60) {
            p.push(
                &at("max_age"),
                "expected at least 1m, or events are dropped before the first retry",
            );
        }
        if h.max_queued == 0 || h.max_queued > 10_000_000 {
            p.push(&at("max_queued"), "expected between 1 and 10000000");
        }
        if h.ca_file.is_some() && !h.url.is_https() {
            p.push(&at("ca_file"), "only an https:// URL uses a CA file");
        }
    }
}
