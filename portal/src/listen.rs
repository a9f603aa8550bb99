//! Opening the listening sockets.
//!
//! IPv6 sockets are IPv6-only, so that `0.0.0.0:PORT` and `[::]:PORT` can
//! both be open (the redirect and notice listeners need both: the kernel's
//! `redirect` keeps the packet's family).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

use crate::app::Role;
use crate::error::{Error, Result};

/// Pending connections the kernel queues for us: a portal sees bursts when a
/// quarantine starts and every device of a home retries at once.
const BACKLOG: i32 = 1024;

/// Opens one listening socket.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Each runtime's listeners: the portal's (each must open), then the
/// redirect listener's two, the captive listener's two, then the notice
/// listener's two (each IPv6 one may be missing on a host without IPv6).
/// Every address is opened once and each runtime gets a handle of its own on that one socket (`dup`), so
/// that all runtimes take new connections from one queue, as nginx's
/// workers do: whichever runtime is free takes the next. With a socket per
/// runtime (`SO_REUSEPORT`) the kernel chose the runtime by a hash of the
/// connection, busy or not: under an outbreak with short connections one
/// runtime went idle (50 times as many sleeps per request as nginx) while
/// connections queued on the other's socket.
pub fn bind_all(
    portal: &[SocketAddr],
    redirect_port: u16,
    captive_port: u16,
    notice_port: u16,
    runtimes: usize,
) -> Result<Vec<Vec<(Role, TcpListener)>>> {
    let runtimes = runtimes.max(1);
    let mut shards: Vec<Vec<(Role, TcpListener)>> = (0..runtimes).map(|_| Vec::new()).collect();
    let mut each = |role: Role, first: TcpListener| -> Result<()> {
        for shard in &mut shards[1..] {
            let again = first.try_clone().map_err(|source| Error::Bind {
                addr: first
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
                source,
            })?;
            shard.push((role, again));
        }
        shards[0].push((role, first));
        Ok(())
    };
    for &addr in portal {
        let l = bind(addr).map_err(|source| Error::Bind { addr, source })?;
        each(Role::Portal, l)?;
    }
    for (role, port) in [
        (Role::Redirect, redirect_port),
        (Role::Captive, captive_port),
        (Role::Notice, notice_port),
    ] {
        let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let l = bind(v4).map_err(|source| Error::Bind { addr: v4, source })?;
        each(role, l)?;
        let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        match bind(v6) {
            Ok(l) => each(role, l)?,
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrNotAvailable
                    || e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT) =>
            {
                tracing::warn!(addr = %v6, %role, error = %e, "no IPv6 on this host; IPv4 only");
            }
            Err(source) => return Err(Error::Bind { addr: v6, source }),
        }
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use std::time::{Duration, Instant};

    /// Connections to an address wait in one queue that every runtime
    /// takes from: the first runtime's handle alone accepts all of them
    /// (with a socket per runtime, the kernel had put about half of them
    /// in the queue of the second, which was not looking).
    #[test]
    fn every_runtime_takes_from_one_queue() {
        let portal = [SocketAddr::from((Ipv4Addr::LOCALHOST, 0))];
        let shards = bind_all(&portal, 0, 0, 0, 2).unwrap();
        assert_eq!(shards.len(), 2);
        let (role, first) = &shards[0][0];
        assert_eq!(*role, Role::Portal);
        let addr = first.local_addr().unwrap();
        assert_eq!(shards[1][0].1.local_addr().unwrap(), addr);
        let clients: Vec<_> = (0..32)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut accepted = 0;
        while accepted < clients.len() {
            match first.accept() {
                Ok(_) => accepted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "the first runtime's socket got {accepted} of {} connections",
                        clients.len()
                    );
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}
