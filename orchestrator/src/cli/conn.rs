//! A connection to cordond's control socket, shared by the one-request
//! commands (`run`) and `cordon import`, which sends its chunks on one
//! connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cordon_proto::control::{Request, Response};
use cordon_runtime::frame::{FrameError, Framed, framed, recv, send};
use tokio::net::UnixStream;

/// Why asking cordond failed: before the request went out (nothing
/// happened), or after (it may have been carried out).
#[derive(Debug)]
pub(super) enum AskError {
    /// Not connected, or the request could not be sent: nothing was done.
    Unreachable(String),
    /// Sent, but no (whole) answer came back.
    Lost(String),
}

impl AskError {
    pub(super) fn message(&self) -> &str {
        match self {
            AskError::Unreachable(m) | AskError::Lost(m) => m,
        }
    }
}

/// A connection to cordond's control socket.
pub(super) struct Conn {
    io: Framed,
    socket: PathBuf,
}

impl Conn {
    pub(super) async fn open(socket: &Path) -> Result<Conn, AskError> {
        let stream = UnixStream::connect(socket).await.map_err(|e| {
            AskError::Unreachable(format!(
                "cannot reach cordond at {}: {e}. Is it running? Start it with `systemctl start cordond` (or `cordond --config /etc/cordon/cordon.yaml`), or name its socket with --socket",
                socket.display()
            ))
        })?;
        Ok(Conn {
            io: framed(stream),
            socket: socket.to_owned(),
        })
    }

    /// Sends a request and reads its answer, every page of a listing.
    pub(super) async fn call(&mut self, request: &Request) -> Result<Response, AskError> {
        let socket = self.socket.display().to_string();
        send(&mut self.io, request).await.map_err(|e| {
            AskError::Unreachable(format!("cannot send to cordond at {socket}: {e}"))
        })?;
        // Generous: a quarantine waits for a durable commit and the kernel.
        let answer = async {
            let mut first = next(&mut self.io).await?;
            while first.more() {
                let page = next(&mut self.io).await?;
                if !first.extend(page) {
                    return Err(FrameError::Closed);
                }
            }
            Ok(first)
        };
        match tokio::time::timeout(Duration::from_secs(120), answer).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(AskError::Lost(format!(
                "cordond at {socket} did not answer properly: {e}"
            ))),
            Err(_) => Err(AskError::Lost(format!(
                "cordond at {socket} did not answer within 120 s; see its log (journalctl -u cordond)"
            ))),
        }
    }
}

async fn next(io: &mut Framed) -> Result<Response, FrameError> {
    recv(io).await?.ok_or(FrameError::Closed)
}

pub(super) async fn ask(socket: &Path, request: &Request) -> Result<Response, AskError> {
    Conn::open(socket).await?.call(request).await
}
