//! The session hook scripts of `deploy/hooks/` in a lab: [`LabHooks`] puts
//! the real dnsmasq hook in a lab's run directory, set up to tell that lab's
//! `cordond` (the session tests and the demo); [`RecordingCordon`] is a
//! recording stand-in for the `cordon` CLI, for testing how the scripts
//! translate what a DHCP or PPP server passes into `cordon session` commands
//! without a daemon.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::LabError;
use crate::lab::Lab;

/// deploy/hooks/dnsmasq-dhcp-script and the file it sources, built into
/// `cordon-lab` (as the cleanup tools are) so that `cordon-lab demo` needs no
/// source tree.
const DNSMASQ_HOOK: [(&str, &[u8]); 2] = [
    (
        "dnsmasq-dhcp-script",
        include_bytes!("../../deploy/hooks/dnsmasq-dhcp-script"),
    ),
    (
        "cordon-hook-common.sh",
        include_bytes!("../../deploy/hooks/cordon-hook-common.sh"),
    ),
];

/// The real dnsmasq hook, installed in `RUN_DIR/hooks/` with a `hooks.conf`
/// (its documented settings file) naming the lab's `cordon` and control
/// socket, so dnsmasq's lease changes become sessions in the lab's cordond.
#[derive(Debug)]
pub struct LabHooks {
    dir: PathBuf,
    conf: String,
}

impl LabHooks {
    /// Writes the hook and its settings into the lab's run directory.
    pub fn install(lab: &Lab) -> Result<LabHooks, LabError> {
        let dir = lab.run_dir().join("hooks");
        std::fs::create_dir_all(&dir)
            .map_err(LabError::io(format!("creating {}", dir.display())))?;
        for (name, bytes) in DNSMASQ_HOOK {
            let path = dir.join(name);
            std::fs::write(&path, bytes)
                .map_err(LabError::io(format!("writing {}", path.display())))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(LabError::io(format!("chmod {}", path.display())))?;
        }
        let conf = dir.join("hooks.conf");
        std::fs::write(
            &conf,
            format!(
                "CORDON={}\nCORDON_SOCKET={}\nCORDON_TIMEOUT=5\n",
                lab.cordon_exe()?.display(),
                lab.gateway().control_socket().display()
            ),
        )
        .map_err(LabError::io(format!("writing {}", conf.display())))?;
        Ok(LabHooks {
            dir,
            conf: conf.display().to_string(),
        })
    }

    /// The installed dnsmasq `--dhcp-script`.
    pub fn dnsmasq_script(&self) -> PathBuf {
        self.dir.join(DNSMASQ_HOOK[0].0)
    }

    /// What the hook's environment needs (`CORDON_HOOKS_CONF`), for
    /// [`crate::dhcp::Dnsmasq::start`].
    pub fn env(&self) -> [(&str, &str); 1] {
        [("CORDON_HOOKS_CONF", self.conf.as_str())]
    }
}

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
