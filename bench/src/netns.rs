//! A network namespace that lives as long as the benchmark step using it.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// A namespace removed on drop, even when a step fails.
#[derive(Debug)]
pub struct Netns(pub String);

impl Netns {
    /// Creates `cl-bench-TAG-PID`.
    pub fn new(tag: &str) -> Result<Netns> {
        let name = format!("cl-bench-{tag}-{}", std::process::id());
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .context("running ip netns add")?;
        if !st.success() {
            bail!("ip netns add {name} failed (run as root)");
        }
        Ok(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
