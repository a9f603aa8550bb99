//! Long-running lab processes (the internet services, cordond, the portal):
//! started inside a namespace with their output in a log file of the run
//! directory, ready when a line says so, and stopped for certain on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::LabError;
use crate::netns;

/// How long a process gets to end after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// A process the lab started. Dropping it stops it, unless [`detach`]ed.
///
/// [`detach`]: LabProcess::detach
#[derive(Debug)]
pub struct LabProcess {
    what: String,
    child: Option<Child>,
    log: PathBuf,
    /// What [`Self::stop`] sends first (SIGTERM unless told otherwise).
    stop_signal: Signal,
}

impl LabProcess {
    /// Starts `program args` inside `netns` (via `ip netns exec`), stdout and
    /// stderr appended to `log`. The process gets its own process group so a
    /// Ctrl-C meant for `cordon-lab up` does not reach it later.
    pub fn spawn(
        what: &str,
        netns: &str,
        program: &Path,
        args: &[&str],
        log: PathBuf,
    ) -> Result<Self, LabError> {
        let out =
            File::create(&log).map_err(LabError::io(format!("creating log {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(LabError::io(format!("opening log {}", log.display())))?;
        let mut cmd = netns::command(netns, &program.to_string_lossy());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        Ok(LabProcess {
            what: what.to_owned(),
            child: Some(child),
            log,
            stop_signal: Signal::SIGTERM,
        })
    }

    /// Makes [`Self::stop`] begin with `signal` instead of SIGTERM
    /// (PostgreSQL's SIGINT, a fast shutdown: its SIGTERM would wait for
    /// every client to leave).
    pub fn stopped_by(mut self, signal: Signal) -> Self {
        self.stop_signal = signal;
        self
    }

    /// Its process id while it runs (the daemon's own: `ip netns exec` and
    /// `prlimit` exec it in place).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What it is ("cordond", "cordon-portal", ...).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits until `ready` holds for the log's text or `extra` says so,
    /// failing early if the process exits, and at the deadline otherwise.
    pub fn wait_ready(
        &mut self,
        within: Duration,
        ready: impl Fn(&str) -> bool,
        extra: impl Fn() -> bool,
    ) -> Result<(), LabError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if ready(&text) || extra() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(LabError::ProcessExited {
                    what: self.what.clone(),
                    status: status.to_string(),
                    log: self.log.clone(),
                    log_tail: tail(&std::fs::read_to_string(&self.log).unwrap_or_default()),
                });
            }
            if start.elapsed() >= within {
                return Err(LabError::Timeout {
                    what: format!("{} to be ready", self.what),
                    waited: start.elapsed(),
                    detail: format!("; log {}:\n{}", self.log.display(), tail(&text)),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Leaves the process running when this handle is dropped (for
    /// `cordon-lab up`, whose processes outlive it until `down`).
    pub fn detach(mut self) {
        self.child = None;
    }

    /// Kills the process at once (SIGKILL, as a crash would end it) and
    /// reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Ends the process with `signal` (PostgreSQL's SIGQUIT: an immediate
    /// shutdown, as a crash, that takes its backends with it), then
    /// SIGKILL if it lingers past the grace period; reaps it.
    pub fn end_with(&mut self, signal: Signal) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
            let _ = kill(pid, signal);
            let gone = crate::poll::wait_for(GRACE, "the process to end", || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if gone.is_err() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Ends the process: SIGTERM (or its [`Self::stopped_by`] signal),
    /// then SIGKILL after a grace period; reaps it.
    pub fn stop(&mut self) {
        if self.stop_signal != Signal::SIGTERM {
            return self.end_with(self.stop_signal);
        }
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                end_pids(&[i32::try_from(child.id()).unwrap_or(i32::MAX)]);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last lines of a log, for error messages.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// True while the process exists (and is not a zombie we could reap).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses; Z is a zombie.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Sends SIGTERM to `pids`, waits up to the grace period for them to end,
/// then SIGKILLs whatever is left and waits a little more. Never signals
/// this process itself.
pub(crate) fn end_pids(pids: &[i32]) {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let pids: Vec<i32> = pids.iter().copied().filter(|&p| p > 1 && p != me).collect();
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    let all_gone = |pids: &[i32]| pids.iter().all(|&p| !alive(p));
    if crate::poll::wait_for(GRACE, "processes to end", || all_gone(&pids)).is_ok() {
        return;
    }
    for &p in &pids {
        if alive(p) {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
    }
    let _ = crate::poll::wait_for(GRACE, "processes to die", || all_gone(&pids));
}
