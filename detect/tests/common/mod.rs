//! Network-namespace helpers for this crate's real-kernel tests.
//!
//! Each test makes its own uniquely named namespace (`cl-det-<pid>-<n>`)
//! and removes it on drop, also when the test panics. Nothing touches the
//! machine's own namespace.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs::File;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace that lives as long as this value.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates the namespace with its loopback up.
    pub fn new() -> Netns {
        let name = format!(
            "cl-det-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec("ip", &["link", "set", "lo", "up"]);
        ns
    }

    /// Runs a program inside the namespace; panics with its output if it fails.
    pub fn exec(&self, prog: &str, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", &self.name, prog];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Loads an nftables ruleset inside the namespace.
    pub fn nft(&self, ruleset: &str) {
        let path = std::env::temp_dir().join(format!("{}.nft", self.name));
        std::fs::write(&path, ruleset).unwrap();
        self.exec("nft", &["-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
    }

    /// Moves the calling thread into the namespace. Sockets the thread
    /// creates afterwards stay in it.
    pub fn enter(&self) {
        let f = File::open(format!("/run/netns/{}", self.name)).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn run(prog: &str, args: &[&str]) -> Output {
    let out = Command::new(prog).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `f` on a fresh thread inside `ns`, with a current-thread tokio
/// runtime, and returns its result (re-raising its panic).
pub fn in_netns<T: Send + 'static>(
    ns: &Netns,
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> T {
    let name = ns.name.clone();
    std::thread::spawn(move || {
        Netns { name: name.clone() }.enter_no_drop();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f())
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

impl Netns {
    fn enter_no_drop(self) {
        self.enter();
        std::mem::forget(self);
    }
}
