//! `sessions`: where cordond hears who holds which address. DHCP servers
//! and PPP servers call `cordon session` from their hooks and need nothing
//! here; RADIUS accounting needs a listener and its clients' secrets.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::{Index, Key};
use crate::types::Prefix;

/// Where sessions come from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    /// RADIUS accounting (RFC 2866) from the BNG or FreeRADIUS: off unless
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius: Option<RadiusAccounting>,
}

/// cordond's RADIUS accounting listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusAccounting {
    /// The UDP address and port to listen on (1813 is accounting's port).
    pub listen: SocketAddr,
    /// Who may send accounting, each with its shared secret. Requests from
    /// anyone else are dropped and logged.
    pub clients: Vec<RadiusClient>,
}

/// One accounting client: a BNG, a NAS or a FreeRADIUS server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusClient {
    /// Its address, or a range of them.
    pub address: Prefix,
    /// The shared secret configured for cordond on that client, in the
    /// config (which the portal's user can read too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Or a file holding it, readable by root only: only cordond reads it
    /// (at start and on reload), so the portal never sees the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
}

/// Why a client's secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read the RADIUS secret file {}: {source}; it must exist and be readable by cordond (root, mode 0600)", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// What it holds is not a usable secret.
    #[error("the RADIUS secret in {}: {why}", path.display())]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        why: String,
    },
}

impl RadiusClient {
    /// The secret: the inline one, or the file's first line.
    pub fn read_secret(&self) -> Result<String, SecretError> {
        match (&self.secret, &self.secret_file) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(path)) => read_secret_file(path),
            (None, None) => Err(SecretError::Unusable {
                path: PathBuf::new(),
                why: "no secret given".into(),
            }),
        }
    }
}

/// A secret file: one line, bounded, no control characters; read with a
/// size bound (a secret is at most 128 bytes).
fn read_secret_file(path: &Path) -> Result<String, SecretError> {
    use std::io::Read;
    let unreadable = |source| SecretError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(unreadable)?
        .take(4096)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    let secret = text.lines().next().unwrap_or("").to_owned();
    secret_problem(&secret)
        .map(|why| {
            Err(SecretError::Unusable {
                path: path.to_owned(),
                why,
            })
        })
        .unwrap_or(Ok(secret))
}

/// What is wrong with a secret, if anything.
fn secret_problem(secret: &str) -> Option<String> {
    if secret.len() < MIN_SECRET {
        Some(format!(
            "the secret is {} bytes; use at least {MIN_SECRET} (RFC 2865 §3), the same on the client",
            secret.len()
        ))
    } else if secret.len() > MAX_SECRET {
        Some(format!("the secret is longer than {MAX_SECRET} bytes"))
    } else if secret.chars().any(char::is_control) {
        Some("the secret has control characters; use printable text".into())
    } else {
        None
    }
}

/// RFC 2865 §3 asks for secrets of at least 16 octets; a shorter one is
/// guessed offline from one captured packet.
const MIN_SECRET: usize = 16;
/// What the RFC's user interfaces must accept at least; longer ones are a
/// typo rather than a secret.
const MAX_SECRET: usize = 128;

impl RadiusAccounting {
    /// The inline secret for a request from `ip`: the narrowest client
    /// range that covers it (none when that client's secret is in a file).
    pub fn secret_for(&self, ip: IpAddr) -> Option<&str> {
        self.clients
            .iter()
            .filter(|c| c.address.net().contains(&ip))
            .max_by_key(|c| c.address.net().prefix_len())
            .and_then(|c| c.secret.as_deref())
    }
}

impl Sessions {
    /// At least one client, usable secrets, no client listed twice.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        let Some(r) = &self.radius else { return };
        if r.clients.is_empty() {
            p.push(
                &[Key("radius"), Key("clients")],
                "list at least one accounting client (the BNG or FreeRADIUS) with its secret",
            );
        }
        for (i, c) in r.clients.iter().enumerate() {
            let at = [Key("radius"), Key("clients"), Index(i), Key("secret")];
            match (&c.secret, &c.secret_file) {
                (Some(secret), None) => {
                    if let Some(why) = secret_problem(secret) {
                        p.push(&at, why);
                    }
                }
                (None, Some(_)) => {}
                (Some(_), Some(_)) => p.push(&at, "give `secret` or `secret_file`, not both"),
                (None, None) => p.push(
                    &[Key("radius"), Key("clients"), Index(i)],
                    "give the client's `secret_file` (a root-only file) or `secret`",
                ),
            }
            if r.clients[..i].iter().any(|d| d.address == c.address) {
                p.push(
                    &[Key("radius"), Key("clients"), Index(i), Key("address")],
                    format!("`{}` is listed twice; list each client once", c.address),
                );
            }
        }
    }
}
