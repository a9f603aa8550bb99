//! The host's MAC address from the kernel's neighbour table (`rtnetlink`),
//! recorded with a quarantine so an operator can tell which device it was
//! even after the address moves to another customer.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};

/// The MAC of the first neighbour inside `net` (a single IPv4 host, or any
/// address of an IPv6 prefix), as `aa:bb:cc:dd:ee:ff`; `None` when unknown.
pub async fn mac_of(net: IpNet) -> Option<String> {
    let (connection, handle, _) = rtnetlink::new_connection().ok()?;
    let task = tokio::spawn(connection);
    let mut dump = handle.neighbours().get().execute();
    let mut found = None;
    while let Ok(Some(msg)) = dump.try_next().await {
        let dest = msg.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
            _ => None,
        });
        let lladdr = msg.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::LinkLayerAddress(mac) if mac.len() == 6 => Some(mac.clone()),
            _ => None,
        });
        if let (Some(ip), Some(mac)) = (dest, lladdr)
            && net.contains(&ip)
        {
            found = Some(
                mac.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            );
            break;
        }
    }
    task.abort();
    found
}
