//! nginx in the lab's gateway, the reference the portal sections measure
//! against: `worker_processes auto` (one worker per core), serving what the
//! section gives it, stopped (and waited for) when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use cordon_lab::Lab;

/// A running nginx; killed and reaped on drop.
pub struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connection caps for nginx, to hold it to the portal's.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// `worker_connections` (per worker).
    pub per_worker: usize,
    /// `limit_conn` per client address, if any.
    pub per_address: Option<usize>,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            per_worker: 1024,
            per_address: None,
        }
    }
}

/// Starts nginx in `lab`'s gateway with `files` (name, bytes) in its
/// document root (`ROOT` in `servers` stands for that directory), the
/// `server { .. }` blocks `servers`, and `caps`; returns once `ready_url`
/// answers 200 to subscriber 0.
pub fn start(
    lab: &Lab,
    files: &[(&str, &[u8])],
    servers: &str,
    caps: Caps,
    ready_url: &str,
) -> Result<Nginx> {
    let dir = lab.run_dir().join("nginx");
    std::fs::create_dir_all(dir.join("root"))?;
    std::fs::create_dir_all(dir.join("tmp"))?;
    for (name, bytes) in files {
        std::fs::write(dir.join("root").join(name), bytes)?;
    }
    let d = dir.to_str().context("nginx dir")?;
    let limit = caps.per_address.map_or(String::new(), |n| {
        format!(" limit_conn_zone $binary_remote_addr zone=subscriber:10m;\n limit_conn subscriber {n};\n")
    });
    let servers = servers.replace("ROOT", &format!("{d}/root"));
    let conf = format!(
        "worker_processes auto;\nworker_rlimit_nofile {rlimit};\npid {d}/nginx.pid;\nerror_log {d}/error.log;\ndaemon off;\n\
         events {{ worker_connections {per_worker}; }}\n\
         http {{\n access_log off;\n keepalive_requests 100000;\n client_body_temp_path {d}/tmp;\n proxy_temp_path {d}/tmp;\n fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n scgi_temp_path {d}/tmp;\n{limit}{servers}\n}}\n",
        per_worker = caps.per_worker,
        rlimit = caps.per_worker * 2 + 64,
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    let child = Command::new("ip")
        .args(["netns", "exec", lab.gateway().netns(), "nginx", "-c"])
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx (apt-get install nginx)")?;
    let nginx = Nginx(child);
    let s0 = lab.subscriber(0);
    cordon_lab::wait_for(Duration::from_secs(10), "nginx to answer", || {
        s0.curl(ready_url, &[]).ok().and_then(|r| r.status) == Some(200)
    })?;
    Ok(nginx)
}
