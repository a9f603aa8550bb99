//! Finding the executables the lab starts (`cordon-lab` itself for the
//! internet services, `cordond`, `cordon-portal`): an explicit path wins;
//! otherwise beside the running executable, which is where cargo puts them
//! for binaries and for tests (`target/debug/deps/..` has them one up).

use std::path::{Path, PathBuf};

use crate::error::LabError;

/// The path of executable `name`.
pub fn find(name: &str, explicit: Option<&Path>) -> Result<PathBuf, LabError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_owned())
        } else {
            Err(LabError::ExeNotFound {
                name: name.to_owned(),
                looked: vec![p.to_owned()],
            })
        };
    }
    let mut looked = Vec::new();
    if let Ok(me) = std::env::current_exe() {
        if me.file_name().is_some_and(|f| f == name) {
            return Ok(me);
        }
        let mut dir = me.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            let candidate = d.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(candidate);
            dir = d.parent();
        }
    }
    Err(LabError::ExeNotFound {
        name: name.to_owned(),
        looked,
    })
}
