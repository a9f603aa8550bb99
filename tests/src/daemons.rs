//! Starting Cordon's own daemons in the gateway: `cordond --config PATH` and
//! `cordon-portal --config PATH`, as an operator's units would. Each is ready
//! when it prints a "listening on" line (cordond also when its control
//! socket appears); each logs to a file in the run directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::LabError;
use crate::exe;
use crate::process::LabProcess;

/// What to start in the gateway. Each daemon can be started on its own, so
/// that one can be tested in the lab before the other exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonOptions {
    /// Start cordond.
    pub cordond: bool,
    /// Start cordon-portal.
    pub portal: bool,
    /// cordond's path (default: beside the current executable).
    pub cordond_path: Option<PathBuf>,
    /// cordon-portal's path (default: beside the current executable).
    pub portal_path: Option<PathBuf>,
    /// Start both under this descriptor limit (soft and hard, with
    /// `prlimit`), to see how they behave when descriptors run out.
    pub nofile: Option<u64>,
}

impl DaemonOptions {
    /// The names of the daemons to start, in order.
    pub fn names(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.cordond {
            v.push("cordond".to_owned());
        }
        if self.portal {
            v.push("cordon-portal".to_owned());
        }
        v
    }
}

/// How long each daemon gets to say it is listening.
pub const READY_WITHIN: Duration = Duration::from_secs(20);

fn listening(log: &str) -> bool {
    log.lines().any(|l| l.contains("listening on"))
}

/// Where to start the daemons: one gateway of a lab.
pub(crate) struct Where<'a> {
    /// The gateway's name, to tell its daemons from gateway 0's (`None`
    /// for gateway 0, whose daemons are plain `cordond`, `cordon-portal`).
    pub gateway: Option<&'a str>,
    /// Its namespace.
    pub netns: &'a str,
    /// Its config.
    pub config: &'a Path,
    /// cordond's control socket there (ready when it appears).
    pub control_socket: &'a Path,
    /// Where the logs go.
    pub dir: &'a Path,
}

impl Where<'_> {
    fn label(&self, daemon: &str) -> String {
        match self.gateway {
            None => daemon.to_owned(),
            Some(g) => format!("{daemon} on {g}"),
        }
    }
}

/// Starts cordond (and waits for it), then the portal (which asks cordond).
/// Both executables are looked up first, so a missing one fails before
/// anything starts.
pub(crate) fn start(opts: &DaemonOptions, at: &Where<'_>) -> Result<Vec<LabProcess>, LabError> {
    let cordond = opts
        .cordond
        .then(|| exe::find("cordond", opts.cordond_path.as_deref()))
        .transpose()?;
    let portal = opts
        .portal
        .then(|| exe::find("cordon-portal", opts.portal_path.as_deref()))
        .transpose()?;
    let config = at.config.to_string_lossy();
    let args = ["--config", config.as_ref()];
    let mut started = Vec::new();
    if let Some(cordond) = cordond {
        let (program, args) = limited(opts.nofile, &cordond, &args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut d = LabProcess::spawn(
            &at.label("cordond"),
            at.netns,
            &program,
            &args,
            at.dir.join("cordond.log"),
        )?;
        let ready = d.wait_ready(READY_WITHIN, listening, || at.control_socket.exists());
        started.push(d);
        ready?;
    }
    if let Some(portal) = portal {
        let (program, args) = limited(opts.nofile, &portal, &args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = LabProcess::spawn(
            &at.label("cordon-portal"),
            at.netns,
            &program,
            &args,
            at.dir.join("cordon-portal.log"),
        )?;
        let ready = p.wait_ready(READY_WITHIN, listening, || false);
        started.push(p);
        ready?;
    }
    Ok(started)
}

/// `program args`, or `prlimit --nofile=N:N -- program args` under a limit
/// (prlimit execs the program, so the pid stays the daemon's).
fn limited(nofile: Option<u64>, program: &Path, args: &[&str]) -> (PathBuf, Vec<String>) {
    let mut out: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    match nofile {
        None => (program.to_path_buf(), out),
        Some(n) => {
            let mut wrapped = vec![
                format!("--nofile={n}:{n}"),
                "--".to_owned(),
                program.to_string_lossy().into_owned(),
            ];
            wrapped.append(&mut out);
            (PathBuf::from("prlimit"), wrapped)
        }
    }
}
