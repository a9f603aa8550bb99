//! `control`: the operators' and the portal's sockets to `cordond`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::Key;

/// Control and portal sockets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Operators' socket (`cordon` talks to it).
    #[serde(default = "default_control_socket")]
    pub socket: PathBuf,
    /// Its permission bits, as an octal string such as `"0660"`.
    #[serde(default = "default_mode")]
    pub mode: String,
    /// Group that may use it (operators).
    #[serde(default)]
    pub group: Option<String>,
    /// The portal's socket: one address at a time, nothing else.
    #[serde(default = "default_portal_socket")]
    pub portal_socket: PathBuf,
}

fn default_control_socket() -> PathBuf {
    PathBuf::from("/run/cordon/control.sock")
}
fn default_portal_socket() -> PathBuf {
    PathBuf::from("/run/cordon/portal.sock")
}
fn default_mode() -> String {
    "0660".into()
}

impl Default for Control {
    fn default() -> Self {
        Control {
            socket: default_control_socket(),
            mode: default_mode(),
            group: None,
            portal_socket: default_portal_socket(),
        }
    }
}

impl Control {
    /// The socket mode as permission bits (validated at load time).
    pub fn mode_bits(&self) -> u32 {
        u32::from_str_radix(self.mode.trim_start_matches("0o"), 8).unwrap_or(0o660)
    }
}

impl Control {
    /// A mode of permission bits; two different socket paths.
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        let mode = self.mode.trim_start_matches("0o");
        if u32::from_str_radix(mode, 8).map_or(true, |m| m > 0o777) {
            p.push(
                &[Key("mode")],
                format!(
                    "expected permission bits in octal such as \"0660\", found `{}`",
                    self.mode
                ),
            );
        }
        if self.socket == self.portal_socket {
            p.push(
                &[Key("portal_socket")],
                "the portal socket must be a different path from the control socket",
            );
        }
    }
}
