//! A recording stand-in for the `cordon` CLI, for testing the session hook
//! scripts in `deploy/hooks/` (how they translate what a DHCP or PPP server
//! passes into `cordon session` commands) without a daemon. The real
//! daemon path is tested by the lab's session tests; this one checks the
//! scripts' side of the contract exactly.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Marks the end of one call's arguments in the record.
const END: &str = "--end-of-call--";

/// A directory holding an executable `cordon` that appends its argv to a
/// record (each argument NUL-terminated, then [`END`]) and exits with the
/// status in `status` (0 when absent), and a `logger` that records its
/// arguments the same way, so tests see what would reach syslog without
/// writing to the machine's.
#[derive(Debug)]
pub struct RecordingCordon {
    dir: PathBuf,
}

impl RecordingCordon {
    /// Writes the stand-ins into `dir` (which must exist).
    pub fn new(dir: &Path) -> io::Result<RecordingCordon> {
        for (name, record) in [("cordon", "calls"), ("logger", "logged")] {
            let path = dir.join(name);
            let record = dir.join(record);
            let status = dir.join("status");
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\000' \"$a\"; done >>'{rec}'\n\
                     printf '%s\\000' '{END}' >>'{rec}'\n\
                     if [ '{name}' = cordon ] && [ -r '{status}' ]; then exit \"$(cat '{status}')\"; fi\nexit 0\n",
                    rec = record.display(),
                    status = status.display(),
                ),
            )?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(RecordingCordon {
            dir: dir.to_path_buf(),
        })
    }

    /// The stand-in `cordon` (for CORDON=).
    pub fn program(&self) -> PathBuf {
        self.dir.join("cordon")
    }

    /// The directory to put first on PATH (for `logger`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the next calls exit with `status` (1: cordond unreachable).
    pub fn exit_with(&self, status: u8) -> io::Result<()> {
        std::fs::write(self.dir.join("status"), status.to_string())
    }

    /// Every call of `cordon` so far, each its argv after the program name.
    pub fn calls(&self) -> Vec<Vec<String>> {
        read_record(&self.dir.join("calls"))
    }

    /// Every call of `logger` so far.
    pub fn logged(&self) -> Vec<Vec<String>> {
        read_record(&self.dir.join("logged"))
    }
}

fn read_record(path: &Path) -> Vec<Vec<String>> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let mut calls = Vec::new();
    let mut call = Vec::new();
    // Every field ends with a NUL: drop the last one's, then split.
    let body = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
    if body.is_empty() {
        return calls;
    }
    for field in body.split(|b| *b == 0) {
        let field = String::from_utf8_lossy(field).into_owned();
        if field == END {
            calls.push(std::mem::take(&mut call));
        } else {
            call.push(field);
        }
    }
    calls
}
