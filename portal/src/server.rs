//! Accepting connections and serving HTTP/1 on them, within caps, until
//! shutdown.
//!
//! Each connection is one task on a `TaskTracker`; on shutdown the accept
//! loops stop, open connections finish the request in flight (keep-alive is
//! turned off for them) and the portal waits for them, up to a grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::app::{App, Role};
use crate::connlimit::{ConnLimiter, ConnPermit};

/// Caps that keep one client from starving others, and timeouts that free
/// what a silent client holds.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// A client must send its request head within this long, also between
    /// requests on a kept-alive connection (so idle ones are closed).
    pub header_read_timeout: Duration,
    /// Largest request head; more gets 431.
    pub max_header_bytes: usize,
    /// Most header lines in a request.
    pub max_headers: usize,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one client (IPv4 address or IPv6 /64). A home
    /// full of devices, each browser opening six, stays well below.
    pub max_connections_per_client: usize,
    /// How long shutdown waits for open connections.
    pub shutdown_grace: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_connections: 4096,
            max_connections_per_client: 64,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `listeners` until `shutdown` is cancelled, then drains.
pub async fn serve(
    app: Arc<App>,
    listeners: Vec<(Role, TcpListener)>,
    limits: ConnLimits,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let limiter = ConnLimiter::new(limits.max_connections, limits.max_connections_per_client);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let http = Arc::new(http);

    for (role, listener) in listeners {
        tracker.spawn(accept_loop(
            role,
            listener,
            Arc::clone(&app),
            Arc::clone(&limiter),
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
    limiter: Arc<ConnLimiter>,
    http: Arc<http1::Builder>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or a connection reset before we
                // took it: pause briefly instead of spinning on the error.
                tracing::warn!(%role, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match limiter.try_acquire(peer.ip()) {
            Ok(p) => p,
            Err(full) => {
                tracing::debug!(%role, peer = %peer.ip(), ?full, "connection refused: cap reached");
                drop(stream);
                continue;
            }
        };
        let span = tracing::info_span!("conn", peer = %peer.ip(), listener = %role);
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
    http: Arc<http1::Builder>,
    shutdown: CancellationToken,
) {
    let service = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let app = Arc::clone(&app);
        async move { Ok::<_, std::convert::Infallible>(app.handle(role, peer, req).await) }
    });
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
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
    }
}
