//! The store's files are private to cordond (0600): they hold personal data
//! (who held which address, when, and why they were quarantined). Under the
//! unit, `UMask=0077` already gives that; started any other way (the lab, an
//! operator's shell with umask 022) SQLite would create them 0644, readable
//! by every local user. So cordond creates the file 0600 itself (SQLite gives
//! the WAL and its index the database's mode) and takes group and other
//! access away from files an earlier run left open.

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of the store's files.
pub(crate) const MODE: u32 = 0o600;

/// A file that was readable or writable by others, and its old mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tightened {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its permission bits before.
    pub(crate) was: u32,
}

/// The database, its WAL and its WAL index.
fn files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [db.to_owned(), with("-wal"), with("-shm")]
}

/// Creates `db` with mode 0600 unless it exists.
pub(crate) fn create(db: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Takes group and other access away from the store's existing files;
/// returns those it changed. A file that cannot be changed (owned by someone
/// else) is an error for the caller to report; the store still opens.
pub(crate) fn tighten(db: &Path) -> Result<Vec<Tightened>, (PathBuf, std::io::Error)> {
    let mut changed = Vec::new();
    for path in files(db) {
        let mode = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m.permissions().mode() & 0o7777,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err((path, e)),
        };
        if mode & 0o077 == 0 {
            continue;
        }
        std::fs::set_permissions(&path, Permissions::from_mode(mode & 0o700))
            .map_err(|e| (path.clone(), e))?;
        changed.push(Tightened { path, was: mode });
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn create_makes_a_new_file_0600_and_leaves_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        create(&db).unwrap();
        assert_eq!(mode(&db), MODE);
        std::fs::write(&db, b"kept").unwrap();
        create(&db).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"kept");
    }

    #[test]
    fn tighten_takes_away_group_and_other_access_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let wal = dir.path().join("c.db-wal");
        std::fs::write(&db, b"").unwrap();
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o600)).unwrap();
        let changed = tighten(&db).unwrap();
        assert_eq!(
            changed,
            [Tightened {
                path: db.clone(),
                was: 0o644
            }]
        );
        assert_eq!((mode(&db), mode(&wal)), (0o600, 0o600));
        assert!(tighten(&db).unwrap().is_empty());
    }
}
