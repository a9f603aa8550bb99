//! The cleanup tools every lab's portal offers (`portal.tools_dir`): a
//! printable checklist and its `tools.yaml`, shipped in `tests/tools/` and
//! built into `cordon-lab`, so that a newcomer's lab and the demo show the
//! page's downloads (name, size, SHA-256) as a real gateway does.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::LabError;

/// The checklist's file name, as `tools.yaml` lists it.
pub const CHECKLIST: &str = "cleanup-checklist.txt";

/// The files of the directory: `tools.yaml` and the checklist.
pub const FILES: [(&str, &[u8]); 2] = [
    ("tools.yaml", include_bytes!("../tools/tools.yaml")),
    (CHECKLIST, include_bytes!("../tools/cleanup-checklist.txt")),
];

/// The checklist's bytes, as the portal serves them.
pub fn checklist() -> &'static [u8] {
    FILES[1].1
}

/// Lowercase hex SHA-256 of `bytes`, as the page prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes the tools into `dir` (created): world-readable, because the portal
/// reads them after it has become its own unprivileged user.
pub(crate) fn install(dir: &Path) -> Result<(), LabError> {
    std::fs::create_dir(dir).map_err(LabError::io(format!("creating {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(LabError::io(format!("opening up {}", dir.display())))?;
    for (name, bytes) in FILES {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .map_err(LabError::io(format!("writing {}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .map_err(LabError::io(format!("opening up {}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_the_checklist() {
        let list = std::str::from_utf8(FILES[0].1).unwrap_or_default();
        assert!(list.contains(&format!("file: {CHECKLIST}")), "{list}");
        assert_eq!(FILES[1].0, CHECKLIST);
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
