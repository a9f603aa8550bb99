//! The portal: requests per second and memory for the cleanup page and for
//! the redirect listener, beside nginx serving the same bytes (the same page,
//! the same 302) from the same gateway, measured with wrk from a subscriber,
//! with keep-alive and with a new connection per request.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use cordon_lab::{Host, Lab, unique_name};

/// wrk's connections and run length.
const CONNECTIONS: &str = "32";
const SECONDS: &str = "5s";
/// nginx's ports in the gateway, beside the portal's 8080 and 8081.
const NGINX_PAGE: u16 = 8090;
const NGINX_REDIRECT: u16 = 8091;

/// Requests per second from wrk's report.
fn wrk(host: &Host, url: &str, new_connections: bool) -> Result<f64> {
    let mut args = vec!["-t2", "-c", CONNECTIONS, "-d", SECONDS];
    if new_connections {
        args.extend(["-H", "Connection: close"]);
    }
    args.push(url);
    let out = host.exec_within("wrk", &args, Duration::from_secs(60))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx or 3xx")) {
        bail!("wrk saw errors from {url}: {line}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec from wrk for {url}: {text}"))
}

/// Resident memory (KiB) of the gateway's processes called `name`.
fn rss_kib(lab: &Lab, name: &str) -> Result<u64> {
    let mut total = 0;
    for pid in cordon_lab::netns::pids(lab.gateway().netns())? {
        let proc_dir = Path::new("/proc").join(pid.to_string());
        let comm = std::fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
        if comm.trim() != name {
            continue;
        }
        let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(total)
}

fn cordon(bin: &Path, lab: &Lab, args: &[&str]) -> Result<()> {
    let out = Command::new(bin.join("cordon"))
        .arg("--socket")
        .arg(lab.gateway().control_socket())
        .arg("--config")
        .arg(lab.gateway().config_path())
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "cordon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Runs the portal benchmark and returns its Markdown section.
pub fn run(bin: &Path) -> Result<String> {
    let lab = Lab::builder(&unique_name("bpt"))
        .subscribers(1)
        .daemons(true)
        .up()?;
    let s0 = lab.subscriber(0);
    cordon(
        bin,
        &lab,
        &[
            "quarantine",
            &s0.ipv4().to_string(),
            "--reason",
            "benchmark",
        ],
    )?;
    let portal_url = lab.gateway().portal_url().to_owned();
    let page = s0.curl(&portal_url, &[])?;
    ensure!(
        page.status == Some(200),
        "the cleanup page answered {:?}",
        page.status
    );
    let servers = format!(
        "server {{ listen {NGINX_PAGE}; root ROOT; default_type text/html; add_header Cache-Control no-store; }}\n\
         server {{ listen {NGINX_REDIRECT}; add_header Cache-Control no-store; return 302 {portal_url}; }}\n"
    );
    let nginx = crate::nginx::start(
        &lab,
        &[("index.html", page.body.as_bytes())],
        &servers,
        crate::nginx::Caps::default(),
        &format!("http://100.64.0.1:{NGINX_PAGE}/"),
    )?;

    let redirect_port = lab.config().portal.redirect_port;
    let cases = [
        (
            "cleanup page",
            portal_url.clone(),
            format!("http://100.64.0.1:{NGINX_PAGE}/"),
        ),
        (
            "redirect (302)",
            format!("http://100.64.0.1:{redirect_port}/any/page"),
            format!("http://100.64.0.1:{NGINX_REDIRECT}/any/page"),
        ),
    ];
    let mut s = String::new();
    writeln!(s, "## Portal: requests per second\n")?;
    writeln!(
        s,
        "wrk (2 threads, {CONNECTIONS} connections, {SECONDS}) from a quarantined subscriber to the gateway. \
         The cleanup page is the real one for that subscriber (cordon-portal asks cordond for its facts, kept for a second per caller); \
         nginx serves the same bytes from a file, and answers the same 302, in the same gateway, same run.\n"
    )?;
    writeln!(s, "| what | connections | cordon-portal | nginx | ratio |")?;
    writeln!(s, "|---|---|---|---|---|")?;
    for (what, ours, theirs) in &cases {
        for (label, fresh) in [("keep-alive", false), ("new per request", true)] {
            let a = wrk(&s0, ours, fresh)?;
            let b = wrk(&s0, theirs, fresh)?;
            writeln!(
                s,
                "| {what} | {label} | {a:.0}/s | {b:.0}/s | {:.2}× |",
                a / b
            )?;
        }
    }
    let portal_rss = rss_kib(&lab, "cordon-portal")?;
    let nginx_rss = rss_kib(&lab, "nginx")?;
    writeln!(
        s,
        "\nResident memory after the runs: cordon-portal {:.1} MiB, nginx (master and workers) {:.1} MiB. Page size: {} bytes.\n\n\
         nginx sends a file; cordon-portal keeps cordond's answer about each caller for a second, asks cordond on one connection per \
         runtime (questions pipelined), and reuses a page it rendered within the same second for the same caller, language, system and \
         facts (the page's form token changes by the second), so a page load with its probes and reloads costs one round trip and one \
         render. This run has one caller, so it mostly measures the reused page; a first view fills the page's shell (rendered once per \
         language, system and standing) with the caller's facts, about 10 µs. The section below has thousands of callers.\n",
        portal_rss as f64 / 1024.0,
        nginx_rss as f64 / 1024.0,
        page.body.len()
    )?;
    drop(nginx);
    drop(lab);
    Ok(s)
}
