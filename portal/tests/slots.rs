//! What a connection may hold: a client that stops reading a response loses
//! its connection (and so its slot) after the write timeout.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Portal, Setup};
use cordon_testkit::eventually;

/// `ConnLimits::default().write_timeout`.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
const SIZE: usize = 64 << 20;

#[test]
fn a_client_that_stops_reading_a_download_loses_its_slot() {
    let p = Portal::start(Setup {
        tools: vec![("big.bin", vec![7u8; SIZE])],
        ..Setup::default()
    });
    let mut s = TcpStream::connect(p.portal).unwrap();
    write!(
        s,
        "GET /tools/big.bin HTTP/1.1\r\nHost: portal.isp.test\r\n\r\n"
    )
    .unwrap();
    // Take the first bytes, then read nothing: the kernel's buffers fill
    // and the portal's writes stop making progress.
    let mut head = [0u8; 256];
    let got = s.read(&mut head).unwrap();
    assert!(head[..got].starts_with(b"HTTP/1.1 200"));
    let stalled = Instant::now();
    let log = || std::fs::read_to_string(&p.stderr_path).unwrap_or_default();
    eventually(
        WRITE_TIMEOUT * 3,
        "the portal to drop the stalled response",
        || log().contains("client took nothing within the write timeout"),
    );
    assert!(stalled.elapsed() >= WRITE_TIMEOUT / 2, "dropped too early");
    // The body ends short: the connection was closed, not finished.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = got;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(total < SIZE, "the whole download came: {total} bytes");
}
