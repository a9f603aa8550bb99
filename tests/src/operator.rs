//! The operator's side of a lab: the real `cordon` CLI against the lab's
//! `cordond`, as an operator would type it.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::Lab;
use crate::error::LabError;

impl Lab {
    /// Runs `cordon --socket … --config … ARGS` (the `cordon` built beside
    /// this program) and returns its output, whatever its exit status.
    pub fn cordon(&self, args: &[&str]) -> Result<Output, LabError> {
        let exe = self.cordon_exe()?;
        let gw = self.gateway();
        Command::new(&exe)
            .arg("--socket")
            .arg(gw.control_socket())
            .arg("--config")
            .arg(gw.config_path())
            .args(args)
            .output()
            .map_err(|source| LabError::Spawn {
                program: exe.display().to_string(),
                source,
            })
    }

    /// The `cordon` CLI built beside this program (for hook scripts that
    /// call it themselves).
    pub fn cordon_exe(&self) -> Result<PathBuf, LabError> {
        crate::exe::find("cordon", None)
    }

    /// Like [`cordon`](Self::cordon), but a failure is an error; returns
    /// what it printed.
    pub fn cordon_ok(&self, args: &[&str]) -> Result<String, LabError> {
        let out = self.cordon(args)?;
        if !out.status.success() {
            return Err(LabError::Command {
                command: format!("cordon {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `cordon --json show ADDR` as a JSON document.
    pub fn show(&self, addr: &str) -> Result<serde_json::Value, LabError> {
        let text = self.cordon_ok(&["--json", "show", addr])?;
        serde_json::from_str(&text).map_err(|e| LabError::Command {
            command: format!("cordon --json show {addr}"),
            status: "unreadable JSON".into(),
            stderr: format!("{e}: {text}"),
        })
    }

    /// The `state` of `cordon show ADDR` (`clean`, `quarantined`, `probation`).
    pub fn state(&self, addr: &str) -> Result<String, LabError> {
        Ok(self.show(addr)?["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}
