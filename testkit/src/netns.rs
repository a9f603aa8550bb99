//! A network namespace that exists for one test: created with a unique
//! `cl-` name (so parallel tests and the lab's own namespaces never
//! meet), its loopback up, and removed on drop together with every process
//! living in it, also when the test panics. Nothing here touches the
//! machine's own namespace: programs run through `ip netns exec`, and code
//! runs on a thread of its own that enters the namespace.
//!
//! The free functions ([`path`], [`command`], [`enter`]) work on any named
//! namespace and return errors instead of panicking: the lab (whose
//! namespaces belong to a lab, not to one guard) and the benchmarks use
//! them, and [`Netns::try_new`], where a failure is reported, not a panic.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use parking_lot::Mutex;

use crate::command::{CommandError, run_ok};

/// Where iproute2 keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Why a namespace could not be made or entered.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `ip` could not make or set up the namespace (are you root? is
    /// iproute2 installed?).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The namespace's bind mount could not be opened: it does not exist
    /// (any more), or this process may not read `/run/netns`.
    #[error("cannot enter network namespace `{netns}`: {}: {source}", .path.display())]
    Open {
        /// The namespace.
        netns: String,
        /// Its bind mount.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `setns` refused: entering a namespace needs CAP_SYS_ADMIN (run as
    /// root).
    #[error("cannot enter network namespace `{netns}`: setns: {source}")]
    Enter {
        /// The namespace.
        netns: String,
        /// The kernel's answer.
        #[source]
        source: nix::errno::Errno,
    },
}

/// The bind mount of the named namespace, `/run/netns/<name>` (for
/// `setns`, and to see whether it exists).
pub fn path(netns: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(netns)
}

/// A command that runs `program` inside the named namespace (`ip netns
/// exec`), to add arguments, environment and pipes to.
pub fn command(netns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns, program]);
    cmd
}

/// Runs `f` on a fresh thread that has entered the named namespace and
/// returns its result (re-raising its panic). Sockets `f` opens belong to
/// the namespace; the caller's thread never moves, so nothing in the
/// machine's own namespace changes. If the namespace cannot be entered,
/// `f` is not run at all.
pub fn enter<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    let path = path(netns);
    let file = File::open(&path).map_err(|source| NetnsError::Open {
        netns: netns.to_owned(),
        path,
        source,
    })?;
    std::thread::scope(|s| {
        s.spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
                netns: netns.to_owned(),
                source,
            })?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `ip` gets this long: a hung one fails the test instead of hanging it.
const IP_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `cmd` (bounded in time); an error unless it succeeds.
fn run(cmd: Command) -> Result<Output, NetnsError> {
    Ok(run_ok(cmd, IP_TIMEOUT)?)
}

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
    /// Panics (naming the remedy) if it cannot be made.
    pub fn new(tag: &str) -> Netns {
        Netns::try_new(tag).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Netns::new`], returning the error instead of panicking (for
    /// the benchmarks, which report a failed step and go on).
    pub fn try_new(tag: &str) -> Result<Netns, NetnsError> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cl-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut add = Command::new("ip");
        add.args(["netns", "add", &name]);
        run(add)?;
        // From here the guard removes it, also when bringing lo up fails.
        let ns = Netns {
            name,
            children: Mutex::new(Vec::new()),
        };
        let mut lo = ns.command("ip");
        lo.args(["link", "set", "lo", "up"]);
        run(lo)?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its bind mount, `/run/netns/<name>` (for `setns`).
    pub fn path(&self) -> String {
        path(&self.name).display().to_string()
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`),
    /// to add arguments, environment and pipes to.
    pub fn command(&self, program: &str) -> Command {
        command(&self.name, program)
    }

    /// Runs `program args` inside the namespace; panics with its output if
    /// it fails.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(program);
        cmd.args(args);
        run(cmd).unwrap_or_else(|e| panic!("{e}"))
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
        self.children.lock().push(child);
        pid
    }

    /// Runs `f` on a fresh thread that has entered the namespace and
    /// returns its result (re-raising its panic). Sockets `f` opens belong
    /// to the namespace; the caller's thread never moves, so nothing in the
    /// machine's own namespace changes.
    pub fn in_thread<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        enter(&self.name, f).unwrap_or_else(|e| panic!("{e}"))
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
        let children = self.children.get_mut();
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // Asked again while the name is still there, for at most a second:
        // under the whole suite's load a namespace was seen left behind
        // (a kernel-test namespace whose test passed), which fails the
        // suite's leftover check.
        let path = Path::new("/run/netns").join(&self.name);
        let until = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .stderr(Stdio::null())
                .status();
            if !path.exists() || std::time::Instant::now() > until {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
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

    /// A namespace that is not there is an error, and the code meant to
    /// run inside it never runs (so it cannot run in the machine's own).
    #[test]
    fn entering_a_missing_namespace_is_an_error_and_runs_nothing() {
        let mut ran = false;
        let e = enter("cl-kit-missing", || ran = true).unwrap_err();
        assert!(matches!(e, NetnsError::Open { .. }), "{e}");
        assert!(e.to_string().contains("cl-kit-missing"), "{e}");
        assert!(!ran);
    }
}
