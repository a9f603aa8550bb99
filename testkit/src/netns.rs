//! A network namespace that exists for one test: created with a unique
//! `cl-` name (so parallel tests and the lab's own namespaces never
//! meet), its loopback up, and removed on drop together with every process
//! living in it, also when the test panics. Nothing here touches the
//! machine's own namespace: programs run through `ip netns exec`, and code
//! runs on a thread of its own that enters the namespace.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where iproute2 keeps named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// A network namespace that lives as long as this value (needs root).
#[derive(Debug)]
pub struct Netns {
    name: String,
    /// Started with [`Netns::spawn`]: killed and reaped on drop.
    children: Mutex<Vec<Child>>,
}

impl Netns {
    /// Creates `cl-<tag>-<pid>-<n>` with its loopback up. The tag tells
    /// whose namespace a leftover was (`cl-k…` the rules' kernel tests,
    /// `cl-det…` detect's, …); the process id and a counter make it unique.
    pub fn new(tag: &str) -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cl-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        checked(
            Command::new("ip").args(["netns", "add", &name]),
            "(are you root?)",
        );
        let ns = Netns {
            name,
            children: Mutex::new(Vec::new()),
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its bind mount, `/run/netns/<name>` (for `setns`).
    pub fn path(&self) -> String {
        format!("{NETNS_DIR}/{}", self.name)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`),
    /// to add arguments, environment and pipes to.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args` inside the namespace; panics with its output if
    /// it fails.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        checked(self.command(program).args(args), "")
    }

    /// `ip args…` inside the namespace (links, addresses, neighbours).
    pub fn ip(&self, args: &[&str]) {
        self.exec("ip", args);
    }

    /// `nft args…` inside the namespace with `stdin` (if any) as its input,
    /// whether it succeeds or not (for a test that looks at a refusal).
    pub fn try_nft(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command("nft")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("ip netns exec {} nft: {e}", self.name));
        let mut pipe = child.stdin.take().expect("piped");
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("writing to nft: {e}"));
        }
        drop(pipe);
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for nft: {e}"))
    }

    /// `nft args…` inside the namespace; panics with nft's complaint if it
    /// refuses, returns what it printed otherwise.
    pub fn nft(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.try_nft(args, stdin);
        assert!(
            out.status.success(),
            "nft {args:?} refused{}: {}",
            stdin.map(|s| format!(" {s}")).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Loads an nftables script (`nft -f -`) inside the namespace.
    pub fn load_ruleset(&self, script: &str) {
        self.nft(&["-f", "-"], Some(script));
    }

    /// Starts `cmd` (made with [`Netns::command`]) and keeps it: it is
    /// killed and reaped when the namespace is dropped. Returns its pid.
    pub fn spawn(&self, cmd: &mut Command) -> u32 {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?} in {}: {e}", self.name));
        let pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(child);
        pid
    }

    /// Runs `f` on a fresh thread that has entered the namespace and
    /// returns its result (re-raising its panic). Sockets `f` opens belong
    /// to the namespace; the caller's thread never moves, so nothing in the
    /// machine's own namespace changes.
    pub fn in_thread<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        std::thread::scope(|s| {
            s.spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Like [`Netns::in_thread`] for async code: the future `f` makes runs
    /// to completion on a current-thread tokio runtime inside the
    /// namespace (netlink and other sockets belong to the namespace of the
    /// thread that opens them).
    pub fn block_on<T: Send, Fut: Future<Output = T>>(&self, f: impl FnOnce() -> Fut + Send) -> T {
        self.in_thread(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("a tokio runtime: {e}"))
                .block_on(f())
        })
    }

    /// Processes living in the namespace, but never this test process
    /// itself (a thread of it may have entered the namespace).
    fn pids(&self) -> Vec<i32> {
        let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stderr(Stdio::null())
            .output()
        else {
            return Vec::new();
        };
        let me = std::process::id();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|&p| p != me)
            .filter_map(|p| i32::try_from(p).ok())
            .collect()
    }
}

impl Drop for Netns {
    /// Kills what was started here (kept children first, so they are
    /// reaped, then anything else still living in the namespace), then
    /// deletes the namespace. Failures are ignored: a guard must not panic
    /// while a failing test unwinds.
    fn drop(&mut self) {
        let children = self
            .children
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `cmd`, panicking with its output (and `hint`) unless it succeeds.
fn checked(cmd: &mut Command, hint: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} {hint}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed {hint}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard's promise: after drop, no namespace and nothing that was
    /// started in it, whether kept by `spawn` or started some other way.
    #[test]
    fn drop_removes_the_namespace_and_kills_what_ran_in_it() {
        let ns = Netns::new("kit");
        let path = ns.path();
        let kept = ns.spawn(ns.command("sleep").arg("600"));
        let loose = ns
            .command("sleep")
            .arg("600")
            .spawn()
            .expect("sleep starts");
        let up = ns.exec("ip", &["-o", "link", "show", "lo"]);
        assert!(String::from_utf8_lossy(&up.stdout).contains("UP"));
        let probe = ns.in_thread(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(probe.expect("readable").trim(), "0");
        drop(ns);
        assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
        let mut loose = loose;
        let status = loose.wait().expect("reaped");
        assert!(!status.success(), "the loose process was killed");
        let alive = std::path::Path::new(&format!("/proc/{kept}")).exists();
        assert!(!alive, "the kept process {kept} is gone");
    }
}
