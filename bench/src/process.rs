//! What the kernel says about a running daemon: its CPU time and resident
//! memory from `/proc`, found by name among a namespace's processes.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The process called `comm` living in `netns` (`ip netns pids`).
pub fn find(netns: &str, comm: &str) -> Result<i32> {
    Ok(find_all(netns, comm)?[0])
}

/// Every process called `comm` living in `netns` (nginx's master and
/// workers).
pub fn find_all(netns: &str, comm: &str) -> Result<Vec<i32>> {
    let mut found = Vec::new();
    for pid in cordon_lab::netns::pids(netns)? {
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if name.trim() == comm {
            found.push(pid);
        }
    }
    if found.is_empty() {
        bail!("no {comm} process in namespace {netns}");
    }
    Ok(found)
}

/// CPU time a process has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    /// Its own threads (utime + stime).
    pub own: Duration,
    /// Children it has waited for (cutime + cstime): the `nft` processes
    /// cordond starts.
    pub children: Duration,
}

impl Cpu {
    /// Reads `/proc/PID/stat` now.
    pub fn of(pid: i32) -> Result<Cpu> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        Cpu::parse(&stat)
    }

    /// A `/proc/PID/stat` text's CPU times.
    fn parse(stat: &str) -> Result<Cpu> {
        // The command name (field 2) may hold spaces and parentheses: the
        // fields after its last `)` start with the state (field 3), which
        // `numbers` skips as a line's first word, so field `i` is at
        // `i - 4`: utime 14, stime 15, cutime 16, cstime 17.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("malformed /proc/PID/stat")?;
        let f = numbers(rest);
        let tick = |i: usize| f.get(i - 4).copied().unwrap_or(0);
        Ok(Cpu {
            own: ticks(tick(14) + tick(15)),
            children: ticks(tick(16) + tick(17)),
        })
    }

    /// The CPU time used between `earlier` and this reading.
    pub fn since(&self, earlier: &Cpu) -> Cpu {
        Cpu {
            own: self.own.saturating_sub(earlier.own),
            children: self.children.saturating_sub(earlier.children),
        }
    }
}

/// The whole machine's CPU time (`/proc/stat`, every CPU): what a
/// benchmark whose client shares the machine with the server costs in all,
/// the client, the kernel's network work and the time charged to no
/// process included.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Machine {
    /// user + nice.
    pub user: Duration,
    /// system + irq + softirq.
    pub kernel: Duration,
    /// idle + iowait.
    pub idle: Duration,
}

impl Machine {
    /// Reads `/proc/stat` now.
    pub fn now() -> Result<Machine> {
        Machine::parse(&std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?)
    }

    /// The machine's line of a `/proc/stat` text.
    fn parse(stat: &str) -> Result<Machine> {
        let line = stat
            .lines()
            .find(|l| l.starts_with("cpu "))
            .context("no cpu line in /proc/stat")?;
        let f = numbers(line);
        let at = |i: usize| f.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal ...
        Ok(Machine {
            user: ticks(at(0) + at(1)),
            kernel: ticks(at(2) + at(5) + at(6)),
            idle: ticks(at(3) + at(4)),
        })
    }

    /// The time spent between `earlier` and this reading.
    pub fn since(&self, earlier: &Machine) -> Machine {
        Machine {
            user: self.user.saturating_sub(earlier.user),
            kernel: self.kernel.saturating_sub(earlier.kernel),
            idle: self.idle.saturating_sub(earlier.idle),
        }
    }
}

/// The numbers after a `/proc` line's first word (a field that is not one
/// reads as 0).
fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .skip(1)
        .map(|w| w.parse().unwrap_or(0))
        .collect()
}

/// `n` clock ticks as time.
fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / clock_ticks())
}

/// `sysconf(_SC_CLK_TCK)`, via `getconf` (100 on every Linux we know of).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// A `/proc/PID/status` field in kibibytes (`VmRSS`, `VmHWM`, ...).
pub fn status_kib(pid: i32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == field).then(|| v.split_whitespace().next()?.parse().ok())?
        })
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// A `/proc/meminfo` field in kibibytes (`Slab`, `SUnreclaim`, ...).
pub fn meminfo_kib(field: &str) -> Result<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").context("reading /proc/meminfo")?;
    info.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == field).then(|| v.split_whitespace().next()?.parse().ok())?
        })
        .with_context(|| format!("no {field} in /proc/meminfo"))
}

/// Mebibytes from kibibytes, one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Own time is utime + stime, children's cutime + cstime; a command
    /// name with spaces and `)` does not shift the fields.
    #[test]
    fn a_process_line_is_read_by_field() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt
        // cminflt majflt cmajflt utime stime cutime cstime priority ...
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 300 50 7 3 20 0 3 0\n";
        let c = Cpu::parse(stat).unwrap();
        assert_eq!(c.own, ticks(350));
        assert_eq!(c.children, ticks(10));
        assert!(Cpu::parse("garbage").is_err());
    }

    /// User is user + nice, kernel is system + irq + softirq, idle is
    /// idle + iowait; steal and guests count in none.
    #[test]
    fn the_machines_line_is_read_by_kind() {
        let stat = "cpu  100 5 200 1000 7 11 13 17 0 0\ncpu0 50 2 100 500 3 5 6 8 0 0\nintr 1\n";
        let m = Machine::parse(stat).unwrap();
        assert_eq!(m.user, ticks(105));
        assert_eq!(m.kernel, ticks(224));
        assert_eq!(m.idle, ticks(1007));
        let later = Machine::parse("cpu  110 5 220 1100 7 11 13 17 0 0\n").unwrap();
        assert_eq!(later.since(&m).user, ticks(10));
        assert_eq!(later.since(&m).kernel, ticks(20));
        assert!(Machine::parse("intr 1\n").is_err());
    }
}
