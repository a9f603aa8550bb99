//! Accepting connections and serving HTTP/1 on them, within caps, until
//! shutdown.
//!
//! Each connection is one task on a `TaskTracker`; on shutdown the accept
//! loops stop, open connections finish the request in flight (keep-alive is
//! turned off for them) and the portal waits for them, up to a grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_runtime::limits::{Backoff, Throttle, is_exhaustion};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::app::{App, Role};
use crate::closing::CloseOnDrop;
use crate::connlimit::{ConnLimiter, ConnPermit};
use crate::cordond::Waits;
use crate::metrics::Metrics;
use crate::stall::WriteTimeout;

/// How often each kind of trouble may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Caps that keep one client from starving others, and timeouts that free
/// what a silent client holds.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// A client must send its request head within this long, also between
    /// requests on a kept-alive connection (so idle ones are closed).
    pub header_read_timeout: Duration,
    /// Largest request head; more gets 431. Header lines are held to
    /// hyper's own bound (100): a bound of our own made hyper fill a table of
    /// that many slots for every request, where its own is left unfilled.
    pub max_header_bytes: usize,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one subscriber (IPv4 address or IPv6 prefix of
    /// `ipv6_prefix` bits). A home full of devices, each browser opening
    /// six, stays well below.
    pub max_connections_per_client: usize,
    /// The subscriber unit for IPv6: `subscribers.ipv6_quarantine_prefix`.
    pub ipv6_prefix: u8,
    /// A response that makes no progress for this long is dropped (a client
    /// that stops reading a download loses its slot).
    pub write_timeout: Duration,
    /// How long shutdown waits for open connections.
    pub shutdown_grace: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_PER_SUBSCRIBER,
            ipv6_prefix: 64,
            write_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The most connections the portal takes, however many descriptors it has.
const MAX_CONNECTIONS: usize = 4096;
/// The most connections of one subscriber.
const MAX_PER_SUBSCRIBER: usize = 64;
/// Descriptors kept back from connections: listeners, the connections to
/// cordond (at most [`crate::cordond::MAX_CONNECTIONS`]), logs, templates,
/// the runtime's own.
const FIXED_HEADROOM: usize = 32 + crate::cordond::MAX_CONNECTIONS;

impl ConnLimits {
    /// Caps sized from the descriptor limit in force (`nofile`), so that the
    /// portal meets its own cap before `EMFILE`: the fixed headroom off, then
    /// two thirds of the rest, since a tool download holds a file as well as
    /// its connection. One subscriber gets at most an eighth of the slots
    /// (and at most 64). Under the default 1 024 that is 650 connections,
    /// where 4 096 promised slots it could not open.
    pub fn for_nofile(nofile: usize, ipv6_prefix: u8) -> ConnLimits {
        let max_connections =
            (nofile.saturating_sub(FIXED_HEADROOM) * 2 / 3).clamp(8, MAX_CONNECTIONS);
        ConnLimits {
            max_connections,
            max_connections_per_client: (max_connections / 8).clamp(2, MAX_PER_SUBSCRIBER),
            ipv6_prefix,
            ..ConnLimits::default()
        }
    }
}

/// How every connection is served: hyper's settings, the write timeout
/// around the stream, and the metrics that count connections and answers.
#[derive(Debug)]
struct Http {
    builder: http1::Builder,
    write_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl ConnLimits {
    /// A limiter with these caps, and the metrics that count what it does
    /// (and `waits`, the waits for `cordond`).
    pub fn metrics(&self, waits: Waits) -> Arc<Metrics> {
        Arc::new(Metrics::new(
            ConnLimiter::new(
                self.max_connections,
                self.max_connections_per_client,
                self.ipv6_prefix,
            ),
            waits,
        ))
    }
}

/// Serves `listeners` until `shutdown` is cancelled, then drains; counts
/// connections and answers in `metrics` (made by [`ConnLimits::metrics`]).
pub async fn serve(
    app: Arc<App>,
    listeners: Vec<(Role, TcpListener)>,
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    // This runtime's own token: every connection clones it and waits on it,
    // and the one token all runtimes shared was a lock they all took at each
    // connection's start and end.
    let shutdown = shutdown.child_token();
    let tracker = TaskTracker::new();
    let limiter = Arc::clone(metrics.limiter());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let http = Arc::new(Http {
        builder: http,
        write_timeout: limits.write_timeout,
        metrics: Arc::clone(&metrics),
    });

    for (role, listener) in listeners {
        tracker.spawn(accept_loop(
            role,
            listener,
            Arc::clone(&app),
            Arc::clone(&http),
            tracker.clone(),
            shutdown.clone(),
        ));
    }
    shutdown.cancelled().await;
    tracker.close();
    tracing::info!(
        open = limiter.open(),
        "shutting down: finishing open requests"
    );
    if tokio::time::timeout(limits.shutdown_grace, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(open = limiter.open(), "grace period over; closing the rest");
    }
}

async fn accept_loop(
    role: Role,
    listener: TcpListener,
    app: Arc<App>,
    http: Arc<Http>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let limiter = http.metrics.limiter();
    let mut backoff = Backoff::new();
    let mut failed = Throttle::new(LOG_EVERY);
    let mut refused = Throttle::new(LOG_EVERY);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff.reset();
                a
            }
            Err(e) => {
                // Out of descriptors or memory, or a connection reset
                // before we took it: pause, longer each time, instead of
                // spinning on the error, and log once a while.
                if let Some(left_out) = failed.hit(Instant::now()) {
                    let exhausted = is_exhaustion(&e);
                    tracing::warn!(%role, error = %e, exhausted, open = limiter.open(), left_out, "accept failed; backing off");
                }
                tokio::time::sleep(backoff.pause()).await;
                continue;
            }
        };
        let permit = match limiter.try_acquire(peer.ip()) {
            Ok(p) => p,
            Err(full) => {
                tracing::debug!(%role, peer = %peer.ip(), ?full, "connection refused: cap reached");
                if refused.hit(Instant::now()).is_some() {
                    let r = limiter.refusals();
                    tracing::warn!(%role, open = limiter.open(), refused_full = r.total, refused_subscriber = r.subscriber, refused_reserve = r.reserve, "connections refused at the caps (counts since start)");
                }
                drop(stream);
                continue;
            }
        };
        // At debug level: a span entered on every poll of the connection
        // cost some 10 % of the portal's throughput at the default `info`
        // (measured with wrk beside nginx); the few lines a connection logs
        // at info and above name the caller themselves.
        let span = tracing::debug_span!("conn", peer = %peer.ip(), listener = %role);
        tracker.spawn(
            connection(
                role,
                stream,
                peer,
                permit,
                Arc::clone(&app),
                Arc::clone(&http),
                shutdown.clone(),
            )
            .instrument(span),
        );
    }
}

async fn connection(
    role: Role,
    stream: TcpStream,
    peer: SocketAddr,
    _permit: ConnPermit,
    app: Arc<App>,
    http: Arc<Http>,
    shutdown: CancellationToken,
) {
    // Borrowed for the connection's life, not cloned per request: the `Arc`s
    // are shared by every runtime, and each clone and drop of one moved its
    // count between the cores. hyper's own `service_fn`: tower's, through
    // `TowerToHyperService`, wrapped every request in a `Oneshot`.
    let accepted = Instant::now();
    let (app, metrics) = (&*app, &*http.metrics);
    let service = hyper::service::service_fn(
        move |req: http::Request<hyper::body::Incoming>| async move {
            let role = match role {
                Role::Captive => role.aged(accepted.elapsed()),
                role => role,
            };
            let response = app.handle(role, peer, req).await;
            metrics.response(response.status());
            Ok::<_, std::convert::Infallible>(response)
        },
    );
    let write_timeout = http.write_timeout;
    let io = TokioIo::new(CloseOnDrop::new(WriteTimeout::new(stream, write_timeout)));
    let conn = http.builder.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Timeouts, resets and junk are the client's business; 4xx answers
        // were already sent by hyper where HTTP allowed one.
        tracing::debug!(error = %e, "connection ended with an error");
        if std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            tracing::info!(peer = %peer.ip(), timeout = ?write_timeout, "response dropped: the client took nothing within the write timeout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_follow_the_descriptor_limit() {
        let l = ConnLimits::for_nofile(1024, 56);
        assert!(l.max_connections < 1024 - FIXED_HEADROOM, "{l:?}");
        assert!(l.max_connections >= 600, "{l:?}");
        assert_eq!(l.max_connections_per_client, 64);
        assert_eq!(l.ipv6_prefix, 56);
        assert_eq!(
            ConnLimits::for_nofile(1 << 20, 64).max_connections,
            MAX_CONNECTIONS
        );
        let small = ConnLimits::for_nofile(256, 64);
        assert!(small.max_connections + FIXED_HEADROOM < 256, "{small:?}");
        assert!(small.max_connections_per_client * 4 <= small.max_connections);
    }
}
