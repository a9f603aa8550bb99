//! One POST to a hook: hyper's client over rustls (ring; the system's
//! roots or the hook's `ca_file`), bounded in time and in what it reads.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::sign::{EVENT_ID_HEADER, SIGNATURE_HEADER, signature};
use cordon_config::Webhook;

/// At most this much of an answer's body is read (and thrown away: only
/// the status counts), so a receiver cannot make cordond read without end.
const MAX_ANSWER: usize = 16 * 1024;

/// A hook's HTTP client.
pub type Client = Hyper<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why a hook's client cannot be made (its `ca_file`, or the system's
/// roots for `https://`).
#[derive(Debug, thiserror::Error)]
#[error(
    "webhook {url}: {why}; fix the hook's ca_file, or install the system's CA certificates (ca-certificates)"
)]
pub struct ClientError {
    /// The hook.
    pub url: String,
    /// What went wrong.
    pub why: String,
}

/// The client for `hook`: `http://` and `https://`, HTTP/1.1, connecting
/// within the hook's timeout.
pub fn client(hook: &Webhook) -> Result<Client, ClientError> {
    let err = |why: String| ClientError {
        url: hook.url.to_string(),
        why,
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(hook.timeout));
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match &hook.ca_file {
        Some(ca) => builder.with_tls_config(
            crate::tls::client_config(crate::tls::roots(ca, "ca_file").map_err(err)?)
                .map_err(err)?,
        ),
        None if hook.url.is_https() => builder
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| err(format!("no usable system CA certificates: {e}")))?,
        // Plain http: no roots needed; an empty store keeps it total.
        None => builder.with_tls_config(
            crate::tls::client_config(rustls::RootCertStore::empty()).map_err(err)?,
        ),
    };
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Hyper::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1)
        .build(connector))
}

/// What one attempt came to.
#[derive(Debug)]
pub enum Attempt {
    /// The hook answered 2xx: delivered.
    Delivered,
    /// It answered something else.
    Status(StatusCode),
    /// No answer in time, or none at all (refused, TLS, reset).
    Failed(String),
}

/// POSTs `body` (event `event_id`) to `url`, signed with `key` at `now`;
/// the whole attempt, answer included, within `timeout`.
pub async fn post(
    client: &Client,
    url: &Uri,
    key: &[u8],
    event_id: &str,
    body: String,
    now: i64,
    timeout: Duration,
) -> Attempt {
    let signed = signature(key, now, body.as_bytes());
    let request = Request::post(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("cordond/", env!("CARGO_PKG_VERSION")),
        )
        .header(EVENT_ID_HEADER, event_id)
        .header(SIGNATURE_HEADER, signed)
        .body(Full::new(Bytes::from(body)));
    let request = match request {
        Ok(r) => r,
        Err(e) => return Attempt::Failed(format!("cannot make the request: {e}")),
    };
    let attempt = async {
        let answer = client.request(request).await.map_err(|e| {
            // The chain says why (refused, TLS, reset), not only "client error".
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(&format!(": {s}"));
                source = s.source();
            }
            why
        })?;
        let status = answer.status();
        // Read (a bounded part of) the answer so the connection can be
        // used again; its content does not matter.
        let _ = Limited::new(answer.into_body(), MAX_ANSWER).collect().await;
        Ok::<_, String>(status)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(s)) if s.is_success() => Attempt::Delivered,
        Ok(Ok(s)) => Attempt::Status(s),
        Ok(Err(why)) => Attempt::Failed(why),
        Err(_) => Attempt::Failed(format!("no answer within {timeout:?}")),
    }
}

#[cfg(test)]
mod tests;
