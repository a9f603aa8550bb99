//! `cordon`: the operators' command line. Parsing and exit codes only; the
//! work is in `cordon_orchestrator::cli`.

use std::process::ExitCode;

use clap::Parser;
use cordon_orchestrator::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cordon: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(runtime.block_on(run(cli)) as u8)
}
