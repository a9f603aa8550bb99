//! The lab of the orchestrator's tests: the real `cordond` in a network
//! namespace of its own (a unique `cl-` name, removed by a guard even when
//! a test panics), and `cordon` talking to it.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Polls `f` until it holds or the deadline passes.
pub fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("not within {within:?}: {what}");
}

#[derive(Debug)]
pub struct Lab {
    pub ns: String,
    pub dir: tempfile::TempDir,
    pub daemon: Option<Child>,
}

pub const CONFIG: &str = r#"
subscribers: { prefixes: [100.64.0.0/16, "2001:db8::/32"] }
interfaces: { downlink: [sub0], uplink: [up0] }
never_quarantine: [100.64.0.1]
walled_garden: { resolvers: [192.0.2.53] }
portal: { public_url: "http://portal.test/", redirect_port: @PORT@ }
quarantine: { min_hold: 1h, quiet_period: 2h }
store: { path: @DIR@/cordon.db }
control: { socket: @DIR@/control.sock, portal_socket: @DIR@/portal.sock }
metrics: { listen: "127.0.0.1:9464" }
"#;

impl Lab {
    pub fn new(tag: &str) -> Lab {
        static N: AtomicU32 = AtomicU32::new(0);
        let ns = format!(
            "cl-o{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .unwrap();
        assert!(ok.success(), "ip netns add {ns} (are you root?)");
        let lab = Lab {
            ns,
            dir: tempfile::tempdir().unwrap(),
            daemon: None,
        };
        lab.ip(&["link", "set", "lo", "up"]);
        lab.write_config(8081);
        lab
    }

    pub fn ip(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(["netns", "exec", &self.ns, "ip"])
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("cordon.yaml")
    }

    pub fn socket(&self) -> String {
        self.dir.path().join("control.sock").display().to_string()
    }

    pub fn write_config(&self, redirect: u16) {
        let text = CONFIG
            .replace("@DIR@", &self.dir.path().display().to_string())
            .replace("@PORT@", &redirect.to_string());
        std::fs::write(self.config(), text).unwrap();
    }

    /// Starts cordond and waits for its `cordond ready` line.
    pub fn start(&mut self) {
        self.start_with_env(&[]);
    }

    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                env!("CARGO_BIN_EXE_cordond"),
                "--config",
            ])
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
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            assert!(Instant::now() < end, "cordond did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn cordon(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }

    pub fn nft(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "nft"])
            .args(args)
            .output()
            .unwrap()
    }

    /// The kernel's quarantine set (both families), or None without the table.
    pub fn kernel_set(&self) -> Option<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        // Hosts and IPv6 subscriber prefixes (by first address), then ranges.
        for set in [
            "quarantined_v4",
            "quarantined_v6",
            "quarantined_ranges_v4",
            "quarantined_ranges_v6",
        ] {
            let o = self.nft(&["-j", "list", "set", "inet", "cordon", set]);
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
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
