//! cordond's Unix sockets under abuse: who may use the portal socket, and
//! how cordond behaves when a flood of idle connections would exhaust its
//! descriptors.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{LAB_EXE, lab};
use cordon_lab::probe::{self, PortalSocketOutcome};

/// Runs `cordon-lab probe portal-socket` as `user`.
fn probe_as(user: &str, socket: &std::path::Path, address: &str) -> String {
    let account = nix::unistd::User::from_name(user).unwrap().unwrap();
    let out = Command::new(LAB_EXE)
        .args(["probe", "portal-socket"])
        .arg(socket)
        .arg(address)
        .uid(account.uid.as_raw())
        .gid(account.gid.as_raw())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_portal_socket_serves_the_portal_user_and_no_stranger() {
    let lab = lab("psock").subscribers(1).daemons(true).up().unwrap();
    let socket = lab.plan().gateway.portal_socket.clone();
    let address = lab.subscriber(0).ipv4().to_string();

    // Root is a stranger too: only portal.user is served.
    assert_eq!(
        probe::portal_socket(&socket, address.parse().unwrap(), Duration::from_secs(5)),
        PortalSocketOutcome::Closed
    );
    // Even with the file opened to everybody by mistake, `nobody` (shared
    // by many daemons) gets nothing.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(probe_as("nobody", &socket, &address), "closed");
    // The portal's own user is answered.
    assert_eq!(probe_as("cordon-portal", &socket, &address), "answered");

    let log = std::fs::read_to_string(lab.run_dir().join("cordond.log")).unwrap();
    let refusals = log
        .lines()
        .filter(|l| l.contains("may not use this socket"))
        .count();
    assert_eq!(
        refusals, 1,
        "logged once a while, not per connection:\n{log}"
    );
    lab.down().unwrap();
}

/// CPU time (user + system, in clock ticks) of `pid` so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name in parentheses; utime and stime are the
    // 14th and 15th fields of the line.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

#[test]
fn cordond_stays_calm_and_serves_operators_when_idle_connections_exhaust_descriptors() {
    const NOFILE: u64 = 256;
    const FLOOD: usize = 1100;
    // This test holds the flood's descriptors itself.
    cordon_runtime::limits::raise_nofile().unwrap();
    let lab = lab("fdflood")
        .subscribers(2)
        .daemons(true)
        .daemon_nofile(NOFILE)
        .up()
        .unwrap();
    let pid = lab.pid_of("cordond").unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(&format!(" {NOFILE} "))),
        "{limits}"
    );
    // What an operator's command takes on this machine when all is calm.
    let calm = (0..3)
        .map(|_| timed(|| drop(lab.cordon_ok(&["status"]).unwrap())))
        .min()
        .unwrap();

    let control = lab.plan().gateway.control_socket.clone();
    let portal = lab.plan().gateway.portal_socket.clone();
    let mut flood = Vec::with_capacity(2 * FLOOD);
    for _ in 0..FLOOD {
        flood.push(UnixStream::connect(&control).unwrap());
    }
    // Root is a stranger on the portal socket; it is flooded as well.
    for _ in 0..FLOOD {
        flood.push(UnixStream::connect(&portal).unwrap());
    }
    let log = lab.run_dir().join("cordond.log");
    let log_len = || std::fs::metadata(&log).unwrap().len();

    // While the flood holds its connections: cordond neither spins nor
    // fills the log.
    let (ticks0, log0, t0) = (cpu_ticks(pid), log_len(), Instant::now());
    std::thread::sleep(Duration::from_secs(3)); // the interval measured, not a wait for an event
    let (ticks1, log1, elapsed) = (cpu_ticks(pid), log_len(), t0.elapsed());
    let cpu = (ticks1 - ticks0) as f64 / 100.0 / elapsed.as_secs_f64();
    eprintln!(
        "flooded: cpu {:.1} % of a core, log +{} bytes in {elapsed:?}",
        cpu * 100.0,
        log1 - log0
    );
    assert!(
        cpu < 0.10,
        "cordond used {:.0} % of a core while flooded",
        cpu * 100.0
    );
    assert!(
        log1 - log0 < 16 * 1024,
        "cordond logged {} bytes in {elapsed:?} while flooded",
        log1 - log0
    );

    // An operator is still answered at once.
    let address = lab.subscriber(0).ipv4().to_string();
    let took = timed(|| {
        lab.cordon_ok(&["quarantine", &address, "--reason", "flood test"])
            .unwrap();
    });
    eprintln!("quarantine under the flood: {took:?} (calm status: {calm:?})");
    assert!(
        took <= calm + Duration::from_millis(100),
        "quarantine took {took:?} under the flood (calm: {calm:?})"
    );
    assert_eq!(lab.state(&address).unwrap(), "quarantined");
    // And the portal, under the same limit, still serves the page.
    let page = lab
        .subscriber(0)
        .curl(lab.config().portal.public_url.as_str(), &[])
        .unwrap();
    assert_eq!(page.status, Some(200), "{page:?}");
    drop(flood);
    lab.down().unwrap();
}

#[test]
fn the_lab_refuses_to_start_without_the_portal_user_and_says_how_to_create_it() {
    let err = lab("nouser")
        .configure(|c| c.portal.user = Some("cl-no-such-user".parse().unwrap()))
        .up()
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, cordon_lab::LabError::MissingUser { .. }),
        "{message}"
    );
    assert!(message.contains("scripts/install-deps"), "{message}");
}
