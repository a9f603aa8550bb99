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
    open(addr, false)
}

/// Opens one listening socket; `shared`: with `SO_REUSEPORT`, so that each
/// runtime can have a socket of its own on the same port (the kernel
/// spreads new connections over them).
fn open(addr: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Each runtime's listeners: the portal's (each must open), then the
/// redirect listener's two, then the notice listener's two (each IPv6 one
/// may be missing on a host without IPv6). Every address is opened once
/// per runtime, on the same port (`SO_REUSEPORT` when there are several;
/// a port 0 is the one the first socket got).
pub fn bind_all(
    portal: &[SocketAddr],
    redirect_port: u16,
    notice_port: u16,
    runtimes: usize,
) -> Result<Vec<Vec<(Role, TcpListener)>>> {
    let runtimes = runtimes.max(1);
    let mut shards: Vec<Vec<(Role, TcpListener)>> = (0..runtimes).map(|_| Vec::new()).collect();
    let mut each = |role: Role, first: TcpListener| -> Result<()> {
        let addr = first.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            source,
        })?;
        shards[0].push((role, first));
        for shard in &mut shards[1..] {
            let l = open(addr, true).map_err(|source| Error::Bind { addr, source })?;
            shard.push((role, l));
        }
        Ok(())
    };
    let shared = runtimes > 1;
    for &addr in portal {
        let l = open(addr, shared).map_err(|source| Error::Bind { addr, source })?;
        each(Role::Portal, l)?;
    }
    for (role, port) in [(Role::Redirect, redirect_port), (Role::Notice, notice_port)] {
        let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let l = open(v4, shared).map_err(|source| Error::Bind { addr: v4, source })?;
        each(role, l)?;
        let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        match open(v6, shared) {
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
