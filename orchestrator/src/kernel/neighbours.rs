//! The host's MAC address from the kernel's neighbour table (`rtnetlink`),
//! recorded with a quarantine so an operator can tell which device it was
//! even after the address moves to another customer.
//!
//! A BNG's neighbour table holds an entry per active subscriber, so reading
//! all of it for every quarantine made a burst of quarantines cost bursts ×
//! table size. A single host is asked about directly instead: the kernel
//! answers `RTM_GETNEIGH` for one address, but only on a named device, so
//! the device is first found the way the host's packets go (`RTM_GETROUTE`,
//! as `ip route get`). Two small answers, whatever the table holds. The
//! kernel has no such answer for "any neighbour inside this prefix" (an
//! IPv6 unit, an IPv4 range): those still need a dump, and lookups waiting
//! at the same time share one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use ipnet::IpNet;
use parking_lot::Mutex;
use rtnetlink::packet_core::{NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::route::RouteAttribute;
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, RouteMessageBuilder};
use tokio::sync::OnceCell;

/// The MAC of the first neighbour inside `net` (a single IPv4 host, or any
/// address of an IPv6 prefix), as `aa:bb:cc:dd:ee:ff`; `None` when unknown.
pub async fn mac_of(net: IpNet) -> Option<String> {
    let single = net.prefix_len() == net.max_prefix_len();
    if !single {
        let table = shared_dump(family_of(&net)).await;
        return table
            .iter()
            .find(|(ip, _)| net.contains(ip))
            .map(|(_, mac)| mac.clone());
    }
    let (connection, handle, _) = rtnetlink::new_connection().ok()?;
    let task = tokio::spawn(connection);
    let found = point(handle, net.addr()).await;
    task.abort();
    found
}

/// Batches up to this size are looked up one host at a time; larger ones
/// read each family's table once (a dump costs about what a few dozen
/// point lookups do, and then answers any number of hosts).
const POINT_LOOKUPS: usize = 16;

/// The MAC of each of `nets`, in order (as [`mac_of`] answers for one).
/// A burst of quarantines is looked up together: a few hosts one by one,
/// many from one dump per family.
pub async fn macs_of(nets: &[IpNet]) -> Vec<Option<String>> {
    if nets.len() <= POINT_LOOKUPS {
        return futures::future::join_all(nets.iter().map(|n| mac_of(*n))).await;
    }
    let mut tables = [None, None];
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        if nets.iter().any(|n| family_of(n) == family) {
            let table: Table = shared_dump(family).await;
            let hosts: HashMap<IpAddr, String> = table.iter().cloned().collect();
            tables[usize::from(family == AddressFamily::Inet6)] = Some((table, hosts));
        }
    }
    nets.iter()
        .map(|net| {
            let (table, hosts) =
                tables[usize::from(family_of(net) == AddressFamily::Inet6)].as_ref()?;
            if net.prefix_len() == net.max_prefix_len() {
                hosts.get(&net.addr()).cloned()
            } else {
                table
                    .iter()
                    .find(|(ip, _)| net.contains(ip))
                    .map(|(_, mac)| mac.clone())
            }
        })
        .collect()
}

fn family_of(net: &IpNet) -> AddressFamily {
    match net {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

/// The device the kernel would send to `ip` on, then its neighbour entry
/// there.
async fn point(mut handle: Handle, ip: IpAddr) -> Option<String> {
    let route = match ip {
        IpAddr::V4(v4) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix(v4, 32)
            .build(),
        IpAddr::V6(v6) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .destination_prefix(v6, 128)
            .build(),
    };
    let route = handle
        .route()
        .get(route)
        .execute()
        .try_next()
        .await
        .ok()??;
    let oif = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => Some(*i),
        _ => None,
    })?;
    let mut ask = NeighbourMessage::default();
    ask.header.family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    ask.header.ifindex = oif;
    ask.attributes
        .push(NeighbourAttribute::Destination(match ip {
            IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
            IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
        }));
    let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNeighbour(ask));
    // No NLM_F_DUMP: the kernel answers for this entry only, or with an
    // error (ENOENT) when it has none.
    req.header.flags = NLM_F_REQUEST;
    let mut answers = handle.request(req).ok()?;
    while let Some(msg) = answers.next().await {
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) = msg.payload
            && let Some((found, mac)) = entry(&n)
            && found == ip
        {
            return Some(mac);
        }
    }
    None
}

/// A neighbour entry's address and MAC, when it has both.
fn entry(msg: &NeighbourMessage) -> Option<(IpAddr, String)> {
    let dest = msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })?;
    let mac = msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(mac) if mac.len() == 6 => Some(mac),
        _ => None,
    })?;
    let text = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    Some((dest, text))
}

/// Every entry of one family with an address and a MAC.
type Table = Arc<Vec<(IpAddr, String)>>;

/// The dump under way for each family (IPv4, IPv6). A lookup that arrives
/// while one runs takes its answer instead of starting its own: a burst of
/// quarantines then costs about one dump, not one each. The dump began a
/// little before such a lookup asked, which only matters for a neighbour
/// that appeared in between; a host being quarantined has been talking for
/// a while.
static DUMPS: [Mutex<Option<Arc<OnceCell<Table>>>>; 2] = [const { Mutex::new(None) }; 2];

async fn shared_dump(family: AddressFamily) -> Table {
    let slot = &DUMPS[usize::from(family == AddressFamily::Inet6)];
    let cell = slot.lock().get_or_insert_with(Default::default).clone();
    cell.get_or_init(|| async {
        let table = Arc::new(dump(family).await);
        // Lookups from now on start a fresh dump; those already waiting
        // get this one.
        let mut current = slot.lock();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            *current = None;
        }
        table
    })
    .await
    .clone()
}

/// One dump of the family's neighbour entries (what was read before an
/// error, if one cuts it short).
async fn dump(family: AddressFamily) -> Vec<(IpAddr, String)> {
    let Ok((connection, handle, _)) = rtnetlink::new_connection() else {
        return Vec::new();
    };
    let task = tokio::spawn(connection);
    let mut entries = Vec::new();
    let mut stream = handle
        .neighbours()
        .get()
        .set_address_family(family)
        .execute();
    while let Ok(Some(msg)) = stream.try_next().await {
        entries.extend(entry(&msg));
    }
    task.abort();
    entries
}
