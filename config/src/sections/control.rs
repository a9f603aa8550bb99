//! `control`: the operators' and the portal's sockets to `cordond`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::locate::Seg::Key;
use crate::types::serde_via_str;

/// Control and portal sockets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Operators' socket (`cordon` talks to it).
    #[serde(default = "default_control_socket")]
    pub socket: PathBuf,
    /// Its permission bits, written in octal such as `"0660"`.
    #[serde(default = "default_mode")]
    pub mode: SocketMode,
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
/// Owner and group read and write: operators are the socket's group.
fn default_mode() -> SocketMode {
    SocketMode(0o660)
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
    /// Two different socket paths (the mode is checked by its type).
    pub(crate) fn check(&self, p: &mut Section<'_>) {
        if self.socket == self.portal_socket {
            p.push(
                &[Key("portal_socket")],
                "the portal socket must be a different path from the control socket",
            );
        }
    }
}

/// A Unix socket's permission bits, parsed once at load from the octal text
/// an operator writes (`"0660"`, `"660"` or `"0o660"`): the daemon sets
/// exactly these, so a mode `check-config` passes is the mode the socket
/// gets, with no second reading that could fall back to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketMode(u32);

impl SocketMode {
    /// Read and write for the owner alone.
    pub const OWNER_ONLY: SocketMode = SocketMode(0o600);

    /// The bits, at most `0o777`, for `chmod`.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl FromStr for SocketMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "expected permission bits in octal such as \"0660\", found `{}`",
                s.escape_debug()
            )
        };
        let digits = s.strip_prefix("0o").unwrap_or(s);
        // Octal digits only: no sign or space, which `from_str_radix`
        // would take. Too many digits overflow, refused below as too big.
        if digits.is_empty() || !digits.bytes().all(|b| matches!(b, b'0'..=b'7')) {
            return Err(bad());
        }
        match u32::from_str_radix(digits, 8) {
            Ok(bits) if bits <= 0o777 => Ok(SocketMode(bits)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for SocketMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

serde_via_str!(SocketMode, "permission bits in octal, such as \"0660\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_modes_are_octal_permission_bits() {
        for (text, bits) in [
            ("0660", 0o660),
            ("660", 0o660),
            ("0o640", 0o640),
            ("00600", 0o600),
            ("0", 0),
        ] {
            let m: SocketMode = text.parse().unwrap();
            assert_eq!(m.bits(), bits, "{text}");
            assert_eq!(m.to_string().parse::<SocketMode>(), Ok(m), "{text}");
        }
        assert_eq!(SocketMode(0o660).to_string(), "0660");
        for bad in [
            "",
            "999",
            "1000",
            "0o1000",
            "+660",
            " 660",
            "0o0o660",
            "rw-rw----",
            "0x1b6",
            "77777777777777",
        ] {
            let e = bad.parse::<SocketMode>().unwrap_err();
            assert!(e.contains("octal"), "{bad:?}: {e}");
        }
        let e = "6\u{1b}[2J".parse::<SocketMode>().unwrap_err();
        assert!(e.contains(r"\u{1b}"), "control characters escaped: {e}");
    }
}
