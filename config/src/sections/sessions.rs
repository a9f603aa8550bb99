//! `sessions`: where cordond hears who holds which address. DHCP servers
//! and PPP servers call `cordon session` from their hooks and need nothing
//! here; RADIUS accounting needs a listener and its clients' secrets.

use std::net::{IpAddr, SocketAddr};

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
    /// The shared secret configured for cordond on that client.
    pub secret: String,
}

/// RFC 2865 §3 asks for secrets of at least 16 octets; a shorter one is
/// guessed offline from one captured packet.
const MIN_SECRET: usize = 16;
/// What the RFC's user interfaces must accept at least; longer ones are a
/// typo rather than a secret.
const MAX_SECRET: usize = 128;

impl RadiusAccounting {
    /// The secret for a request from `ip`: the narrowest client range that
    /// covers it.
    pub fn secret_for(&self, ip: IpAddr) -> Option<&str> {
        self.clients
            .iter()
            .filter(|c| c.address.net().contains(&ip))
            .max_by_key(|c| c.address.net().prefix_len())
            .map(|c| c.secret.as_str())
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
            if c.secret.len() < MIN_SECRET {
                p.push(
                    &at,
                    format!(
                        "the secret is {} bytes; use at least {MIN_SECRET} (RFC 2865 §3), the same on the client",
                        c.secret.len()
                    ),
                );
            } else if c.secret.len() > MAX_SECRET {
                p.push(&at, format!("the secret is longer than {MAX_SECRET} bytes"));
            } else if c.secret.chars().any(char::is_control) {
                p.push(&at, "the secret has control characters; use printable text");
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
