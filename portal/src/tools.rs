//! Cleanup tools offered for download from `portal.tools_dir`.
//!
//! The directory holds the files and a `tools.yaml` naming and describing
//! each one per language:
//!
//! ```yaml
//! tools:
//!   - file: msert.exe
//!     name: { en: Microsoft Safety Scanner, es: ..., da: ... }
//!     description: { en: Finds and removes harmful programs on Windows., ... }
//! ```
//!
//! Only files listed there are served, each by its exact name, from the path
//! resolved when the list was read. A name with a slash or `..` is refused,
//! and so is a symlink that leads out of the directory: nothing outside it is
//! ever served, whatever the request's path says. Sizes and SHA-256 sums are
//! computed once and again only for files whose size or time changed; the
//! list is re-read when the directory, `tools.yaml` or a file changes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body_util::BodyExt;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::error::{Error, Result};
use crate::respond::Body;

/// The list's file name inside the directory.
pub const LIST_FILE: &str = "tools.yaml";

/// How often a request may look at the directory for changes: often enough
/// that an operator's new file shows within seconds, rarely enough that a
/// burst of requests does not become a burst of `stat` calls.
const CHECK_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListFile {
    tools: Vec<ListEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListEntry {
    /// The file's name in the directory.
    file: String,
    /// Its name per language.
    name: BTreeMap<String, String>,
    /// What it does, per language.
    #[serde(default)]
    description: BTreeMap<String, String>,
}

/// One downloadable file.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Its name in the directory and in the download URL.
    pub file: String,
    path: PathBuf,
    /// Bytes.
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
    modified: Option<SystemTime>,
    names: BTreeMap<String, String>,
    descriptions: BTreeMap<String, String>,
}

/// A tool as a page shows it, in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolView {
    /// File name.
    pub file: String,
    /// Download link, relative to the portal's root.
    pub href: String,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// `12 MB`.
    pub size: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// What the directory looked like when the list was made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Fingerprint {
    dir: Option<SystemTime>,
    list: Option<(u64, SystemTime)>,
    files: Vec<Option<(u64, SystemTime)>>,
}

/// The tools as a page lists them in one language: made when the list is
/// read, shared by every page that shows it (a cleanup page under an
/// outbreak is asked for thousands of times a second, and each once built
/// its own list of formatted links and sizes).
pub type Listing = Arc<[ToolView]>;

#[derive(Debug, Default)]
struct Catalog {
    tools: Vec<Tool>,
    fingerprint: Fingerprint,
    /// The listing in each language some tool is named in.
    listings: BTreeMap<String, Listing>,
    /// The listing in any other language: the fallback's names.
    other: Listing,
}

impl Catalog {
    /// Makes the listings, one per language the list names a tool in.
    fn listed(mut self, fallback: &str) -> Catalog {
        let view = |lang: &str| -> Listing {
            self.tools
                .iter()
                .map(|t| ToolView {
                    file: t.file.clone(),
                    href: format!("tools/{}", encode_path_segment(&t.file)),
                    name: pick(&t.names, lang, fallback),
                    description: pick(&t.descriptions, lang, fallback),
                    size: human_size(t.size),
                    sha256: t.sha256.clone(),
                })
                .collect()
        };
        let langs: std::collections::BTreeSet<&String> = self
            .tools
            .iter()
            .flat_map(|t| t.names.keys().chain(t.descriptions.keys()))
            .collect();
        let listings = langs.into_iter().map(|l| (l.clone(), view(l))).collect();
        let other = view(fallback);
        self.listings = listings;
        self.other = other;
        self
    }

    /// The listing in `lang`: a language no tool is named in gets what
    /// [`pick`] gives it, the fallback's names.
    fn listing(&self, lang: &str) -> Listing {
        Arc::clone(self.listings.get(lang).unwrap_or(&self.other))
    }
}

/// The tools, kept fresh.
#[derive(Debug)]
pub struct Tools {
    dir: Option<PathBuf>,
    fallback: String,
    current: RwLock<Arc<Catalog>>,
    checked: tokio::sync::Mutex<Instant>,
}

impl Tools {
    /// Reads `dir` (none: no tools). A missing directory is logged and offers
    /// nothing until it appears; an invalid `tools.yaml` is an error, so the
    /// operator sees it at startup.
    pub fn load(dir: Option<PathBuf>, fallback_lang: &str) -> Result<Tools> {
        let catalog = match &dir {
            Some(d) => build(d, &Catalog::default())?,
            None => Catalog::default(),
        }
        .listed(fallback_lang);
        if let Some(d) = &dir {
            tracing::info!(dir = %d.display(), tools = catalog.tools.len(), "cleanup tools listed");
        }
        Ok(Tools {
            dir,
            fallback: fallback_lang.to_owned(),
            current: RwLock::new(Arc::new(catalog)),
            checked: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    fn snapshot(&self) -> Arc<Catalog> {
        Arc::clone(&self.current.read())
    }

    /// Re-reads the list if the directory changed since the last look.
    /// Hashing runs off the async threads; one request does it and the
    /// others go on with the list they have (it is at most one look old):
    /// waiting on the lock in turn, every cleanup page of every runtime
    /// queued behind the one before it (a convoy: 0.2 ms a page with
    /// keep-alive and 7 ms with a connection per page under an outbreak,
    /// BENCHMARKS.md). On an error the previous list stays.
    async fn refresh(&self) {
        let Some(dir) = &self.dir else { return };
        let Ok(mut checked) = self.checked.try_lock() else {
            return;
        };
        if checked.elapsed() < CHECK_EVERY {
            return;
        }
        let dir = dir.clone();
        let old = self.snapshot();
        let fallback = self.fallback.clone();
        let result = tokio::task::spawn_blocking(move || {
            if fingerprint(&dir, &old.tools) == old.fingerprint {
                return Ok(None);
            }
            build(&dir, &old).map(|c| Some(c.listed(&fallback)))
        })
        .await;
        *checked = Instant::now();
        match result {
            Ok(Ok(Some(catalog))) => {
                tracing::info!(tools = catalog.tools.len(), "cleanup tools re-read");
                *self.current.write() = Arc::new(catalog);
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "keeping the previous tools list"),
            Err(e) => tracing::warn!(error = %e, "re-reading the tools list failed"),
        }
    }

    /// The tools in `lang`.
    pub async fn list(&self, lang: &str) -> Listing {
        self.refresh().await;
        self.snapshot().listing(lang)
    }

    /// Serves the tool whose file name is `name` (already percent-decoded),
    /// or `None` when there is no such tool. Range, ETag, Last-Modified and
    /// conditional requests are `tower-http`'s; the file is streamed.
    pub async fn serve(&self, name: &str, req: Request<()>) -> Option<Response<Body>> {
        self.refresh().await;
        let tool = self
            .snapshot()
            .tools
            .iter()
            .find(|t| t.file == name)?
            .clone();
        let response = match ServeFile::new(&tool.path).oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (mut parts, body) = response.into_parts();
        if parts.status.is_success() {
            parts
                .headers
                .insert(header::CONTENT_DISPOSITION, content_disposition(&tool.file));
        }
        Some(Response::from_parts(parts, body.boxed_unsync()))
    }
}

fn pick(map: &BTreeMap<String, String>, lang: &str, fallback: &str) -> String {
    map.get(lang)
        .or_else(|| map.get(fallback))
        .or_else(|| map.values().next())
        .cloned()
        .unwrap_or_default()
}

/// `attachment`, with an ASCII name for old clients and the exact UTF-8 name
/// (RFC 6266) for the rest.
fn content_disposition(file: &str) -> HeaderValue {
    let ascii: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' && c != '%' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let value = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encode_path_segment(file)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sizes in whole units: the same in every language offered.
fn human_size(bytes: u64) -> String {
    const K: u64 = 1000;
    match bytes {
        b if b < K => format!("{b} B"),
        b if b < K * K => format!("{} KB", b.div_ceil(K)),
        b if b < K * K * K => format!("{} MB", (b + K * K / 2) / (K * K)),
        b => format!("{:.1} GB", b as f64 / (K * K * K) as f64),
    }
}

/// A file name from `tools.yaml` that names a plain file inside the directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

fn stamp(meta: &std::fs::Metadata) -> Option<(u64, SystemTime)> {
    meta.modified().ok().map(|m| (meta.len(), m))
}

fn fingerprint(dir: &Path, tools: &[Tool]) -> Fingerprint {
    Fingerprint {
        dir: std::fs::metadata(dir).and_then(|m| m.modified()).ok(),
        list: std::fs::metadata(dir.join(LIST_FILE))
            .ok()
            .and_then(|m| stamp(&m)),
        files: tools
            .iter()
            .map(|t| std::fs::metadata(&t.path).ok().and_then(|m| stamp(&m)))
            .collect(),
    }
}

/// Reads the list and the files, reusing sums from `old` for unchanged files.
fn build(dir: &Path, old: &Catalog) -> Result<Catalog> {
    let err = |reason: String| Error::Tools {
        dir: dir.to_owned(),
        reason,
    };
    let root = match dir.canonicalize() {
        Ok(root) => root,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "tools directory missing; no tools offered until it appears");
            return Ok(Catalog {
                tools: Vec::new(),
                fingerprint: fingerprint(dir, &[]),
                ..Catalog::default()
            });
        }
    };
    let list_path = root.join(LIST_FILE);
    let text = match std::fs::read_to_string(&list_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "no {LIST_FILE} in the tools directory; no tools offered");
            return Ok(Catalog {
                tools: Vec::new(),
                fingerprint: fingerprint(dir, &[]),
                ..Catalog::default()
            });
        }
        Err(e) => return Err(err(format!("cannot read {LIST_FILE}: {e}"))),
    };
    let list: ListFile = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        err(format!("{LIST_FILE}{at}: {e}"))
    })?;

    let mut tools = Vec::new();
    for entry in list.tools {
        if !valid_name(&entry.file) {
            return Err(err(format!(
                "{LIST_FILE}: {:?} is not a plain file name in the directory (no slashes, no leading dot)",
                entry.file
            )));
        }
        if entry.name.is_empty() {
            return Err(err(format!(
                "{LIST_FILE}: {} has no name (give name: {{ en: ... }})",
                entry.file
            )));
        }
        if tools.iter().any(|t: &Tool| t.file == entry.file) {
            return Err(err(format!("{LIST_FILE}: {} is listed twice", entry.file)));
        }
        let path = match root.join(&entry.file).canonicalize() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(file = %entry.file, error = %e, "listed tool is missing; not offered");
                continue;
            }
        };
        // A symlink may point anywhere; only what stays inside is served.
        if path.parent() != Some(root.as_path()) {
            tracing::warn!(file = %entry.file, target = %path.display(), "listed tool leads out of the tools directory; not offered");
            continue;
        }
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => {
                tracing::warn!(file = %entry.file, "listed tool is not a regular file; not offered");
                continue;
            }
        };
        let modified = meta.modified().ok();
        let reused = old
            .tools
            .iter()
            .find(|t| {
                t.path == path
                    && t.size == meta.len()
                    && t.modified == modified
                    && modified.is_some()
            })
            .map(|t| t.sha256.clone());
        let sha256 = match reused {
            Some(s) => s,
            None => {
                sha256_file(&path).map_err(|e| err(format!("cannot read {}: {e}", entry.file)))?
            }
        };
        tools.push(Tool {
            file: entry.file,
            path,
            size: meta.len(),
            sha256,
            modified,
            names: entry.name,
            descriptions: entry.description,
        });
    }
    let fingerprint = fingerprint(dir, &tools);
    Ok(Catalog {
        tools,
        fingerprint,
        ..Catalog::default()
    })
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests;
