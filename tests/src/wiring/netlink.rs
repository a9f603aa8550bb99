//! Carrying out a wiring script through `rtnetlink`, on a connection opened
//! inside the namespace, so nothing is ever created in the root namespace.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use super::Op;
use crate::error::LabError;
use crate::netns::{in_netns, netns_path};

/// Carries out `ops` inside `netns` over a netlink socket opened there.
pub(crate) fn apply(netns: &str, ops: &[Op]) -> Result<(), LabError> {
    in_netns(netns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(LabError::io("starting a runtime for netlink"))?;
        rt.block_on(async {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(LabError::io("opening a netlink socket"))?;
            let task = tokio::spawn(conn);
            let result = run_ops(netns, &handle, ops).await;
            task.abort();
            result
        })
    })?
}

async fn run_ops(netns: &str, handle: &Handle, ops: &[Op]) -> Result<(), LabError> {
    let nl = |what: String| {
        let netns = netns.to_owned();
        move |source| LabError::Netlink {
            netns,
            what,
            source,
        }
    };
    for op in ops {
        match op {
            Op::Veth {
                name,
                peer,
                peer_netns,
            } => {
                // Held open until the kernel has placed the peer there.
                let target = File::open(netns_path(peer_netns)).map_err(|e| LabError::Netns {
                    netns: peer_netns.clone(),
                    reason: e.to_string(),
                })?;
                let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
                    .name(peer.clone())
                    .setns_by_fd(target.as_raw_fd())
                    .build();
                let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                    .name(name.clone())
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
                    .build();
                handle.link().add(msg).execute().await.map_err(nl(format!(
                    "create veth {name} (peer {peer} in {peer_netns})"
                )))?;
                drop(target);
            }
            Op::Bridge(bridge) => {
                let msg = LinkMessageBuilder::<LinkBridge>::new(bridge)
                    .forward_delay(0)
                    .build();
                handle
                    .link()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("create bridge {bridge}")))?;
            }
            Op::Port { link, bridge } => {
                let index = link_index(netns, handle, link).await?;
                let master = link_index(netns, handle, bridge).await?;
                let msg = LinkUnspec::new_with_index(index).controller(master).build();
                handle
                    .link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("make {link} a port of {bridge}")))?;
            }
            Op::Up(link) => {
                let index = link_index(netns, handle, link).await?;
                let msg = LinkUnspec::new_with_index(index).up().build();
                handle
                    .link()
                    .set(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("set {link} up")))?;
            }
            Op::Addr { link, addr, len } => {
                let index = link_index(netns, handle, link).await?;
                let mut req = handle.address().add(index, *addr, *len);
                if addr.is_ipv6() {
                    let m = req.message_mut();
                    m.header.flags |= AddressHeaderFlags::Nodad;
                    m.attributes
                        .push(AddressAttribute::Flags(AddressFlags::Nodad));
                }
                req.execute()
                    .await
                    .map_err(nl(format!("add address {addr}/{len} to {link}")))?;
            }
            Op::Route { dest, len, via } => {
                let invalid = |e: &dyn std::fmt::Display| {
                    LabError::InvalidOption(format!("route {dest}/{len} via {via}: {e}"))
                };
                let msg = RouteMessageBuilder::<IpAddr>::new()
                    .destination_prefix(*dest, *len)
                    .map_err(|e| invalid(&e))?
                    .gateway(*via)
                    .map_err(|e| invalid(&e))?
                    .build();
                handle
                    .route()
                    .add(msg)
                    .execute()
                    .await
                    .map_err(nl(format!("add route {dest}/{len} via {via}")))?;
            }
        }
    }
    Ok(())
}

async fn link_index(netns: &str, handle: &Handle, link: &str) -> Result<u32, LabError> {
    let found = handle
        .link()
        .get()
        .match_name(link.to_owned())
        .execute()
        .try_next()
        .await
        .map_err(|source| LabError::Netlink {
            netns: netns.to_owned(),
            what: format!("look up link {link}"),
            source,
        })?;
    found
        .map(|m| m.header.index)
        .ok_or_else(|| LabError::Netns {
            netns: netns.to_owned(),
            reason: format!("no link named {link}"),
        })
}
