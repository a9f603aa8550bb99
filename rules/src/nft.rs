//! Running the `nft` program: one process, one transaction per call, its
//! error output kept so an operator reads nft's own reason.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::error::RulesError;

/// How often an interrupted `nft` call is repeated before its error stands.
const INTERRUPTED_RETRIES: u32 = 3;

/// How `nft` is started: `nft` itself, or with a prefix such as
/// `ip netns exec NAME` (the lab drives a namespace's kernel this way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftCommand {
    argv: Vec<String>,
    /// The network namespace `argv` enters, if any: what is read over
    /// netlink rather than through `nft` is read there too.
    netns: Option<String>,
}

impl Default for NftCommand {
    fn default() -> Self {
        NftCommand {
            argv: vec!["nft".into()],
            netns: None,
        }
    }
}

impl NftCommand {
    /// `nft` run inside the named network namespace (`ip netns exec`).
    pub fn in_netns(netns: &str) -> Self {
        NftCommand {
            argv: ["ip", "netns", "exec", netns, "nft"]
                .map(String::from)
                .to_vec(),
            netns: Some(netns.to_owned()),
        }
    }

    /// The network namespace this command enters (`None`: ours).
    pub(crate) fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// Runs `nft ARGS`, feeding `stdin`, and returns its output.
    ///
    /// A netlink dump that the kernel interrupts because the ruleset changed
    /// under it (`nft` says "Interrupted system call") is asked again, up to
    /// [`INTERRUPTED_RETRIES`] times: it happens when the packet path or
    /// another change touches a set while it is being listed, and nothing
    /// was changed by the failed call (a transaction is all or nothing).
    pub(crate) fn run(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        what: &str,
    ) -> Result<String, RulesError> {
        let mut tries = 0;
        loop {
            match self.run_once(args, stdin, what) {
                Err(RulesError::Refused { stderr, .. })
                    if tries < INTERRUPTED_RETRIES
                        && stderr.contains("Interrupted system call") =>
                {
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// We spawn `nft` here rather than through the crate's helper because the
    /// helper does not capture `nft`'s error output, and "nft refused" without
    /// nft's reason is no use to an operator.
    fn run_once(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        what: &str,
    ) -> Result<String, RulesError> {
        let (program, prefix) = self
            .argv
            .split_first()
            .map_or(("nft", &[][..]), |(p, r)| (p.as_str(), r));
        let mut child = Command::new(program)
            .args(prefix)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RulesError::Spawn {
                program: self.argv.join(" "),
                source,
            })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .map_err(|source| RulesError::Spawn {
                    program: self.argv.join(" "),
                    source,
                })?;
        }
        let out = child
            .wait_with_output()
            .map_err(|source| RulesError::Spawn {
                program: self.argv.join(" "),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RulesError::Refused {
                what: what.to_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `nft` stand-in: a shell script that logs each call to `log` and
    /// fails with `stderr` for the first `failures` calls.
    fn flaky_nft(log: &std::path::Path, failures: u32, stderr: &str) -> NftCommand {
        let script = format!(
            "echo call >> '{log}'; n=$(wc -l < '{log}'); \
             if [ \"$n\" -le {failures} ]; then echo '{stderr}' >&2; exit 1; fi; echo listed",
            log = log.display()
        );
        NftCommand {
            argv: vec!["sh".into(), "-c".into(), script, "nft".into()],
            netns: None,
        }
    }

    fn calls(log: &std::path::Path) -> usize {
        std::fs::read_to_string(log).map_or(0, |s| s.lines().count())
    }

    fn log_file(tag: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("cordon-nft-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn an_interrupted_dump_is_asked_again() {
        let log = log_file("eintr");
        let nft = flaky_nft(&log, 2, "Error: Interrupted system call");
        assert_eq!(nft.run(&["list"], None, "list").unwrap().trim(), "listed");
        assert_eq!(calls(&log), 3);
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn retries_end_and_other_refusals_are_not_repeated() {
        let log = log_file("always");
        let nft = flaky_nft(&log, 100, "Error: Interrupted system call");
        assert!(nft.run(&["list"], None, "list").is_err());
        assert_eq!(calls(&log), 1 + INTERRUPTED_RETRIES as usize);
        let _ = std::fs::remove_file(&log);

        let log = log_file("enoent");
        let nft = flaky_nft(&log, 100, "Error: No such file or directory");
        let err = nft.run(&["list"], None, "list").unwrap_err();
        assert!(err.to_string().contains("No such file"), "{err}");
        assert_eq!(calls(&log), 1);
        let _ = std::fs::remove_file(&log);
    }
}
