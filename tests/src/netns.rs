//! Network namespaces: creating and deleting them (iproute2's `ip netns`, so
//! they are visible to `ip netns list` and to operators), running code or
//! programs inside them, and the sysctls of each.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub use cordon_testkit::netns::{NETNS_DIR, command, path as netns_path};

use crate::error::LabError;
use cordon_testkit::command::run_ok;

/// `ip` is run with a deadline ([`run_ok`]), so a hung `ip` fails
/// the lab instead of hanging it.
const IP_TIMEOUT: Duration = Duration::from_secs(20);

/// Creates the named namespace (`ip netns add`).
pub fn add(netns: &str) -> Result<(), LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "add", netns]);
    run_ok(cmd, IP_TIMEOUT)?;
    Ok(())
}

/// Deletes the named namespace (`ip netns del`); one that is already gone is
/// not an error.
pub fn delete(netns: &str) -> Result<(), LabError> {
    if !exists(netns) {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "del", netns]);
    match run_ok(cmd, IP_TIMEOUT) {
        Err(_) if !exists(netns) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// True when the named namespace exists.
pub fn exists(netns: &str) -> bool {
    netns_path(netns).exists()
}

/// Where `ip netns exec` finds per-namespace files that it mounts over
/// `/etc` (so `resolv.conf` there is what programs in the namespace use).
pub const ETC_NETNS_DIR: &str = "/etc/netns";

/// Makes programs started with `ip netns exec` in `netns` use `resolvers`
/// (so a subscriber's `curl http://any.name/` asks the lab's DNS, never the
/// machine's).
pub fn set_resolvers(netns: &str, resolvers: &[std::net::IpAddr]) -> Result<(), LabError> {
    let dir = Path::new(ETC_NETNS_DIR).join(netns);
    std::fs::create_dir_all(&dir).map_err(LabError::io(format!("creating {}", dir.display())))?;
    let text: String = resolvers
        .iter()
        .map(|r| format!("nameserver {r}\n"))
        .collect();
    let file = dir.join("resolv.conf");
    std::fs::write(&file, text).map_err(LabError::io(format!("writing {}", file.display())))
}

/// Removes the namespace's `/etc/netns` files, if any.
pub fn remove_etc(netns: &str) -> Result<(), LabError> {
    let dir = Path::new(ETC_NETNS_DIR).join(netns);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LabError::io(format!("removing {}", dir.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Names of every named namespace on the machine.
pub fn list() -> Result<Vec<String>, LabError> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(format!("listing {NETNS_DIR}"))(e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Processes living in the namespace (`ip netns pids`).
pub fn pids(netns: &str) -> Result<Vec<i32>, LabError> {
    if !exists(netns) {
        return Ok(Vec::new());
    }
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "pids", netns]);
    let out = run_ok(cmd, IP_TIMEOUT)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}

/// Runs `f` on a fresh thread that has entered the namespace, and returns
/// its result ([`cordon_testkit::netns::enter`]: the caller's own thread is
/// never moved; if the namespace cannot be entered, `f` is not run at all).
pub fn in_netns<T: Send>(netns: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
    Ok(cordon_testkit::netns::enter(netns, f)?)
}

/// Writes sysctls (`net.ipv4.ip_forward` style keys) inside the namespace.
/// `/proc/sys/net` shows the namespace of the thread that opens it, so this
/// touches only `netns`.
pub fn set_sysctls(netns: &str, settings: &[(&str, &str)]) -> Result<(), LabError> {
    in_netns(netns, || {
        for (key, value) in settings {
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            std::fs::write(&path, value).map_err(LabError::io(format!(
                "setting {key}={value} in namespace {netns}"
            )))?;
        }
        Ok(())
    })?
}

/// Reads one sysctl inside the namespace.
pub fn sysctl(netns: &str, key: &str) -> Result<String, LabError> {
    in_netns(netns, || {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(LabError::io(format!("reading {key} in namespace {netns}")))
    })?
}
