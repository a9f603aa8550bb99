//! Which RADIUS clients may send accounting, each with its shared secret:
//! a source address, or a network for a pool of NAS addresses. The most
//! specific entry covering the sender holds (as FreeRADIUS's `client`
//! sections do).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::{Accounting, RadiusError, decode};

/// One configured client.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// The address or network it sends from.
    pub net: IpNet,
    /// Its shared secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Client {
    /// Never the secret: a `Debug` print can reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("net", &self.net)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// The configured clients.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    // Most specific first, so the first match is the one that holds.
    list: Vec<Client>,
}

impl Clients {
    /// None configured: every request is refused.
    pub fn new() -> Clients {
        Clients::default()
    }

    /// Adds a client (an address is a /32 or /128). Refuses an empty secret
    /// and a network given twice.
    pub fn add(&mut self, net: IpNet, secret: impl Into<Vec<u8>>) -> Result<(), RadiusError> {
        let secret = secret.into();
        if secret.is_empty() {
            return Err(RadiusError::EmptySecret);
        }
        let net = net.trunc();
        if self.list.iter().any(|c| c.net == net) {
            return Err(RadiusError::ClientTwice { net });
        }
        self.list.push(Client { net, secret });
        self.list
            .sort_by_key(|c| std::cmp::Reverse(c.net.prefix_len()));
        Ok(())
    }

    /// The client `address` is, if any. An IPv4-mapped IPv6 sender (a
    /// dual-stack socket) is taken as the IPv4 address it carries.
    pub fn lookup(&self, address: IpAddr) -> Option<&Client> {
        let address = address.to_canonical();
        self.list.iter().find(|c| c.net.contains(&address))
    }

    /// Decodes a datagram from `from` with its client's secret, giving the
    /// client too (its secret signs the response); the error names the
    /// sender and the client it matched.
    pub fn decode(
        &self,
        from: SocketAddr,
        packet: &[u8],
    ) -> Result<(Accounting, &Client), RadiusError> {
        let address = from.ip().to_canonical();
        let client = self
            .lookup(address)
            .ok_or(RadiusError::UnknownClient { address })?;
        match decode(packet, &client.secret) {
            Ok(a) => Ok((a, client)),
            Err(e) => Err(RadiusError::FromClient {
                address,
                client: client.net,
                source: Box::new(e),
            }),
        }
    }
}
