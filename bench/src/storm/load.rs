//! The login storm's own load generator: a NAS's accounting client on
//! `cordon-radius`, for per-request latencies (radclient only says when it
//! is done).
//!
//! Like a BNG it keeps a bounded window of requests outstanding, spread
//! over several UDP sockets (a RADIUS identifier is one octet, so one
//! source port carries at most 256 requests at a time), and retransmits a
//! request it has no answer to after a timeout, the same bytes (same
//! identifier and authenticator, so the server can tell it is a copy), a
//! bounded number of times. An answer counts only when it is exactly the
//! Accounting-Response the shared secret makes for that request.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use cordon_radius::{Accounting, HEADER, MAX_PACKET};

/// How the client behaves.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// Requests outstanding at most, over all sockets.
    pub window: usize,
    /// Wait this long for an answer before sending the request again.
    pub timeout: Duration,
    /// Send it again at most this many times; no answer after the last
    /// one's timeout is a lost request.
    pub retries: u32,
}

/// What became of a run of requests.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Per request, in order: first transmission to its answer; `None`
    /// when it was lost.
    pub latency: Vec<Option<Duration>>,
    /// First transmission to the last answer (or loss).
    pub elapsed: Duration,
    /// Transmissions after the first.
    pub retransmissions: usize,
}

impl Outcome {
    /// Requests never answered.
    pub fn lost(&self) -> usize {
        self.latency.iter().filter(|l| l.is_none()).count()
    }

    /// Requests answered per second over the whole run.
    pub fn rate(&self) -> f64 {
        let answered = self.latency.len() - self.lost();
        answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One request waiting for its answer.
struct Slot {
    request: usize,
    packet: Vec<u8>,
    expect: Vec<u8>,
    first: Instant,
    last: Instant,
    sent: u32,
}

/// Sends `requests` to `server` over `sockets` (bound where the server is
/// reachable; see [`cordon_lab::Host::run`]) and waits for every answer or
/// loss. The requests' identifiers are assigned here.
pub fn run(
    sockets: Vec<UdpSocket>,
    server: SocketAddr,
    secret: &[u8],
    requests: &[Accounting],
    client: Client,
) -> Result<Outcome> {
    let per_socket = client.window.div_ceil(sockets.len().max(1)).clamp(1, 256);
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let results = std::thread::scope(|s| {
        let workers: Vec<_> = sockets
            .into_iter()
            .map(|socket| {
                let next = &next;
                s.spawn(move || {
                    one_socket(&socket, server, secret, requests, next, per_socket, client)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a load thread panicked"))?
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let elapsed = start.elapsed();
    let mut latency = vec![None; requests.len()];
    let mut retransmissions = 0;
    for (answers, resent) in results {
        retransmissions += resent;
        for (i, l) in answers {
            latency[i] = Some(l);
        }
    }
    Ok(Outcome {
        latency,
        elapsed,
        retransmissions,
    })
}

/// One socket's share: takes the next request whenever it has a free
/// identifier and room in its window. Returns `(request, latency)` of each
/// answered one and the number of retransmissions.
fn one_socket(
    socket: &UdpSocket,
    server: SocketAddr,
    secret: &[u8],
    requests: &[Accounting],
    next: &AtomicUsize,
    window: usize,
    client: Client,
) -> Result<(Vec<(usize, Duration)>, usize)> {
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .context("setting the load socket's read timeout")?;
    // Identifiers are reused in turn, oldest freed first, so a late answer
    // to a lost request is unlikely to meet a new request with its id.
    let mut free: VecDeque<u8> = (0..=255).collect();
    let mut slots: Vec<Option<Slot>> = (0..256).map(|_| None).collect();
    let mut outstanding = 0;
    let mut done = Vec::new();
    let mut resent = 0;
    let mut exhausted = false;
    let mut buf = vec![0u8; MAX_PACKET + 1];
    let mut last_scan = Instant::now();
    loop {
        while !exhausted && outstanding < window {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(request) = requests.get(i) else {
                exhausted = true;
                break;
            };
            let Some(id) = free.pop_front() else { break };
            let mut r = request.clone();
            r.identifier = id;
            let packet = r.to_request(secret).context("building a request")?;
            let mut authenticator = [0u8; 16];
            authenticator.copy_from_slice(&packet[4..HEADER]);
            let expect = cordon_radius::response(id, &authenticator, secret);
            let now = Instant::now();
            socket
                .send_to(&packet, server)
                .context("sending a request")?;
            slots[usize::from(id)] = Some(Slot {
                request: i,
                packet,
                expect,
                first: now,
                last: now,
                sent: 1,
            });
            outstanding += 1;
        }
        if exhausted && outstanding == 0 {
            return Ok((done, resent));
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) if from == server && n >= HEADER => {
                let id = buf[1];
                let slot = &mut slots[usize::from(id)];
                if let Some(s) = slot.take_if(|s| s.expect == buf[..n]) {
                    done.push((s.request, s.first.elapsed()));
                    free.push_back(id);
                    outstanding -= 1;
                }
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e).context("receiving answers"),
        }
        // Timeouts are whole seconds; looking every few milliseconds is
        // plenty and keeps the scan off the per-packet path.
        if last_scan.elapsed() >= Duration::from_millis(5) {
            last_scan = Instant::now();
            for (id, slot) in slots.iter_mut().enumerate() {
                let Some(s) = slot else { continue };
                if s.last.elapsed() < client.timeout {
                    continue;
                }
                if s.sent > client.retries {
                    // Lost: no answer after the last retransmission.
                    *slot = None;
                    free.push_back(u8::try_from(id).unwrap_or(0));
                    outstanding -= 1;
                } else {
                    socket
                        .send_to(&s.packet, server)
                        .context("retransmitting")?;
                    s.sent += 1;
                    s.last = Instant::now();
                    resent += 1;
                }
            }
        }
    }
}
