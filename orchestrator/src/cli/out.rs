//! What every command shares at the edge: the exit code, and writing to
//! stdout and stderr (JSON or text, control characters escaped, a closed
//! pipe is not a failure). `run` and `import` both use it; it uses neither.

use std::io::{ErrorKind, Write as _};

use cordon_proto::text::printable;
use serde::Serialize;

/// The contract's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done.
    Ok = 0,
    /// It could not be done (daemon unreachable, kernel refused).
    Failed = 1,
    /// Bad input (address, reason, duration, config, command).
    BadInput = 2,
}

/// Where the output goes: text for people, or JSON.
pub(super) struct Out {
    pub(super) json: bool,
}

/// Writes to stdout. A reader that went away (`cordon show | head -1`)
/// is not a failure: the output was wanted only so far, so a broken pipe
/// counts as done (exit 0), never as a panic.
pub(super) fn emit(text: &str) -> Exit {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Exit::Ok,
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            warn(&format!("cannot write the output: {e}"));
            Exit::Failed
        }
    }
}

/// One message on stderr, `cordon: ` first, control characters escaped
/// (messages echo input: a feed's line, cordond's answer). A closed stderr
/// is ignored: there is nowhere left to say anything.
pub(super) fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "cordon: {}", for_people(message));
}

/// Text for people with control characters escaped line by line (line
/// breaks that the text's own layout put there stay). Fields are escaped
/// where they are laid out (`output`), so one with `\r\n` in it cannot
/// start a line of its own; this is the last guard at the edge.
pub(super) fn for_people(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&printable(line));
    }
    out
}

impl Out {
    pub(super) fn doc<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Exit {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => emit(&(s + "\n")),
                Err(e) => {
                    warn(&format!("cannot print JSON: {e}"));
                    Exit::Failed
                }
            }
        } else {
            emit(&for_people(&text()))
        }
    }

    pub(super) fn fail(&self, exit: Exit, message: &str) -> Exit {
        warn(message);
        if self.json {
            let class = if exit == Exit::BadInput {
                "bad_input"
            } else {
                "failed"
            };
            emit(&format!(
                "{}\n",
                serde_json::json!({ "error": message, "class": class })
            ));
        }
        exit
    }
}
