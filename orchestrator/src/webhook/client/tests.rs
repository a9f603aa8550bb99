//! One POST against a real HTTP server on loopback.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cordon_config::{Webhook, WebhookEvent};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

use super::*;

fn hook(url: &str, ca_file: Option<&str>) -> Webhook {
    Webhook {
        url: url.parse().unwrap(),
        events: WebhookEvent::all(),
        secret_file: "/k".into(),
        ca_file: ca_file.map(Into::into),
        timeout: Duration::from_secs(2),
        max_age: Duration::from_secs(3600),
        max_queued: 10,
    }
}

type Seen = Arc<Mutex<Vec<(String, String, String, Bytes)>>>;

/// A server answering `/ok` 200, `/fail` 500, `/slow` after 5 s; it keeps
/// each request's path, signature and event id headers, and body.
async fn server() -> (std::net::SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let keep = keep.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let keep = keep.clone();
                        async move {
                            let h = |n: &str| {
                                req.headers()
                                    .get(n)
                                    .map(|v| v.to_str().unwrap().to_owned())
                                    .unwrap_or_default()
                            };
                            let (path, sig, id) = (
                                req.uri().path().to_owned(),
                                h(SIGNATURE_HEADER),
                                h(EVENT_ID_HEADER),
                            );
                            let body = req.into_body().collect().await?.to_bytes();
                            keep.lock().push((path.clone(), sig, id, body));
                            let status = match path.as_str() {
                                "/ok" => StatusCode::NO_CONTENT,
                                "/slow" => {
                                    tokio::time::sleep(Duration::from_secs(5)).await;
                                    StatusCode::OK
                                }
                                _ => StatusCode::INTERNAL_SERVER_ERROR,
                            };
                            let mut answer =
                                Response::new(Full::new(Bytes::from(vec![b'x'; 100_000])));
                            *answer.status_mut() = status;
                            Ok::<_, hyper::Error>(answer)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_2xx_delivers_signed_and_anything_else_is_a_failure() {
    let (addr, seen) = server().await;
    let url = |p: &str| format!("http://{addr}{p}");
    let c = client(&hook(&url("/ok"), None)).unwrap();
    let key = b"0123456789abcdef0123456789abcdef";
    let go = |p: &str, timeout| {
        let uri: Uri = url(p).parse().unwrap();
        let c = c.clone();
        async move {
            post(
                &c,
                &uri,
                key,
                "ev-1",
                r#"{"a":1}"#.into(),
                1_700_000_000,
                timeout,
            )
            .await
        }
    };
    assert!(matches!(
        go("/ok", Duration::from_secs(2)).await,
        Attempt::Delivered
    ));
    let (path, sig, id, body) = seen.lock()[0].clone();
    assert_eq!(
        (path.as_str(), id.as_str(), &body[..]),
        ("/ok", "ev-1", &br#"{"a":1}"#[..])
    );
    assert_eq!(sig, signature(key, 1_700_000_000, br#"{"a":1}"#));
    assert!(matches!(
        go("/fail", Duration::from_secs(2)).await,
        Attempt::Status(StatusCode::INTERNAL_SERVER_ERROR)
    ));
    let started = std::time::Instant::now();
    match go("/slow", Duration::from_millis(300)).await {
        Attempt::Failed(why) => assert!(why.contains("no answer within"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeout"
    );
}

#[tokio::test]
async fn a_closed_port_is_a_failure_saying_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let url = format!("http://{addr}/h");
    let c = client(&hook(&url, None)).unwrap();
    match post(
        &c,
        &url.parse().unwrap(),
        b"k",
        "e",
        "{}".into(),
        1,
        Duration::from_secs(2),
    )
    .await
    {
        Attempt::Failed(why) => assert!(why.to_lowercase().contains("refused"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn https_to_a_plain_server_fails_in_tls_and_a_bad_ca_file_is_named() {
    let (addr, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let e = client(&hook("https://crm.example/h", Some(ca.to_str().unwrap()))).unwrap_err();
    assert!(e.to_string().contains("ca_file"), "{e}");
    // A real CA file format, but the server speaks plain HTTP: no answer
    // counts as delivered.
    let url = format!("https://{addr}/ok");
    if let Ok(c) = client(&hook(&url, None)) {
        let attempt = post(
            &c,
            &url.parse().unwrap(),
            b"k",
            "e",
            "{}".into(),
            1,
            Duration::from_secs(2),
        )
        .await;
        assert!(matches!(attempt, Attempt::Failed(_)), "{attempt:?}");
        assert!(seen.lock().is_empty(), "nothing reached the handler");
    }
}
