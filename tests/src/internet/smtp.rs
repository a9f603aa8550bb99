//! An SMTP sink on 25 and 587: enough of RFC 5321 for `swaks` and for spam
//! programs' connection attempts (no TLS, no AUTH), counting connections and
//! accepted messages per port, destination and source.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::stats::{Event, Service};
use super::{Shared, record};

const MAX_LINE: u64 = 64 * 1024;
const IDLE: Duration = Duration::from_secs(30);

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeted,
    Mail,
    Rcpt,
}

/// Serves one SMTP session.
pub(crate) async fn handle(
    stream: TcpStream,
    port: u16,
    local: IpAddr,
    peer: IpAddr,
    stats: Shared,
) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if write
        .write_all(b"220 mx.lab.internet ESMTP cordon-lab sink\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut state = State::Greeted;
    loop {
        let Some(line) = read_line(&mut reader).await else {
            return;
        };
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => {
                state = State::Greeted;
                b"250-mx.lab.internet greets you\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
            }
            "HELO" => {
                state = State::Greeted;
                b"250 mx.lab.internet\r\n"
            }
            "MAIL" => {
                state = State::Mail;
                b"250 2.1.0 sender ok\r\n"
            }
            "RCPT" if state == State::Greeted => b"503 5.5.1 MAIL first\r\n",
            "RCPT" => {
                state = State::Rcpt;
                b"250 2.1.5 recipient ok\r\n"
            }
            "DATA" if state != State::Rcpt => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                if write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                if !read_message(&mut reader).await {
                    return;
                }
                record(&stats, Service::Smtp, port, Event::Message, local, peer);
                state = State::Greeted;
                b"250 2.0.0 queued\r\n"
            }
            "RSET" => {
                state = State::Greeted;
                b"250 2.0.0 reset\r\n"
            }
            "NOOP" => b"250 2.0.0 ok\r\n",
            "VRFY" => b"252 2.5.0 cannot verify\r\n",
            "HELP" => b"214 2.0.0 HELO EHLO MAIL RCPT DATA RSET NOOP QUIT\r\n",
            "STARTTLS" => b"454 4.7.0 TLS not available\r\n",
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => b"502 5.5.2 command not recognised\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// One line (without its end), or `None` at end of stream, on a line that
/// is too long, or after the idle timeout.
async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut buf = Vec::new();
    let n = tokio::time::timeout(
        IDLE,
        (&mut *reader).take(MAX_LINE).read_until(b'\n', &mut buf),
    )
    .await
    .ok()?
    .ok()?;
    if n == 0 || !buf.ends_with(b"\n") {
        return None;
    }
    let line = String::from_utf8_lossy(&buf);
    Some(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads message lines up to the lone dot; false if the client went away.
async fn read_message(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> bool {
    loop {
        match read_line(reader).await {
            Some(line) if line == "." => return true,
            Some(_) => {}
            None => return false,
        }
    }
}
