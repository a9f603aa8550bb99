//! `cordond`: parses its options, runs the daemon until SIGTERM, maps
//! failure to an exit code. Everything else is in `cordon_orchestrator::daemon`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cordon_orchestrator::daemon::{Options, run};

/// mimalloc, as the portal: glibc's allocator took about a sixth of
/// cordond's time answering the portal's questions under an outbreak
/// (`_int_malloc`, `_int_free`, `malloc_consolidate` by perf), with the
/// runtime's threads freeing what others allocated (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cordon's daemon: owns the nftables table, the store and the lifecycle.
#[derive(Debug, Parser)]
#[command(name = "cordond", version, about)]
struct Args {
    /// The config file.
    #[arg(long, default_value = "/etc/cordon/cordon.yaml", value_name = "PATH")]
    config: PathBuf,
    /// How often the kernel's table is compared with the store and repaired.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    reconcile_interval: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cordon_config::duration::parse(s)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cordond: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let options = Options {
        config: args.config,
        reconcile_every: args.reconcile_interval,
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordond: {e}");
            ExitCode::from(1)
        }
    }
}
