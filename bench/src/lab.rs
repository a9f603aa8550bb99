//! What the benchmarks that run cordond in a lab share: how they ask for
//! the lab, and what becomes of its logs.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use cordon_lab::{Lab, LabBuilder, unique_name};

/// A lab named after `prefix` whose gateway runs this build's cordond
/// (and whose internet this build's cordon-lab), from `bin`.
pub(crate) fn with_cordond(prefix: &str, bin: &Path) -> LabBuilder {
    Lab::builder(&unique_name(prefix))
        .lab_exe(bin.join("cordon-lab"))
        .cordond(bin.join("cordond"))
}

/// [`with_cordond`] with `subscribers` namespaces and the quarantine
/// timings of cordon.example.yaml rather than the lab's seconds: nobody
/// is released while a run measures, and with the lab's 4 s quiet period
/// cordond would read the kernel for every held zombie each second, which
/// no gateway does.
pub(crate) fn with_gateway_timings(prefix: &str, subscribers: usize, bin: &Path) -> LabBuilder {
    with_cordond(prefix, bin)
        .subscribers(subscribers)
        .min_hold(Duration::from_secs(30 * 60))
        .quiet_period(Duration::from_secs(2 * 3600))
        .configure(|c| c.quarantine.max_hold = Duration::from_secs(7 * 86_400))
}

/// Runs `measure` in `lab`, then removes the lab. Its logs are copied to
/// /tmp first when the measurement failed, so that the failure can be
/// looked into after the lab is gone, or when CORDON_BENCH_KEEP_LOGS is
/// set (to look at a good run's too).
pub(crate) fn measure_in<T>(lab: Lab, measure: impl FnOnce(&Lab) -> Result<T>) -> Result<T> {
    let measured = measure(&lab);
    if measured.is_err() || std::env::var_os("CORDON_BENCH_KEEP_LOGS").is_some() {
        keep_logs(&lab);
    }
    drop(lab);
    measured
}

/// Copies the lab's logs to /tmp.
fn keep_logs(lab: &Lab) {
    for log in lab.logs() {
        if let Some(name) = log.file_name() {
            let to =
                std::env::temp_dir().join(format!("{}-{}", lab.name(), name.to_string_lossy()));
            if std::fs::copy(&log, &to).is_ok() {
                eprintln!("cordon-bench: kept {}", to.display());
            }
        }
    }
}
