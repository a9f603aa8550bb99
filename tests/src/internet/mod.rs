//! The "internet" namespace's services, run as `cordon-lab serve-internet`
//! inside `cl-NAME-net`: a web server (80, 443), an SMTP sink (25, 587) and
//! a DNS resolver (53 at the resolver's addresses), all counting what reaches them. The counters are read
//! from the root namespace through a Unix socket in the lab's run directory
//! (a path socket, so it is reachable across network namespaces).

pub mod dns;
pub mod http;
pub mod smtp;
pub mod stats;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket, UnixListener};

use crate::addresses::{RESOLVER_V4, RESOLVER_V6};
use crate::error::LabError;
use stats::{Event, InternetStats, Service};

/// Web server ports (plain HTTP on both).
pub const WEB_PORTS: [u16; 2] = [80, 443];
/// SMTP ports.
pub const SMTP_PORTS: [u16; 2] = [25, 587];
/// The stats socket's file name in the run directory.
pub const STATS_SOCKET: &str = "internet.sock";
/// The line the services print once every listener is bound.
pub const READY_LINE: &str = "ready";

pub(crate) type Shared = Arc<Mutex<InternetStats>>;

pub(crate) fn record(
    stats: &Shared,
    service: Service,
    port: u16,
    event: Event,
    local: IpAddr,
    peer: IpAddr,
) {
    stats.lock().port(service, port).record(event, local, peer);
}

/// Runs every service until SIGTERM or SIGINT. Call it inside the internet
/// namespace (`ip netns exec`); prints [`READY_LINE`] once listening.
pub fn serve(run_dir: &Path) -> Result<(), LabError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LabError::io("starting the services' runtime"))?;
    rt.block_on(serve_async(run_dir))
}

async fn serve_async(run_dir: &Path) -> Result<(), LabError> {
    let stats: Shared = Arc::default();
    for (service, ports) in [(Service::Http, WEB_PORTS), (Service::Smtp, SMTP_PORTS)] {
        for port in ports {
            let listener = bind_tcp(port).await?;
            tokio::spawn(accept_loop(listener, service, port, stats.clone()));
        }
    }
    // UDP is bound per address: a wildcard socket would answer from the
    // interface's first address, and clients rightly ignore such replies.
    for resolver in [IpAddr::from(RESOLVER_V4), IpAddr::from(RESOLVER_V6)] {
        let udp = UdpSocket::bind((resolver, 53))
            .await
            .map_err(LabError::io(format!("binding UDP {resolver} port 53")))?;
        tokio::spawn(dns::serve_udp(udp, stats.clone()));
    }
    let tcp53 = bind_tcp(53).await?;
    tokio::spawn(dns_accept_loop(tcp53, stats.clone()));

    let path = run_dir.join(STATS_SOCKET);
    let _ = std::fs::remove_file(&path);
    let control =
        UnixListener::bind(&path).map_err(LabError::io(format!("binding {}", path.display())))?;
    tokio::spawn(stats_loop(control, stats.clone()));

    println!("{READY_LINE}");
    let _ = std::io::stdout().flush();

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(LabError::io("watching SIGTERM"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// Binds `[::]:port`, which takes IPv4 clients too (the lab sets
/// `bindv6only=0` in the internet namespace).
async fn bind_tcp(port: u16) -> Result<TcpListener, LabError> {
    TcpListener::bind(("::", port))
        .await
        .map_err(LabError::io(format!("binding TCP [::]:{port}")))
}

fn ends(stream: &tokio::net::TcpStream, peer: SocketAddr) -> Option<(IpAddr, IpAddr)> {
    let local = stream.local_addr().ok()?;
    Some((local.ip().to_canonical(), peer.ip().to_canonical()))
}

async fn accept_loop(listener: TcpListener, service: Service, port: u16, stats: Shared) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let Some((local, peer)) = ends(&stream, peer) else {
            continue;
        };
        record(&stats, service, port, Event::Connection, local, peer);
        let stats = stats.clone();
        tokio::spawn(async move {
            match service {
                Service::Http => http::handle(stream, port, local, peer, stats).await,
                Service::Smtp => smtp::handle(stream, port, local, peer, stats).await,
            }
        });
    }
}

async fn dns_accept_loop(listener: TcpListener, stats: Shared) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(dns::serve_tcp(stream, peer, stats.clone()));
    }
}

/// One command a line: `stats` answers the counters as JSON; `reset` answers
/// them and starts again from zero.
async fn stats_loop(listener: UnixListener, stats: Shared) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let stats = stats.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read);
            let read = reader.read_line(&mut line);
            if tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .is_err()
            {
                return;
            }
            let snapshot = {
                let mut s = stats.lock();
                let snap = s.clone();
                if line.trim() == "reset" {
                    *s = InternetStats::default();
                }
                snap
            };
            let json = serde_json::to_vec(&snapshot).unwrap_or_default();
            let _ = write.write_all(&json).await;
            let _ = write.shutdown().await;
        });
    }
}

/// Asks the services behind `socket` (`stats` or `reset`) for their counters.
pub fn read_stats(socket: &Path, command: &str) -> Result<InternetStats, LabError> {
    let what = || format!("asking the internet services at {}", socket.display());
    let mut s = UnixStream::connect(socket).map_err(LabError::io(what()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(LabError::io(what()))?;
    s.write_all(format!("{command}\n").as_bytes())
        .map_err(LabError::io(what()))?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(LabError::io(what()))?;
    serde_json::from_str(&text).map_err(|e| LabError::Stats(format!("{e}: {text:?}")))
}
