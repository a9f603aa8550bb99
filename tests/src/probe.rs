//! Telling a TCP reset from a silent drop. Cordon's policy answers port 25
//! and quarantined HTTPS with a reset (so mail programs fail fast) and drops
//! everything else, and tests must see which one happened.

use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::LabError;

/// How a TCP connection attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOutcome {
    /// The handshake completed.
    Connected,
    /// Refused: a TCP reset (or ICMP port unreachable) came back.
    Reset,
    /// Nothing came back before the timeout: dropped on the way.
    TimedOut,
    /// ICMP host or network unreachable, or no route.
    Unreachable,
    /// Anything else, with the system's words.
    Failed(String),
}

impl fmt::Display for TcpOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOutcome::Connected => f.write_str("connected"),
            TcpOutcome::Reset => f.write_str("reset"),
            TcpOutcome::TimedOut => f.write_str("timeout"),
            TcpOutcome::Unreachable => f.write_str("unreachable"),
            TcpOutcome::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// Tries one connection to `to` from the calling thread's namespace.
pub fn tcp(to: SocketAddr, timeout: Duration) -> TcpOutcome {
    match TcpStream::connect_timeout(&to, timeout) {
        Ok(_) => TcpOutcome::Connected,
        Err(e) => outcome_of(&e),
    }
}

/// Tries one connection to each target, all at once (a spam burst takes one
/// timeout, not one per target), from the calling thread's namespace. The
/// outcomes are in the targets' order.
pub fn tcp_many(targets: &[SocketAddr], timeout: Duration) -> Result<Vec<TcpOutcome>, LabError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LabError::io("starting a runtime for TCP probes"))?;
    Ok(rt.block_on(futures::future::join_all(targets.iter().map(
        |&to| async move {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(to)).await {
                Ok(Ok(_)) => TcpOutcome::Connected,
                Ok(Err(e)) => outcome_of(&e),
                Err(_) => TcpOutcome::TimedOut,
            }
        },
    ))))
}

fn outcome_of(e: &std::io::Error) -> TcpOutcome {
    match e.kind() {
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => TcpOutcome::Reset,
        ErrorKind::TimedOut | ErrorKind::WouldBlock => TcpOutcome::TimedOut,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => TcpOutcome::Unreachable,
        _ => TcpOutcome::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_tells_connected_from_reset() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap();
        assert_eq!(tcp(open, Duration::from_secs(2)), TcpOutcome::Connected);
        drop(l);
        assert_eq!(tcp(open, Duration::from_secs(2)), TcpOutcome::Reset);
    }

    #[test]
    fn many_probes_keep_their_order() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = l.local_addr().unwrap();
        let closed = {
            let c = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            c.local_addr().unwrap()
        };
        let got = tcp_many(&[closed, open, closed], Duration::from_secs(2)).unwrap();
        assert_eq!(
            got,
            [TcpOutcome::Reset, TcpOutcome::Connected, TcpOutcome::Reset]
        );
    }

    #[test]
    fn outcomes_print_as_the_cli_does() {
        assert_eq!(TcpOutcome::TimedOut.to_string(), "timeout");
        assert_eq!(TcpOutcome::Reset.to_string(), "reset");
    }
}

/// How a question on cordond's portal socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalSocketOutcome {
    /// cordond answered (with facts or an error message).
    Answered,
    /// cordond closed the connection without answering.
    Closed,
    /// The socket file's permissions refused the connection.
    PermissionDenied,
    /// Anything else, with the system's words.
    Failed(String),
}

impl fmt::Display for PortalSocketOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortalSocketOutcome::Answered => f.write_str("answered"),
            PortalSocketOutcome::Closed => f.write_str("closed"),
            PortalSocketOutcome::PermissionDenied => f.write_str("permission-denied"),
            PortalSocketOutcome::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// Asks cordond's portal socket at `socket` about `address`, as the portal
/// does, as whoever runs this (tests run `cordon-lab probe portal-socket` as
/// another user to see who cordond serves).
pub fn portal_socket(
    socket: &std::path::Path,
    address: std::net::IpAddr,
    timeout: Duration,
) -> PortalSocketOutcome {
    use cordon_proto::portal::{Request, Response};
    use cordon_runtime::frame::{FrameError, call, framed};
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return PortalSocketOutcome::Failed(e.to_string()),
    };
    runtime.block_on(async {
        let ask = async {
            let stream = match tokio::net::UnixStream::connect(socket).await {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                    return PortalSocketOutcome::PermissionDenied;
                }
                Err(e) => return PortalSocketOutcome::Failed(e.to_string()),
            };
            let mut io = framed(stream);
            match call::<_, Response>(&mut io, &Request::Status { address }).await {
                Ok(_) => PortalSocketOutcome::Answered,
                Err(FrameError::Closed) => PortalSocketOutcome::Closed,
                Err(FrameError::Io(e))
                    if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) =>
                {
                    PortalSocketOutcome::Closed
                }
                Err(e) => PortalSocketOutcome::Failed(e.to_string()),
            }
        };
        tokio::time::timeout(timeout, ask)
            .await
            .unwrap_or_else(|_| {
                PortalSocketOutcome::Failed(format!("no answer within {timeout:?}"))
            })
    })
}
