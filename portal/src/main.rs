//! `cordon-portal --config PATH`: reads the config, opens the ports, leaves
//! root, prints one `listening on ADDR ROLE` line per subscriber-facing socket
//! (then `metrics on ADDR` when metrics are served), serves until SIGTERM.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use cordon_config::LogFormat;

/// mimalloc: the runtimes free what the others allocated (shared caches),
/// which made glibc's arenas lock against each other (ARCHITECTURE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The walled garden's web pages for quarantined subscribers.
#[derive(Debug, Parser)]
#[command(name = "cordon-portal", version)]
struct Args {
    /// The Cordon config file (the same one cordond reads).
    #[arg(long, value_name = "PATH")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match cordon_config::load_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cordon-portal: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.logging.format);

    let portal = match cordon_portal::Portal::new(&config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cordon-portal: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    for (role, addr) in portal.local_addrs() {
        tracing::info!(%addr, %role, "listening");
        println!("listening on {addr} {role}");
    }
    if let Some(addr) = portal.metrics_addr() {
        tracing::info!(%addr, "metrics listening");
        println!("metrics on {addr}");
    }
    let result = portal.run();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordon-portal: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs go to stderr; stdout carries only the `listening on` and
/// `metrics on` lines.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        // Control characters escaped: a request's words cannot forge a line.
        _ => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .fmt_fields(cordon_runtime::log::EscapingFields::default())
            .init(),
    }
}
