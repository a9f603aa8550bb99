//! The lab of the orchestrator's tests: the real `cordond` in a network
//! namespace of its own (a unique `cl-` name, removed by a guard even when
//! a test panics), and `cordon` talking to it.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use cordon_testkit::{Fixture, Netns, poll_until};

#[derive(Debug)]
pub struct Lab {
    pub ns: Netns,
    pub dir: tempfile::TempDir,
    pub daemon: Option<Child>,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let lab = Lab {
            ns: Netns::new(&format!("o{tag}")),
            dir: tempfile::tempdir().unwrap(),
            daemon: None,
        };
        lab.write_config(8081);
        lab
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("cordon.yaml")
    }

    pub fn socket(&self) -> String {
        self.dir.path().join("control.sock").display().to_string()
    }

    /// The lab's config: its store and sockets in the lab's directory,
    /// the portal's redirect on `redirect`.
    pub fn fixture(&self, redirect: u16) -> Fixture {
        Fixture::new()
            .prefixes(r#"[100.64.0.0/16, "2001:db8::/32"]"#)
            .set("interfaces.uplink", "[up0]")
            .set("never_quarantine", "[100.64.0.1]")
            .set("portal.public_url", "http://portal.test/")
            .set("portal.redirect_port", redirect)
            .section("quarantine", "min_hold: 1h, quiet_period: 2h")
            .store_in(self.dir.path())
            .control_in(self.dir.path())
            .set("metrics.listen", r#""127.0.0.1:9464""#)
    }

    pub fn write_config(&self, redirect: u16) {
        self.fixture(redirect).write(self.dir.path());
    }

    /// Starts cordond and waits for its `cordond ready` line.
    pub fn start(&mut self) {
        self.start_with_env(&[]);
    }

    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        let mut child = self
            .ns
            .command(env!("CARGO_BIN_EXE_cordond"))
            .arg("--config")
            .arg(self.config())
            .args(["--reconcile-interval", "1s"])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.dir.path().join("cordond.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        self.daemon = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line == "cordond ready" {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            panic!("cordond was not ready within 20 s; log:\n{}", self.log());
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("cordond.log")).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.daemon.as_ref().unwrap().id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    pub fn wait_exit(&mut self) {
        let mut child = self.daemon.take().unwrap();
        poll_until(Duration::from_secs(10), "cordond to stop", || {
            child.try_wait().unwrap()
        });
    }

    pub fn cordon(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs `cordon` and asserts its exit code (its stderr when not).
    pub fn cordon_exits(&self, args: &[&str], code: i32) -> Output {
        let o = self.cordon(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "cordon {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    pub fn nft(&self, args: &[&str]) -> Output {
        self.ns.try_nft(args, None)
    }

    /// The kernel's quarantine set (both families), or None without the table.
    pub fn kernel_set(&self) -> Option<BTreeSet<String>> {
        self.elements("quarantined")
    }

    /// The kernel's notice set (both families), or None without the table.
    pub fn kernel_noticed(&self) -> Option<BTreeSet<String>> {
        self.elements("noticed")
    }

    /// The elements of the sets named `base` (hosts and IPv6 subscriber
    /// prefixes by first address, then ranges), or None without the table.
    fn elements(&self, base: &str) -> Option<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for set in [
            format!("{base}_v4"),
            format!("{base}_v6"),
            format!("{base}_ranges_v4"),
            format!("{base}_ranges_v6"),
        ] {
            let o = self.nft(&["-j", "list", "set", "inet", "cordon", &set]);
            if !o.status.success() {
                return None;
            }
            let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            for obj in doc["nftables"].as_array().unwrap() {
                for e in obj["set"]["elem"].as_array().into_iter().flatten() {
                    match e {
                        serde_json::Value::String(s) => out.insert(s.clone()),
                        other => out.insert(format!(
                            "{}/{}",
                            other["prefix"]["addr"].as_str().unwrap(),
                            other["prefix"]["len"]
                        )),
                    };
                }
            }
        }
        Some(out)
    }

    pub fn listed(&self) -> BTreeSet<String> {
        let o = self.cordon(&["--json", "list"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["state"] == "quarantined")
            .map(|h| h["address"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
