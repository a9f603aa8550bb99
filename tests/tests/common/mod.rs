//! What every lab test shares: a builder that uses this build's
//! `cordon-lab`, and checks that a lab left nothing behind.

#![allow(dead_code)]

pub mod notice;
pub mod repo;
pub mod stand_in;

use std::path::Path;

use cordon_lab::{Lab, LabBuilder, LabName, unique_name};

/// The `cordon-lab` executable cargo built for these tests.
pub const LAB_EXE: &str = env!("CARGO_BIN_EXE_cordon-lab");

/// A lab builder with a name no other test uses.
pub fn lab(stem: &str) -> LabBuilder {
    Lab::builder(&unique_name(stem)).lab_exe(LAB_EXE)
}

/// Namespaces of lab `name` that still exist.
pub fn namespaces_of(name: &str) -> Vec<String> {
    let lab = LabName::new(name).unwrap();
    cordon_lab::netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| lab.owns_netns(n))
        .collect()
}

/// Processes whose command line mentions `needle` (a lab's run directory).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// Asserts that nothing of lab `name` is left: namespaces, processes, run
/// directory, per-namespace /etc files.
pub fn assert_gone(name: &str) {
    let run_dir = LabName::new(name).unwrap().run_dir();
    assert_eq!(
        namespaces_of(name),
        Vec::<String>::new(),
        "namespaces of {name} left behind"
    );
    assert!(!run_dir.exists(), "{} left behind", run_dir.display());
    let procs = processes_mentioning(&run_dir.to_string_lossy());
    assert!(
        procs.is_empty(),
        "processes of {name} left behind: {procs:?}"
    );
    let etc = Path::new("/etc/netns").join(format!("cl-{name}-s0"));
    assert!(!etc.exists(), "{} left behind", etc.display());
}

/// Runs `cordon-lab ARGS…`, which must succeed; returns what it printed.
pub fn lab_cli_ok(args: &[&str]) -> Vec<u8> {
    let mut cmd = std::process::Command::new(LAB_EXE);
    cmd.args(args);
    cordon_testkit::command::checked(cmd, std::time::Duration::from_secs(120)).stdout
}

/// Removes lab `name` when dropped: for tests that build labs through the
/// CLI, where no `Lab` guard exists.
pub struct CliLab(pub String);

impl Drop for CliLab {
    fn drop(&mut self) {
        if let Ok(name) = LabName::new(&self.0) {
            let _ = cordon_lab::teardown(&name, &[]);
        }
    }
}

/// cordond's `/metrics`, read from inside the gateway.
pub fn metrics(lab: &Lab) -> String {
    let out = lab
        .gateway()
        .exec(
            "curl",
            &["-s", "--max-time", "5", "http://127.0.0.1:9464/metrics"],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of a metric line that starts with `name` (labels included),
/// 0 when there is none yet (a labelled counter appears at its first use).
pub fn metric(lab: &Lab, name: &str) -> f64 {
    metric_of(lab, name).unwrap_or(0.0)
}

/// [`metric`], `None` when cordond exposes no such line: for asserting a
/// gauge is 0, which a missing metric must not pass.
pub fn metric_of(lab: &Lab, name: &str) -> Option<f64> {
    metrics(lab)
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// What cordond logged so far.
pub fn cordond_log(lab: &Lab) -> String {
    std::fs::read_to_string(lab.run_dir().join("cordond.log")).unwrap_or_default()
}

/// Explains a failed wait with the daemon's log.
pub fn with_log<T>(lab: &Lab, r: Result<T, cordon_lab::LabError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}\n--- cordond.log ---\n{}", cordond_log(lab)))
}

/// True when the gateway's kernel set holds `addr` (an address, or an
/// IPv6 prefix, held by its first address).
pub fn quarantined_in_kernel(lab: &Lab, addr: &str) -> bool {
    quarantined_in_kernel_of(&lab.gateway(), addr)
}

/// [`quarantined_in_kernel`] on gateway `gw` of a fleet.
pub fn quarantined_in_kernel_of(gw: &cordon_lab::Gateway, addr: &str) -> bool {
    let (set, addr) = if addr.contains(':') {
        ("quarantined_v6", addr.split('/').next().unwrap_or(addr))
    } else {
        ("quarantined_v4", addr)
    };
    gw.exec(
        "nft",
        &[
            "get",
            "element",
            "inet",
            "cordon",
            set,
            &format!("{{ {addr} }}"),
        ],
    )
    .unwrap()
    .status
    .success()
}
