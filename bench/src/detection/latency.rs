//! Timing one quarantine: a zombie's crossing attempt, or an operator's
//! `cordon quarantine`, to the moment the walled garden resets the host's
//! web connections, measured by the same probe from the host's namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use cordon_lab::addresses::WEB_V4;
use cordon_lab::{Host, Lab};
use socket2::{Domain, Protocol, Socket, Type};

use super::load::{mail_server, syn};
use super::{ENFORCED_WITHIN, PROBE_PAUSE};

/// One connection from `src` to the web server on 443: `Ok(true)` when it
/// is reset (the walled garden's answer, so the host is quarantined in the
/// kernel), `Ok(false)` when it connects.
fn garden_resets(src: Ipv4Addr) -> std::io::Result<bool> {
    let web = SocketAddr::new(WEB_V4.into(), 443);
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.bind(&SocketAddr::new(src.into(), 0).into())?;
    match s.connect_timeout(&web.into(), Duration::from_millis(200)) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(true),
        Err(e) => Err(e),
    }
}

/// Polls [`garden_resets`] until it holds; the time since `t0`, or what the
/// last attempt said.
fn enforced_since(src: Ipv4Addr, t0: Instant) -> Result<Duration, String> {
    loop {
        let last = match garden_resets(src) {
            Ok(true) => return Ok(t0.elapsed()),
            Ok(false) => "it still connected".to_owned(),
            Err(e) => format!("the last probe failed: {e}"),
        };
        if t0.elapsed() > ENFORCED_WITHIN {
            return Err(last);
        }
        // Half a millisecond between probes: fine enough, and it leaves the
        // two cores to cordond rather than to connections to the web server.
        std::thread::sleep(PROBE_PAUSE);
    }
}

/// One zombie measured: `passes` attempts back to back (what the kernel's
/// meter lets through), then the one that crosses (time stamped just before
/// it is sent), then polling until the walled garden resets its web
/// connections.
pub(super) fn zombie_latency(h: &Host, src: Ipv4Addr, passes: u32) -> Result<Duration> {
    let measured = h.run(|| -> std::io::Result<Result<Duration, String>> {
        if garden_resets(src)? {
            return Ok(Err("it was in the walled garden before it sent".into()));
        }
        let dst = mail_server(0);
        let mut held = Vec::new();
        for _ in 0..passes {
            held.push(syn(src, dst)?);
        }
        let t0 = Instant::now();
        held.push(syn(src, dst)?);
        Ok(enforced_since(src, t0))
    })??;
    measured.map_err(|why| {
        anyhow::anyhow!("zombie {src} was not seen quarantined within {ENFORCED_WITHIN:?}: {why}")
    })
}

/// The reference: an operator's `cordon quarantine`, started from the
/// host's namespace so that the same probe times it.
pub(super) fn cli_latency(lab: &Lab, bin: &Path, h: &Host, src: Ipv4Addr) -> Result<Duration> {
    let gw = lab.gateway();
    let cordon = bin.join("cordon");
    let measured = h.run(|| -> std::io::Result<Result<Duration, String>> {
        let t0 = Instant::now();
        let mut child = Command::new(&cordon)
            .arg("--socket")
            .arg(gw.control_socket())
            .arg("--config")
            .arg(gw.config_path())
            .args(["quarantine", &src.to_string(), "--reason", "bench"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let took = enforced_since(src, t0);
        child.wait()?;
        Ok(took)
    })??;
    measured.map_err(|why| {
        anyhow::anyhow!("`cordon quarantine {src}` was not seen enforced in time: {why}")
    })
}
