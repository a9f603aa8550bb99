//! Whether the config is readable by every local user. It maps the ISP's
//! defences (who may send on port 25, what is never quarantined) and will
//! hold secrets (RADIUS accounting, PostgreSQL), so cordond says so at start; it does not refuse, because an operator's chmod must
//! never be what keeps quarantines from being enforced.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// What to tell the operator about `config`'s mode, if anything.
pub(crate) fn config_warning(config: &Path) -> Option<String> {
    let mode = std::fs::metadata(config).ok()?.permissions().mode() & 0o7777;
    (mode & 0o007 != 0).then(|| {
        format!(
            "the config {} is readable by every user (mode {mode:o}) and should not be: chmod 0640 it, owned by root and the portal's group (deploy/README.md)",
            config.display()
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_world_readable_config_is_named_and_a_0640_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cordon.yaml");
        std::fs::write(&path, "table: cordon\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let said = config_warning(&path).unwrap();
        assert!(
            said.contains("mode 644") && said.contains("chmod 0640"),
            "{said}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(config_warning(&path), None);
    }
}
