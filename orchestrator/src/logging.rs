//! Log output: lines for people, or one JSON object a line for log shippers
//! (`logging.format: json`). Logs go to stderr; stdout carries only the
//! `cordond ready` line that supervisors and the lab wait for. `RUST_LOG`
//! overrides the level (default `info`). Text lines show control characters
//! escaped ([`EscapingFields`]): a reason or a feed's evidence cannot forge a
//! line or send escapes to the terminal of whoever reads the log.

use cordon_config::LogFormat;
use std::io::IsTerminal;

use cordon_runtime::log::EscapingFields;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (once; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(EscapingFields::default())
            .try_init(),
    };
}
