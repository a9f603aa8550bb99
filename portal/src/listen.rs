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

/// Opens the portal's listeners (each must open), then the redirect
/// listener's two, then the notice listener's two (each IPv6 one may be
/// missing on a host without IPv6).
pub fn bind_all(
    portal: &[SocketAddr],
    redirect_port: u16,
    notice_port: u16,
) -> Result<Vec<(Role, TcpListener)>> {
    let mut out = Vec::new();
    for &addr in portal {
        let l = bind(addr).map_err(|source| Error::Bind { addr, source })?;
        out.push((Role::Portal, l));
    }
    for (role, port) in [(Role::Redirect, redirect_port), (Role::Notice, notice_port)] {
        both_families(role, port, &mut out)?;
    }
    Ok(out)
}

/// Opens `0.0.0.0:port` and `[::]:port` for `role`: the kernel's `redirect`
/// keeps the packet's family.
fn both_families(role: Role, port: u16, out: &mut Vec<(Role, TcpListener)>) -> Result<()> {
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let l = bind(v4).map_err(|source| Error::Bind { addr: v4, source })?;
    out.push((role, l));
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    match bind(v6) {
        Ok(l) => out.push((role, l)),
        Err(e)
            if e.kind() == std::io::ErrorKind::AddrNotAvailable
                || e.raw_os_error() == Some(nix::libc::EAFNOSUPPORT) =>
        {
            tracing::warn!(addr = %v6, %role, error = %e, "no IPv6 on this host; IPv4 only");
        }
        Err(source) => return Err(Error::Bind { addr: v6, source }),
    }
    Ok(())
}
