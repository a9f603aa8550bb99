//! `cordon-radius-responder LISTEN SECRET`: the smallest RADIUS accounting
//! server on `cordon-radius`, a test and benchmark tool (not installed
//! with Cordon). Clients: loopback only (127.0.0.0/8 and ::1), with
//! SECRET. Each request is decoded, looked up in the retransmission cache
//! and answered; one JSON line per datagram on stdout:
//!
//! - `{"listening":"127.0.0.1:PORT"}` first (bind to port 0 for a free one);
//! - `{"event":"accepted","from":...,"request":{...}}` for a new request;
//! - `{"event":"replayed","from":...,"identifier":N}` for a retransmission,
//!   answered again from the cache;
//! - `{"event":"refused","from":...,"error":"..."}` for one that is not
//!   answered (wrong secret, not accounting, malformed).
//!
//! Blocking and single-threaded on purpose: as the benchmark's reference it
//! measures `radclient` and the codec, nothing else.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::Instant;

use cordon_radius::{Clients, MAX_PACKET, Replay, ReplayKey, Replays};
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, secret] = args.as_slice() else {
        eprintln!("usage: cordon-radius-responder LISTEN-ADDRESS:PORT SECRET");
        return ExitCode::from(2);
    };
    match serve(listen, secret) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordon-radius-responder: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(listen: &str, secret: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut clients = Clients::new();
    clients.add("127.0.0.0/8".parse()?, secret.as_bytes())?;
    clients.add("::1/128".parse()?, secret.as_bytes())?;
    let socket = bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}; give a free local address"))?;
    let mut out = std::io::stdout().lock();
    line(
        &mut out,
        &json!({ "listening": socket.local_addr()?.to_string() }),
    )?;
    let mut replays = Replays::default();
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        let packet = &buf[..n];
        let (request, client) = match clients.decode(from, packet) {
            Ok(r) => r,
            Err(e) => {
                let error = e.to_string();
                line(
                    &mut out,
                    &json!({"event": "refused", "from": from, "error": error}),
                )?;
                continue;
            }
        };
        let now = Instant::now();
        let key = ReplayKey {
            client: from,
            identifier: request.identifier,
            authenticator: request.authenticator,
        };
        match replays.admit(key, now) {
            Replay::Answered(answer) => {
                socket.send_to(answer, from)?;
                let id = request.identifier;
                line(
                    &mut out,
                    &json!({"event": "replayed", "from": from, "identifier": id}),
                )?;
            }
            Replay::InFlight => {}
            Replay::New => {
                let answer = request.response(&client.secret);
                line(
                    &mut out,
                    &json!({"event": "accepted", "from": from, "request": request}),
                )?;
                socket.send_to(&answer, from)?;
                replays.remember(key, answer, now);
            }
        }
    }
}

/// Receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
/// The default (`net.core.rmem_default`, about 208 KiB) holds only about
/// 170 small datagrams: a client's window of 1024 requests sent at once
/// would mostly be dropped and wait for retransmission, and the reference
/// would measure the client's timeout, not the responder.
const RECV_BUFFER: usize = 4 << 20;

fn bind(listen: &str) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
    socket.set_recv_buffer_size(RECV_BUFFER)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn line(out: &mut impl Write, v: &serde_json::Value) -> std::io::Result<()> {
    writeln!(out, "{v}")?;
    out.flush()
}
