//! The shell scripts in `vagrant/provision/`, `scripts/` and `deploy/hooks/`:
//! they parse with `bash -n`, pass shellcheck, and the operator's and the
//! servers' hooks are executable.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::common::repo::{read, root, run, text};
use super::{rel, script_files};

/// Shell scripts among them, by their `#!` line; any file there without one
/// is a mistake.
fn shell_scripts() -> Vec<PathBuf> {
    let mut shell = Vec::new();
    for path in script_files() {
        let first = read(&rel(&path)).lines().next().unwrap_or("").to_owned();
        assert!(
            first.starts_with("#!"),
            "{}: a script must start with a #! line naming its interpreter",
            rel(&path)
        );
        if first.ends_with("bash") || first.ends_with("/sh") || first.ends_with(" sh") {
            shell.push(path);
        } else {
            eprintln!(
                "{}: not a shell script ({first}), not checked here",
                rel(&path)
            );
        }
    }
    shell
}

#[test]
fn every_script_parses_with_bash_n() {
    let scripts = shell_scripts();
    let provision: Vec<_> = scripts
        .iter()
        .filter(|p| rel(p).starts_with("vagrant/provision/"))
        .collect();
    assert_eq!(
        provision.len(),
        5,
        "common, gateway, internet, subscriber, and lib (the functions they source): {provision:?}"
    );
    for path in &scripts {
        let out = run("bash", "apt install bash", |c| {
            c.arg("-n").arg(path);
        });
        assert!(
            out.status.success(),
            "bash -n {}:\n{}",
            rel(path),
            text(&out)
        );
    }
}

#[test]
fn every_script_passes_shellcheck() {
    let scripts = shell_scripts();
    let out = run("shellcheck", "apt install shellcheck", |c| {
        c.current_dir(root())
            .arg("--external-sources")
            .arg("--format=gcc")
            .args(scripts.iter().map(|p| rel(p)));
    });
    assert!(
        out.status.success(),
        "shellcheck found problems:\n{}",
        text(&out)
    );
}

#[test]
fn operator_scripts_are_executable() {
    for path in script_files() {
        let rel_path = rel(&path);
        // The hooks' shared parts (*.sh) are sourced, not run.
        let hook = rel_path.starts_with("deploy/hooks/") && !rel_path.ends_with(".sh");
        if !rel_path.starts_with("scripts/") && !hook {
            continue;
        }
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert!(
            mode & 0o111 != 0,
            "{} is not executable (chmod +x): the README (or a DHCP/PPP server) runs it as a command",
            rel(&path)
        );
    }
}
