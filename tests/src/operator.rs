//! The operator's side of a lab: the real `cordon` CLI against a gateway's
//! `cordond`, as an operator would type it there. The lab's own methods
//! speak to gateway 0 (the only one of a one-gateway lab); with several,
//! `lab.gateway_at(g).cordon_ok(...)` speaks to gateway `g`.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::error::LabError;
use crate::{Gateway, Lab};

impl Lab {
    /// Runs `cordon ARGS` against gateway 0; see [`Gateway::cordon`].
    pub fn cordon(&self, args: &[&str]) -> Result<Output, LabError> {
        self.gateway().cordon(args)
    }

    /// The `cordon` CLI built beside this program (for hook scripts that
    /// call it themselves).
    pub fn cordon_exe(&self) -> Result<PathBuf, LabError> {
        cordon_exe()
    }

    /// `cordon ARGS` against gateway 0; see [`Gateway::cordon_ok`].
    pub fn cordon_ok(&self, args: &[&str]) -> Result<String, LabError> {
        self.gateway().cordon_ok(args)
    }

    /// `cordon --json ARGS` against gateway 0.
    pub fn cordon_json(&self, args: &[&str]) -> Result<serde_json::Value, LabError> {
        self.gateway().cordon_json(args)
    }

    /// `cordon --json show ADDR` against gateway 0.
    pub fn show(&self, addr: &str) -> Result<serde_json::Value, LabError> {
        self.gateway().show(addr)
    }

    /// `cordon sessions ID` against gateway 0.
    pub fn sessions(&self, id: &str) -> Result<Vec<Held>, LabError> {
        self.gateway().sessions(id)
    }

    /// The `state` of `cordon show ADDR` on gateway 0.
    pub fn state(&self, addr: &str) -> Result<String, LabError> {
        self.gateway().state(addr)
    }
}

fn cordon_exe() -> Result<PathBuf, LabError> {
    crate::exe::find("cordon", None)
}

impl Gateway {
    /// Runs `cordon --socket … --config … ARGS` against this gateway's
    /// cordond (the `cordon` built beside this program) and returns its
    /// output, whatever its exit status.
    pub fn cordon(&self, args: &[&str]) -> Result<Output, LabError> {
        let exe = cordon_exe()?;
        Command::new(&exe)
            .arg("--socket")
            .arg(self.control_socket())
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .output()
            .map_err(|source| LabError::Spawn {
                program: exe.display().to_string(),
                source,
            })
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

    /// `cordon --json ARGS` as a JSON document.
    pub fn cordon_json(&self, args: &[&str]) -> Result<serde_json::Value, LabError> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.cordon_ok(&all)?;
        serde_json::from_str(&text).map_err(|e| LabError::Command {
            command: format!("cordon --json {}", args.join(" ")),
            status: "unreadable JSON".into(),
            stderr: format!("{e}: {text}"),
        })
    }

    /// `cordon --json show ADDR` as a JSON document.
    pub fn show(&self, addr: &str) -> Result<serde_json::Value, LabError> {
        self.cordon_json(&["show", addr])
    }

    /// `cordon sessions ID`: the addresses subscriber `id` held, newest
    /// first.
    pub fn sessions(&self, id: &str) -> Result<Vec<Held>, LabError> {
        let doc = self.cordon_json(&["sessions", id])?;
        let unreadable = |what: &str| LabError::Command {
            command: format!("cordon --json sessions {id}"),
            status: format!("no {what}"),
            stderr: doc.to_string(),
        };
        let list = doc["sessions"]
            .as_array()
            .ok_or_else(|| unreadable("sessions"))?;
        list.iter()
            .map(|s| {
                Ok(Held {
                    address: s["address"]
                        .as_str()
                        .ok_or_else(|| unreadable("address"))?
                        .to_owned(),
                    started: s["started"].as_i64().ok_or_else(|| unreadable("started"))?,
                    ended: s["ended"].as_i64(),
                })
            })
            .collect()
    }

    /// The `state` of `cordon show ADDR` (`clean`, `quarantined`, `probation`).
    pub fn state(&self, addr: &str) -> Result<String, LabError> {
        Ok(self.show(addr)?["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

/// One session as `cordon sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The address held.
    pub address: String,
    /// When the session began (Unix seconds).
    pub started: i64,
    /// When it ended, `None` while it lasts.
    pub ended: Option<i64>,
}
