//! The subscribers' side: every host visits once, each visit a few requests
//! from that host's own address, from many namespaces at once, with
//! keep-alive (one connection per visit, requests in turn) or a new
//! connection per request (all of a visit's requests at once).
//!
//! wrk cannot choose a source address, and the portal's costs are per
//! caller, so the load is made here: one thread per namespace, each a
//! single-threaded tokio runtime with a few connections that take the
//! namespace's hosts in turn. The same client measures the portal and nginx.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use cordon_lab::Host;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// No single read or connect may take longer than this.
const IO_DEADLINE: Duration = Duration::from_secs(10);
/// The largest response head read.
const MAX_HEAD: usize = 16 * 1024;
/// The largest body read (the cleanup page is about 9 KB).
const MAX_BODY: usize = 1 << 20;

/// The browser every host says it is: the page opens its Windows steps.
pub const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
/// The language every host asks for.
pub const LANGUAGE: &str = "en";

/// What one host asks for in one visit.
#[derive(Debug, Clone)]
pub struct Visit {
    /// The server's address in the gateway.
    pub server: SocketAddr,
    /// The `Host` header sent (the site the subscriber meant).
    pub host_header: &'static str,
    /// Paths asked for, in order, each with the status it must get.
    pub requests: Vec<(&'static str, u16)>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// First request sent to last answer read.
    pub elapsed: Duration,
    /// Requests answered as expected.
    pub requests: usize,
    /// Each request's time, first byte sent to last byte read (µs).
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Every host of every namespace makes one `visit`: `hosts[i]`'s
/// addresses are `address(i, k)` for `k < per_namespace`, visited by
/// `connections` tasks per namespace. Any unexpected answer fails the run.
pub fn run(
    namespaces: &[Host],
    per_namespace: usize,
    address: impl Fn(usize, usize) -> Ipv4Addr + Sync,
    connections: usize,
    visit: &Visit,
    keep_alive: bool,
) -> Result<Outcome> {
    let barrier = Barrier::new(namespaces.len());
    let address = &address;
    let barrier = &barrier;
    let results: Vec<Result<(Instant, Instant, Vec<u32>)>> = std::thread::scope(|s| {
        let threads: Vec<_> = namespaces
            .iter()
            .enumerate()
            .map(|(i, h)| {
                s.spawn(move || {
                    h.run(|| {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        let hosts: Vec<Ipv4Addr> =
                            (0..per_namespace).map(|k| address(i, k)).collect();
                        barrier.wait();
                        let start = Instant::now();
                        let lat = rt.block_on(namespace(&hosts, connections, visit, keep_alive))?;
                        Ok((start, Instant::now(), lat))
                    })?
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| anyhow::anyhow!("a client thread panicked"))?
            })
            .collect()
    });
    let mut first = None::<Instant>;
    let mut last = None::<Instant>;
    let mut latencies_us = Vec::new();
    for r in results {
        let (a, b, lat) = r?;
        first = Some(first.map_or(a, |f| f.min(a)));
        last = Some(last.map_or(b, |l| l.max(b)));
        latencies_us.extend(lat);
    }
    let (Some(first), Some(last)) = (first, last) else {
        bail!("no namespace to send from");
    };
    Ok(Outcome {
        elapsed: last - first,
        requests: latencies_us.len(),
        latencies_us,
    })
}

/// One namespace's hosts, `connections` at a time.
async fn namespace(
    hosts: &[Ipv4Addr],
    connections: usize,
    visit: &Visit,
    keep_alive: bool,
) -> Result<Vec<u32>> {
    let next = AtomicUsize::new(0);
    let tasks = (0..connections).map(|_| async {
        let mut lat = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&src) = hosts.get(k) else {
                return anyhow::Ok(lat);
            };
            one_visit(src, visit, keep_alive, &mut lat)
                .await
                .with_context(|| format!("{src} asking {}", visit.server))?;
        }
    });
    let mut all = Vec::new();
    for r in futures::future::join_all(tasks).await {
        all.extend(r?);
    }
    Ok(all)
}

async fn connect(src: Ipv4Addr, server: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((src, 0)))?;
    socket.set_nodelay(true)?;
    Ok(tokio::time::timeout(IO_DEADLINE, socket.connect(server))
        .await
        .context("connect timed out")??)
}

/// One host's visit: its requests one after another on one connection
/// (keep-alive), or all at once on a connection each, as a browser opening
/// several connections and the OS probing beside it send them.
async fn one_visit(
    src: Ipv4Addr,
    visit: &Visit,
    keep_alive: bool,
    lat: &mut Vec<u32>,
) -> Result<()> {
    if keep_alive {
        let mut stream = None;
        for &(path, want) in &visit.requests {
            let t = Instant::now();
            let s = match stream.take() {
                Some(s) => s,
                None => connect(src, visit.server).await?,
            };
            stream = Some(exchange(s, visit, path, want, true).await?);
            lat.push(micros(t));
        }
        return Ok(());
    }
    let all = visit.requests.iter().map(|&(path, want)| async move {
        let t = Instant::now();
        let s = connect(src, visit.server).await?;
        exchange(s, visit, path, want, false).await?;
        anyhow::Ok(micros(t))
    });
    for r in futures::future::join_all(all).await {
        lat.push(r?);
    }
    Ok(())
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// One request and its answer on `stream`; the stream back when it stays
/// open (keep-alive).
async fn exchange(
    mut stream: TcpStream,
    visit: &Visit,
    path: &str,
    want: u16,
    keep_alive: bool,
) -> Result<TcpStream> {
    let close = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept: text/html,*/*\r\nAccept-Language: {LANGUAGE}\r\n{close}\r\n",
        visit.host_header
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let status = read_response(&mut stream, &mut buf).await?;
    ensure!(status == want, "{path} answered {status}, not {want}");
    if !keep_alive {
        // The server closes after its answer; wait for it, as a client
        // that said `Connection: close` would.
        let mut rest = [0u8; 64];
        let n = tokio::time::timeout(IO_DEADLINE, stream.read(&mut rest))
            .await
            .context("no close after the answer")??;
        ensure!(n == 0, "{path}: bytes after the answer");
    }
    Ok(stream)
}

/// Reads one response (head and `Content-Length` body) and returns its
/// status; `buf` is reused between calls.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16> {
    buf.clear();
    let (status, head, length) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(n) = r.parse(buf)? {
            let length = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| {
                    std::str::from_utf8(h.value)
                        .ok()?
                        .trim()
                        .parse::<usize>()
                        .ok()
                })
                .unwrap_or(0);
            ensure!(length <= MAX_BODY, "a body of {length} bytes");
            ensure!(
                !r.headers
                    .iter()
                    .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding")),
                "a chunked answer (only Content-Length bodies are read)"
            );
            break (r.code.unwrap_or(0), n, length);
        }
        ensure!(
            buf.len() < MAX_HEAD,
            "a response head over {MAX_HEAD} bytes"
        );
        fill(stream, buf).await?;
    };
    while buf.len() < head + length {
        fill(stream, buf).await?;
    }
    Ok(status)
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = tokio::time::timeout(IO_DEADLINE, stream.read(&mut chunk))
        .await
        .context("no answer in time")??;
    ensure!(n > 0, "connection closed mid-answer");
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}
