//! DHCP in the lab: dnsmasq serving the subscriber links from the gateway,
//! and busybox `udhcpc` as each subscriber's client, so session tests can
//! hand out real leases and watch the hook scripts tell Cordon.
//!
//! Addresses: on subscriber `i`'s link (the gateway's `sub{i}`,
//! 100.64.{i+1}.0/24, gateway .1) dnsmasq hands out .100 to .199
//! ([`dhcp_range`]), clear of the lab's static .1 and .2. A subscriber that
//! runs [`Udhcpc`] first loses its static IPv4 address (and so its IPv4
//! default route) on that link: the lease is its only IPv4 address.
//!
//! Which address a client gets is decided by reservations by MAC
//! (`dhcp-host` lines in a `--dhcp-hostsfile` dnsmasq re-reads on SIGHUP,
//! [`Dnsmasq::reserve`]): deterministic, unlike dnsmasq's hash of the MAC
//! over the range. To bring a client back with a different address, reserve
//! another one for its MAC, release ([`Udhcpc::release`]) and renew.
//!
//! udhcpc runs with a script of ours, written into the run directory, that
//! only sets the namespace's address and default route on its interface
//! (the default script rewrites /etc/resolv.conf, which namespaces share with
//! the machine), and records the address for [`Udhcpc::address`].

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::addresses::subscriber_gw_v4;
use crate::error::LabError;
use crate::host::Host;
use crate::lab::Lab;
use crate::poll::poll_until;
use crate::process::LabProcess;

/// How long dnsmasq and udhcpc get to come up.
const START: Duration = Duration::from_secs(10);

/// The first and last address dnsmasq hands out on subscriber `i`'s link.
pub fn dhcp_range(i: usize) -> (Ipv4Addr, Ipv4Addr) {
    let [a, b, c, _] = subscriber_gw_v4(i).octets();
    (Ipv4Addr::new(a, b, c, 100), Ipv4Addr::new(a, b, c, 199))
}

/// dnsmasq as the DHCP server of some subscriber links, DNS off; stopped on
/// drop.
#[derive(Debug)]
pub struct Dnsmasq {
    process: LabProcess,
    hosts: PathBuf,
    leases: PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq in the gateway's namespace, serving the links of
    /// subscribers `links` (each its [`dhcp_range`]; on a shared link name
    /// one subscriber, whose range then serves them all) with leases of `lease` (dnsmasq's minimum is 2
    /// minutes) and running `script` (`--dhcp-script`, an absolute path) on
    /// every lease change, with `script_env` added to its environment (the
    /// script inherits dnsmasq's).
    pub fn start(
        lab: &Lab,
        links: &[usize],
        lease: Duration,
        script: &Path,
        script_env: &[(&str, &str)],
    ) -> Result<Dnsmasq, LabError> {
        let dir = lab.run_dir();
        let hosts = dir.join("dnsmasq.hosts");
        let leases = dir.join("dnsmasq.leases");
        std::fs::write(&hosts, "").map_err(LabError::io(format!("writing {}", hosts.display())))?;
        let mut args = vec![
            "--keep-in-foreground".to_owned(),
            "--log-facility=-".to_owned(),
            "--log-dhcp".to_owned(),
            "--conf-file=/dev/null".to_owned(),
            "--port=0".to_owned(),
            "--no-resolv".to_owned(),
            "--no-hosts".to_owned(),
            "--bind-interfaces".to_owned(),
            "--user=root".to_owned(),
            format!("--dhcp-leasefile={}", leases.display()),
            format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
            format!("--dhcp-hostsfile={}", hosts.display()),
            format!("--dhcp-script={}", script.display()),
        ];
        let mut interfaces: Vec<&str> = Vec::new();
        for &i in links {
            let plan = lab.plan().subscribers.get(i).ok_or_else(|| {
                LabError::InvalidOption(format!("the lab has no subscriber {i} for dnsmasq"))
            })?;
            if !interfaces.contains(&plan.interface.as_str()) {
                interfaces.push(&plan.interface);
                args.push(format!("--interface={}", plan.interface));
            }
            let (first, last) = dhcp_range(i);
            args.push(format!(
                "--dhcp-range={first},{last},255.255.255.0,{}s",
                lease.as_secs()
            ));
        }
        // dnsmasq passes its own environment on to the script.
        let mut env_args: Vec<String> =
            script_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env_args.push("dnsmasq".to_owned());
        env_args.extend(args);
        let refs: Vec<&str> = env_args.iter().map(String::as_str).collect();
        let mut process = LabProcess::spawn(
            "dnsmasq",
            lab.gateway().netns(),
            Path::new("env"),
            &refs,
            dir.join("dnsmasq.log"),
        )?;
        process.wait_ready(START, |log| log.contains("DHCP, IP range"), || false)?;
        Ok(Dnsmasq {
            process,
            hosts,
            leases,
        })
    }

    /// Reserves `address` for the client with hardware address `mac` (it
    /// gets it at its next DISCOVER or REQUEST), replacing any earlier
    /// reservation for that MAC, and makes dnsmasq re-read the list.
    pub fn reserve(&self, mac: &str, address: Ipv4Addr) -> Result<(), LabError> {
        let old = std::fs::read_to_string(&self.hosts).unwrap_or_default();
        let mut lines: Vec<String> = old
            .lines()
            .filter(|l| !l.starts_with(&format!("{mac},")))
            .map(str::to_owned)
            .collect();
        lines.push(format!("{mac},{address}"));
        std::fs::write(&self.hosts, lines.join("\n") + "\n")
            .map_err(LabError::io(format!("writing {}", self.hosts.display())))?;
        self.signal(Signal::SIGHUP)
    }

    /// dnsmasq's lease file as it stands (one lease a line).
    pub fn leases(&self) -> String {
        std::fs::read_to_string(&self.leases).unwrap_or_default()
    }

    /// Its log (with `--log-dhcp`: every DHCP exchange and script run).
    pub fn log(&self) -> &Path {
        self.process.log()
    }

    fn signal(&self, signal: Signal) -> Result<(), LabError> {
        signal_pid(self.process.pid(), signal, "dnsmasq")
    }
}

/// busybox udhcpc on a subscriber's link; stopped on drop (without a
/// release: the lease stays until it expires or [`Udhcpc::release`]).
#[derive(Debug)]
pub struct Udhcpc {
    process: LabProcess,
    state: PathBuf,
    host: Host,
}

impl Udhcpc {
    /// Takes the static IPv4 address off subscriber `i`'s `eth0`, gives the
    /// link the hardware address `mac` (so reservations can name it), and
    /// starts `busybox udhcpc` there with our script.
    pub fn start(lab: &Lab, i: usize, mac: &str) -> Result<Udhcpc, LabError> {
        let host = lab.subscriber(i);
        let dir = lab.run_dir();
        let script = dir.join(format!("udhcpc-{i}.sh"));
        let state = dir.join(format!("udhcpc-{i}.address"));
        let _ = std::fs::remove_file(&state);
        std::fs::write(&script, udhcpc_script(&state))
            .map_err(LabError::io(format!("writing {}", script.display())))?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(LabError::io(format!("chmod {}", script.display())))?;
        for args in [
            &["-4", "addr", "flush", "dev", "eth0"][..],
            &["link", "set", "dev", "eth0", "address", mac],
        ] {
            run_ok(&host, "ip", args)?;
        }
        let script_arg = script.display().to_string();
        let mut process = LabProcess::spawn(
            &format!("udhcpc {i}"),
            host.netns(),
            Path::new("busybox"),
            &[
                "udhcpc",
                "-f",
                "-i",
                "eth0",
                "-s",
                &script_arg,
                "-t",
                "10",
                "-T",
                "1",
                "-A",
                "1",
            ],
            dir.join(format!("udhcpc-{i}.log")),
        )?;
        process.wait_ready(START, |log| log.contains("started"), || false)?;
        Ok(Udhcpc {
            process,
            state,
            host,
        })
    }

    /// The address it holds now, waiting up to `within` for one that is not
    /// `not` (pass the previous address to wait for a change, `None` for
    /// any).
    pub fn address(&self, within: Duration, not: Option<Ipv4Addr>) -> Result<Ipv4Addr, LabError> {
        poll_until(within, "udhcpc to hold an address", || {
            let text = std::fs::read_to_string(&self.state).ok()?;
            let addr: Ipv4Addr = text.trim().parse().ok()?;
            (Some(addr) != not).then_some(addr)
        })
    }

    /// The address it holds at this moment, if any.
    pub fn current(&self) -> Option<Ipv4Addr> {
        std::fs::read_to_string(&self.state)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// When the client last put a lease's address on its interface (read
    /// with the address: wait for [`Udhcpc::address`] first).
    pub fn bound_at(&self) -> Option<SystemTime> {
        let mut at = self.state.clone().into_os_string();
        at.push(".at");
        let text = std::fs::read_to_string(at).ok()?;
        let secs: f64 = text.trim().parse().ok()?;
        Some(UNIX_EPOCH + Duration::try_from_secs_f64(secs).ok()?)
    }

    /// Releases the lease (SIGUSR2): the server ends it (dnsmasq runs its
    /// script with `del`) and the address leaves the interface.
    pub fn release(&self) -> Result<(), LabError> {
        signal_pid(self.process.pid(), Signal::SIGUSR2, "udhcpc")
    }

    /// Renews (SIGUSR1): after a release, asks for a lease again.
    pub fn renew(&self) -> Result<(), LabError> {
        signal_pid(self.process.pid(), Signal::SIGUSR1, "udhcpc")
    }

    /// The subscriber it runs for.
    pub fn host(&self) -> &Host {
        &self.host
    }
}

/// Our udhcpc script: `bound`/`renew` set the address and default route on
/// the interface and record the address and when it was set; `deconfig`
/// removes them. Nothing
/// else (no resolv.conf, no other routes).
fn udhcpc_script(state: &Path) -> String {
    format!(
        r#"#!/bin/sh
# Written by the Cordon lab (tests/src/dhcp.rs): only this namespace's
# address and default route; never /etc/resolv.conf.
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface"
    rm -f '{state}'
    ;;
bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${{mask:-24}}" dev "$interface"
    if [ -n "$router" ]; then
        ip route replace default via "${{router%% *}}" dev "$interface"
    fi
    date +%s.%N >'{state}.at'
    printf '%s\n' "$ip" >'{state}.new' && mv '{state}.new' '{state}'
    ;;
esac
exit 0
"#,
        state = state.display()
    )
}

fn run_ok(host: &Host, program: &str, args: &[&str]) -> Result<(), LabError> {
    let out = host.exec(program, args)?;
    if out.status.success() {
        return Ok(());
    }
    Err(LabError::Command {
        command: format!("{program} {}", args.join(" ")),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn signal_pid(pid: Option<u32>, signal: Signal, what: &str) -> Result<(), LabError> {
    let pid = pid
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| LabError::InvalidOption(format!("{what} is not running")))?;
    kill(Pid::from_raw(pid), signal)
        .map_err(|e| LabError::InvalidOption(format!("signalling {what} ({signal}): {e}")))
}
