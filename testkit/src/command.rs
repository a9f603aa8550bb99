//! Running external programs (`ip`, `curl`, `swaks`) with a deadline, so a
//! hung client fails its test instead of hanging the whole run. Errors,
//! not panics: the lab reports them as its own.

use std::io::Read;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::poll::TimedOut;

/// Why a command did not run to success.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program could not be started. Install it (`scripts/install-deps
    /// test`) or check the path.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The command line.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It did not end within its deadline (and was killed).
    #[error(transparent)]
    Timeout(#[from] TimedOut),
    /// Waiting for it failed.
    #[error("waiting for `{program}`: {source}")]
    Wait {
        /// The command line.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Runs `cmd` to completion, collecting its output; kills it after `within`.
pub fn output_within(mut cmd: Command, within: Duration) -> Result<Output, CommandError> {
    let program = describe(&cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CommandError::Spawn {
            program: program.clone(),
            source,
        })?;
    // Read both pipes on their own threads, so a chatty child never blocks on
    // a full pipe while we wait for it.
    let stdout = child.stdout.take().map(reader);
    let stderr = child.stderr.take().map(reader);
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= within => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandError::Timeout(TimedOut {
                    what: format!("`{program}` to finish"),
                    within,
                    waited: start.elapsed(),
                }));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(source) => return Err(CommandError::Wait { program, source }),
        }
    };
    Ok(Output {
        status,
        stdout: stdout.map(join).unwrap_or_default(),
        stderr: stderr.map(join).unwrap_or_default(),
    })
}

/// Runs `cmd` and fails with [`CommandError::Failed`] unless it succeeds.
pub fn run_ok(cmd: Command, within: Duration) -> Result<Output, CommandError> {
    let command = describe(&cmd);
    let out = output_within(cmd, within)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(CommandError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Like [`run_ok`] for a test: returns the output of a command that
/// succeeded within `within`, and panics naming the command and its
/// complaint otherwise.
pub fn checked(cmd: Command, within: Duration) -> Output {
    run_ok(cmd, within).unwrap_or_else(|e| panic!("{e}"))
}

/// The command line, for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn join(h: std::thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
    h.join().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_output() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo out; echo err >&2"]);
        let o = output_within(c, Duration::from_secs(10)).unwrap();
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
    }

    #[test]
    fn kills_at_the_deadline() {
        let mut c = Command::new("sh");
        c.args(["-c", "exec sleep 30"]);
        let e = output_within(c, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(e, CommandError::Timeout(_)), "{e}");
    }

    #[test]
    fn failures_carry_stderr() {
        let mut c = Command::new("sh");
        c.args(["-c", "echo nope >&2; exit 3"]);
        let e = run_ok(c, Duration::from_secs(10)).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
