//! The "real site": a tiny HTTP/1.1 responder on 80 and 443 (plain HTTP on
//! both: tests only need to tell "reached" from "reset" or "redirected to the
//! portal"). Its answer carries headers no portal would send.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stats::{Event, Service};
use super::{Shared, record};

/// The header that marks the real site's answers.
pub const MARKER_HEADER: &str = "X-Cordon-Lab";
/// Its value.
pub const MARKER_VALUE: &str = "real-site";
/// The first words of every body the real site sends.
pub const BODY_PREFIX: &str = "real site";

const MAX_HEAD: usize = 16 * 1024;

/// Answers one request, then closes.
pub(crate) async fn handle(
    mut stream: TcpStream,
    port: u16,
    local: IpAddr,
    peer: IpAddr,
    stats: Shared,
) {
    let Ok(Some(head)) =
        tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await
    else {
        return;
    };
    let mut lines = head.lines();
    let mut request = lines.next().unwrap_or_default().split_whitespace();
    let method = request.next().unwrap_or("GET").to_owned();
    let path = request.next().unwrap_or("/").to_owned();
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    record(&stats, Service::Http, port, Event::Message, local, peer);
    let body = format!(
        "{BODY_PREFIX}\nhost: {host}\npath: {path}\nserved-by: {local} port {port}\nclient: {peer}\n"
    );
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nServer: cordon-lab-internet\r\n{MARKER_HEADER}: {MARKER_VALUE}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        reply.push_str(&body);
    }
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the blank line that ends the request head.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > MAX_HEAD {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}
