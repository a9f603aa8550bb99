//! The portal's request handling against arbitrary bytes and mutations of
//! real requests: the path routing, percent-decoding and tool-name
//! resolution, `Range` and conditional headers on downloads, language
//! negotiation, and the self-release form's body and token. Whatever
//! arrives, the portal answers (or hangs up) without a panic, never with a
//! 500, never with a file outside its tools directory, within time and
//! memory bounds (`cordon-bounded`).
//!
//! The portal is served in this process (so that the counting allocator
//! sees its memory) by the same `App` and `server::serve` as the binary,
//! from a real config, on a loopback port; requests go over real TCP
//! connections. `cordond` is the stand-in of the other HTTP tests, which
//! says 127.0.0.1 is quarantined.
#![allow(clippy::unwrap_used)] // a failed unwrap is the test failing

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use common::{StandIn, csrf_token, portal_fixture, quarantined};
use cordon_bounded::{PARSER, cases, inputs, within};
use cordon_portal::{App, ConnLimits, Role};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

/// In the directory above the tools: never to be served.
const SECRET: &str = "not for subscribers";
/// How long the portal waits for the rest of a request here.
const WAIT: Duration = Duration::from_millis(300);
/// Sent after every request: the portal answers it and hangs up, which
/// ends the exchange without closing our sending side (hyper drops the
/// answer to a client that half-closes).
const LAST: &[u8] = b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// The portal serving on a loopback port, for the whole test binary.
struct Served {
    app: Arc<App>,
    addr: SocketAddr,
    /// A cleanup page's self-release token for 127.0.0.1.
    token: String,
    _dir: tempfile::TempDir,
    _cordond: StandIn,
}

fn served() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    SERVED.get_or_init(start)
}

fn start() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    std::fs::write(
        tools.join("checklist.txt"),
        "1. Unplug.\n2. Scan.\n3. Update.\n",
    )
    .unwrap();
    std::fs::write(tools.join("clean up.txt"), vec![b'x'; 64 << 10]).unwrap();
    std::fs::write(
        tools.join("tools.yaml"),
        "tools:\n\
         \x20 - file: checklist.txt\n    name: { en: Checklist, es: Lista, da: Tjekliste }\n    description: { en: Steps., es: Pasos., da: Trin. }\n\
         \x20 - file: clean up.txt\n    name: { en: Cleaner }\n    description: { en: Cleans. }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    let cordond = StandIn::start(dir.path(), Some(quarantined()));
    let config = portal_fixture(&cordond.path, &tools).load();
    let mut app = App::load(&config).unwrap();
    // A request that never completes costs its timeout: short ones keep
    // the cases quick (the production values are seconds).
    app.limits.body_read_timeout = WAIT;
    let app = Arc::new(app);
    let served_app = Arc::clone(&app);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    common::in_background(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        // Never cancelled: the server ends with the test process.
        let shutdown = CancellationToken::new();
        let limits = ConnLimits {
            header_read_timeout: WAIT,
            ..ConnLimits::default()
        };
        cordon_portal::server::serve(
            app,
            vec![(Role::Portal, listener)],
            limits.clone(),
            limits.metrics(Default::default()),
            shutdown,
        )
        .await;
    });
    let page = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: portal.isp.test\r\nConnection: close\r\n\r\n",
    );
    let page = String::from_utf8_lossy(&page);
    assert!(
        page.contains("name=\"csrf\""),
        "no self-release form: {page:.2000}"
    );
    let token = csrf_token(&page);
    Served {
        app: served_app,
        addr,
        token,
        _dir: dir,
        _cordond: cordond,
    }
}

/// Sends `request` and [`LAST`] on a new connection, and reads the answers
/// until the portal hangs up.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The portal may answer and hang up before reading everything.
    let _ = conn.write_all(&[request, LAST].concat());
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    answer
}

/// Checks an answer (one or more responses) the portal gave.
fn check_answer(text: &str) {
    // An HTTP/1.0 request is answered in HTTP/1.0 (hyper does, as RFC
    // 9110 asks); either way no 5xx but 503.
    for status in ["HTTP/1.1 5", "HTTP/1.0 5"]
        .iter()
        .flat_map(|v| text.match_indices(v))
        .map(|(i, _)| &text[i..i + 12])
    {
        // 503: cordond could not answer a self-release; nothing else.
        assert_eq!(&status[9..], "503", "{text:.400}");
    }
    assert!(
        !text.contains(SECRET),
        "a file outside the tools directory was served"
    );
}

/// Sends raw `request` bytes under the bounds and checks the answer.
fn check_raw(request: &[u8]) {
    let addr = served().addr;
    let answer = within("a raw request", request, PARSER, || exchange(addr, request));
    let text = String::from_utf8_lossy(&answer);
    if !answer.is_empty() {
        assert!(
            text.starts_with("HTTP/1.1 ") || text.starts_with("HTTP/1.0 "),
            "not an HTTP answer: {text:.200}"
        );
    }
    check_answer(&text);
}

/// Hands `request` to the portal's request handler, as the server does
/// once hyper has parsed it, and reads the whole answer, under the bounds.
fn check_request(wire: &[u8], request: http::Request<Full<Bytes>>) {
    let app = &served().app;
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let (status, body) = within("a request", wire, PARSER, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let response = app.handle(Role::Portal, peer, request).await;
            let status = response.status();
            (
                status,
                response.into_body().collect().await.unwrap().to_bytes(),
            )
        })
    });
    check_answer(&format!(
        "HTTP/1.1 {}\r\n\r\n{}",
        status.as_u16(),
        String::from_utf8_lossy(&body)
    ));
}

/// Real requests, as browsers, OS probes and the form send them.
fn raw_samples() -> Vec<Vec<u8>> {
    let token = &served().token;
    let form = format!("csrf={token}&lang=es");
    let requests = [
        "GET / HTTP/1.1\r\nHost: portal.isp.test:8080\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept-Language: es-ES,es;q=0.9,en;q=0.8\r\n\r\n".to_owned(),
        "GET /index.html?lang=da HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        "GET /tools/checklist.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-9\r\nIf-None-Match: \"abc\"\r\n\r\n".to_owned(),
        "HEAD /tools/clean%20up.txt?lang=da HTTP/1.1\r\nHost: x\r\nRange: bytes=-5, 10-\r\nIf-Modified-Since: Thu, 08 Mar 2024 14:00:00 GMT\r\n\r\n".to_owned(),
        "GET /tools/%2e%2e%2fsecret.txt HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        format!("POST /release HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}", form.len()),
        "GET /release?lang=es HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
        "GET /api/captive HTTP/1.1\r\nHost: x\r\nAccept: application/captive+json\r\n\r\n".to_owned(),
        "GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\nGET /hotspot-detect.html HTTP/1.1\r\nHost: captive.apple.com\r\n\r\n".to_owned(),
        "GET /connecttest.txt HTTP/1.1\r\nHost: www.msftconnecttest.com\r\nConnection: close\r\n\r\n".to_owned(),
        // An old client: answered in HTTP/1.0.
        "GET /index.html?lang=da HTTP/1.0\r\nHost: x\r\n\r\n".to_owned(),
    ];
    requests.into_iter().map(String::into_bytes).collect()
}

/// Request targets as subscribers' browsers and probes ask for them.
fn target_samples() -> Vec<Vec<u8>> {
    [
        "/",
        "/?lang=es",
        "/tools/checklist.txt",
        "/tools/clean%20up.txt",
        "/tools/%2e%2e/secret.txt",
        "/release?lang=da",
        "/api/captive",
        "/success.txt",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect()
}

/// `bytes` as a request target hyper accepts: bytes that may not appear in
/// one are percent-encoded; `%` itself is kept, so the portal's decoder sees
/// broken and overlong escapes as sent.
fn as_target(bytes: &[u8]) -> String {
    let mut out = String::from("/");
    for &b in bytes.strip_prefix(b"/").unwrap_or(bytes) {
        if b.is_ascii_graphic() && !b"\"<>\\^`{|}#".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A header value hyper accepts: visible ASCII and spaces.
fn as_header_value(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(cases(256))]

    /// Whole requests, mutated: hyper's parser first, then the routes.
    #[test]
    fn the_portal_answers_any_bytes(request in inputs(raw_samples(), 32 << 10)) {
        check_raw(&request);
    }

    /// Well-formed requests whose target, form body and headers are
    /// mutated: the portal's own parsers see every case.
    #[test]
    fn the_portal_answers_any_request(
        target in inputs(target_samples(), 4096),
        body in inputs(
            vec![
                format!("csrf={}&lang=es", served().token).into_bytes(),
                format!("lang=da&csrf={}&csrf=x", served().token).into_bytes(),
            ],
            16 << 10,
        ),
        language in inputs(vec![b"es-ES,es;q=0.9,en;q=0.8".to_vec(), b"da, en-GB;q=0.8, *;q=0.1".to_vec()], 2048),
        range in inputs(vec![b"bytes=0-9".to_vec(), b"bytes=-5, 10-20, 100-".to_vec()], 1024),
        method in prop::sample::select(vec!["GET", "HEAD", "POST"]),
    ) {
        let target = as_target(&target);
        let mut request = http::Request::builder()
            .method(method)
            .uri(&target)
            .header(http::header::HOST, "portal.isp.test")
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in [
            (http::header::ACCEPT_LANGUAGE, &language),
            (http::header::RANGE, &range),
            (http::header::IF_NONE_MATCH, &range),
        ] {
            request = request.header(name, as_header_value(value));
        }
        let request = request
            .body(Full::new(Bytes::from(body.0.clone())))
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        check_request(target.as_bytes(), request);
    }
}

#[test]
fn the_samples_are_answered_as_they_should_be() {
    let addr = served().addr;
    let answer = |r: &[u8]| String::from_utf8_lossy(&exchange(addr, r)).into_owned();
    let samples = raw_samples();
    let ranged = answer(&samples[2]);
    assert!(ranged.starts_with("HTTP/1.1 206"), "{ranged:.300}");
    let outside = answer(&samples[4]);
    assert!(outside.starts_with("HTTP/1.1 404"), "{outside:.300}");
    let released = answer(&samples[5]);
    assert!(released.starts_with("HTTP/1.1 200"), "{released:.300}");
    let old = answer(&samples[10]);
    assert!(old.starts_with("HTTP/1.0 200"), "{old:.300}");
    check_raw(&samples[10]);
}
