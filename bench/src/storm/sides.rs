//! The login storm's servers and clients outside the generator: the
//! trivial responder (`cordon-radius-responder`), `radclient`, and the
//! checks that the storm left what it should in cordond (the kernel set,
//! `cordon sessions`).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cordon_lab::Lab;
use cordon_radius::{Accounting, Status};

use super::load::Client;

/// The trivial responder, running in the gateway's namespace until
/// dropped.
pub struct Responder {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
}

impl Responder {
    /// Starts it on a free loopback port of `netns` with `secret`.
    pub fn start(bin: &Path, netns: &str, secret: &str) -> Result<Responder> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(bin.join("cordon-radius-responder"))
            .args(["127.0.0.1:0", secret])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting cordon-radius-responder (scripts/bench builds it)")?;
        let out = child.stdout.take().context("the responder's stdout")?;
        let mut lines = BufReader::new(out).lines();
        let first = match lines.next() {
            Some(Ok(l)) => l,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cordon-radius-responder exited before it listened");
            }
        };
        let v: serde_json::Value = serde_json::from_str(&first)?;
        let address: SocketAddr = v["listening"]
            .as_str()
            .context("the responder's first line names no address")?
            .parse()?;
        // It writes a line per datagram: keep reading so it never blocks.
        std::thread::spawn(move || for _ in lines {});
        Ok(Responder { child, address })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `radclient` run did.
#[derive(Debug, Clone, Copy)]
pub struct RadclientRun {
    /// Process start to exit.
    pub elapsed: Duration,
    /// Its summary's Accepted (Accounting-Responses received).
    pub answered: usize,
    /// Its summary's Lost.
    pub lost: usize,
}

impl RadclientRun {
    /// Answers per second over the process's whole run.
    pub fn rate(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `requests` as a radclient input file (one block per packet).
pub fn radclient_file(requests: &[Accounting]) -> String {
    let mut s = String::with_capacity(requests.len() * 160);
    for r in requests {
        let status = match r.status {
            Status::Start => "Start",
            Status::AccountingOn => "Accounting-On",
            _ => "Interim-Update",
        };
        s.push_str("Acct-Status-Type = ");
        s.push_str(status);
        s.push('\n');
        let text = [
            ("User-Name", &r.user_name),
            ("Acct-Session-Id", &r.acct_session_id),
            ("NAS-Identifier", &r.nas_identifier),
        ];
        for (name, v) in text {
            if let Some(v) = v {
                s.push_str(&format!("{name} = \"{v}\"\n"));
            }
        }
        if let Some(ip) = r.framed_ip {
            s.push_str(&format!("Framed-IP-Address = {ip}\n"));
        }
        s.push('\n');
    }
    s
}

/// Runs `radclient -f FILE -p WINDOW` in `netns` against `server`.
/// radclient's `-r` counts transmissions, so it gets `retries + 1`.
pub fn radclient(
    netns: &str,
    file: &Path,
    server: SocketAddr,
    secret: &str,
    client: Client,
) -> Result<RadclientRun> {
    let t = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "radclient", "-q", "-s", "-f"])
        .arg(file)
        .args([
            "-p",
            &client.window.to_string(),
            "-r",
            &(client.retries + 1).to_string(),
            "-t",
            &client.timeout.as_secs_f64().to_string(),
            &server.to_string(),
            "acct",
            secret,
        ])
        .stdin(Stdio::null())
        .output()
        .context("running radclient (Debian: freeradius-utils)")?;
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Result<usize> {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().parse().ok())?
            })
            .with_context(|| {
                format!(
                    "no {name} in radclient's summary: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    Ok(RadclientRun {
        elapsed,
        answered: field("Accepted")?,
        lost: field("Lost")?,
    })
}

/// Writes `text` to `path`.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let mut f =
        std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The IPv4 addresses in the lab's `quarantined_v4` set, from the kernel.
pub fn quarantined_v4(lab: &Lab) -> Result<HashSet<Ipv4Addr>> {
    let table = &lab.config().table;
    let out = lab.gateway().exec_within(
        "nft",
        &["-j", "list", "set", "inet", table, "quarantined_v4"],
        Duration::from_secs(30),
    )?;
    if !out.status.success() {
        bail!("nft list set: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut found = HashSet::new();
    collect_v4(&v, &mut found);
    Ok(found)
}

/// Every string that is an IPv4 address, anywhere in `v` (set elements
/// come bare or wrapped in `{"elem": {"val": ...}}` when they carry a
/// timeout).
fn collect_v4(v: &serde_json::Value, found: &mut HashSet<Ipv4Addr>) {
    match v {
        serde_json::Value::String(s) => {
            if let Ok(ip) = s.parse() {
                found.insert(ip);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_v4(x, found)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_v4(x, found)),
        _ => {}
    }
}

/// Every session record `cordon sessions --json` lists, as
/// `(session id, still open)`.
pub fn sessions(bin: &Path, lab: &Lab, limit: usize) -> Result<Vec<(String, bool)>> {
    let gw = lab.gateway();
    let out = Command::new(bin.join("cordon"))
        .arg("--socket")
        .arg(gw.control_socket())
        .arg("--config")
        .arg(gw.config_path())
        .args(["--json", "sessions", "--limit", &limit.to_string()])
        .output()?;
    if !out.status.success() {
        bail!("cordon sessions: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(v["sessions"]
        .as_array()
        .context("cordon sessions --json has no sessions list")?
        .iter()
        .filter_map(|s| Some((s["session_id"].as_str()?.to_owned(), s["ended"].is_null())))
        .collect())
}

/// The `drops` count of the UDP socket bound to `port` in the lab's
/// gateway (`/proc/net/udp`): datagrams the kernel threw away because the
/// socket's receive buffer was full.
pub fn udp_drops(lab: &Lab, port: u16) -> Result<u64> {
    let out = lab
        .gateway()
        .exec_within("cat", &["/proc/net/udp"], Duration::from_secs(10))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let want = format!(":{port:04X}");
    text.lines()
        .skip(1)
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1)?.ends_with(&want)).then(|| f.last()?.parse().ok())?
        })
        .with_context(|| format!("no UDP socket on port {port} in /proc/net/udp"))
}

/// Datagrams the kernel has dropped for a full receive buffer at any UDP
/// socket of the lab's gateway so far (`Udp: RcvbufErrors` in
/// `/proc/net/snmp`).
pub fn udp_rcvbuf_errors(lab: &Lab) -> Result<u64> {
    let out = lab
        .gateway()
        .exec_within("cat", &["/proc/net/snmp"], Duration::from_secs(10))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next(), udp.next());
    names
        .zip(values)
        .and_then(|(n, v)| {
            let i = n.split_whitespace().position(|f| f == "RcvbufErrors")?;
            v.split_whitespace().nth(i)?.parse().ok()
        })
        .context("no Udp RcvbufErrors in /proc/net/snmp")
}
