//! `cordon`, the operators' command line: parses, checks what it can
//! locally (addresses against the config, the reason, the hold), asks
//! `cordond` over the control socket, and prints for people or as one JSON
//! document. Exit codes: 0 done, 1 could not be done, 2 bad input.

mod args;
mod conn;
mod import;
mod out;
mod output;
mod run;
mod sessions;

pub use args::{Cli, Command};
pub use out::Exit;
pub use run::run;
