//! The Prometheus endpoint both daemons serve (`cordond` on `metrics.listen`,
//! the portal on `portal.metrics_listen`): the text encoding of a
//! `prometheus-client` registry and the small HTTP/1 server that answers
//! `GET /metrics` with it. One copy, so that both endpoints have the same
//! bounds: a head within [`HEAD_TIMEOUT`], at most [`MAX_CONNECTIONS`] open
//! scrapes, and a backoff instead of a spin when `accept` fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::limits::{Backoff, Throttle};

/// The media type of the text encoding `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A scraper must send its request head within this long.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Open scrapes at once; more wait in the kernel's backlog. A Prometheus or
/// two and an operator's curl need a handful.
pub const MAX_CONNECTIONS: usize = 16;

/// How often a failing `accept` may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The exposition text of `registry` (empty if a collector failed, which
/// leaves the scrape empty rather than half-written).
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// What one request gets: the metrics at `GET /metrics` (and `HEAD`), 404
/// elsewhere, 405 for other methods there.
fn answer(method: &Method, path: &str, body: impl FnOnce() -> String) -> Response<Full<Bytes>> {
    let (status, body) = match (path, method) {
        ("/metrics", &Method::GET | &Method::HEAD) => (StatusCode::OK, body()),
        ("/metrics", _) => (StatusCode::METHOD_NOT_ALLOWED, String::new()),
        _ => (StatusCode::NOT_FOUND, String::new()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if status == StatusCode::OK {
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(CONTENT_TYPE),
        );
    }
    response
}

/// Serves `GET /metrics` on `listener` with the text `encode` returns at
/// each scrape, until `cancel` fires.
pub async fn serve<F>(listener: TcpListener, encode: Arc<F>, cancel: CancellationToken)
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Backoff::new();
    let mut failed = Throttle::new(LOG_EVERY);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    loop {
        // Wait for a free slot before accepting, so that a flood waits in
        // the backlog instead of holding descriptors here.
        let slot = tokio::select! {
            () = cancel.cancelled() => return,
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => {
                    backoff.reset();
                    s
                }
                Err(e) => {
                    if let Some(left_out) = failed.hit(Instant::now()) {
                        tracing::warn!(error = %e, left_out, "metrics: accept failed; backing off");
                    }
                    tokio::time::sleep(backoff.pause()).await;
                    continue;
                }
            },
        };
        let encode = Arc::clone(&encode);
        let conn = http.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let response = answer(req.method(), req.uri().path(), || encode());
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let conn = conn.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = cancel.cancelled() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_get_metrics_gets_the_text() {
        let ok = answer(&Method::GET, "/metrics", || "x 1\n".into());
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()["content-type"], CONTENT_TYPE);
        assert_eq!(
            answer(&Method::GET, "/", String::new).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            answer(&Method::POST, "/metrics", String::new).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
