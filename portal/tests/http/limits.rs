//! Hostile or broken clients: huge headers, junk bytes, slow clients and
//! too many connections from one address; the portal stays up for others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cordon_testkit::eventually;

use super::common::curl;
use super::quarantined_portal;

#[test]
fn huge_headers_get_431() {
    let mut p = quarantined_portal();
    let big = format!("X-Junk: {}", "a".repeat(40 * 1024));
    let a = curl(&["-H", &big, &p.url("/")]);
    assert_eq!(a.status, 431);
    let many: Vec<String> = (0..200).map(|i| format!("X-H{i}: v")).collect();
    let mut args: Vec<&str> = Vec::new();
    for h in &many {
        args.extend(["-H", h.as_str()]);
    }
    let url = p.url("/");
    args.push(&url);
    let a = curl(&args);
    assert!(a.status == 431 || a.status == 400, "{}", a.status);
    assert!(p.alive());
}

/// Writes raw bytes and reads what comes back.
fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn junk_gets_a_4xx_and_the_portal_stays_up() {
    let mut p = quarantined_portal();
    let junk: Vec<Vec<u8>> = vec![
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), // a TLS hello
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
        (0..4096u32).map(|i| (i * 7 % 256) as u8).collect(),
    ];
    for addr in [p.portal, p.redirect] {
        for j in &junk {
            let answer = raw(addr, j);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
                "{:?} -> {answer:?}",
                String::from_utf8_lossy(j)
            );
        }
    }
    // Odd but valid requests get a 4xx page, not a crash.
    assert_eq!(curl(&["-X", "DELETE", &p.url("/")]).status, 405);
    assert_eq!(curl(&["-X", "BREW", &p.url("/")]).status, 405);
    assert_eq!(curl(&[&p.url("/no/such/page?x=%zz")]).status, 404);
    assert_eq!(curl(&[&p.url("/%ff%fe")]).status, 404);
    assert!(p.alive());
}

#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    let mut p = quarantined_portal();
    // A client that sends half a request head and stops.
    let mut slow = TcpStream::connect(p.portal).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(p.alive(), "others are served meanwhile");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the header timeout closes it"
    );
}

#[test]
fn connections_per_client_are_capped() {
    let mut p = quarantined_portal();
    // Hold more idle connections than one client may have.
    let held: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(p.portal).unwrap())
        .collect();
    eventually(Duration::from_secs(10), "the cap is logged", || {
        p.log().contains("cap reached")
    });
    drop(held);
    eventually(
        Duration::from_secs(10),
        "a fresh connection is served",
        || p.alive(),
    );
}
