//! The real kernel: `cordon_rules::Kernel` for nftables, ctnetlink for
//! conntrack.

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Carried, Kernel, NftCommand, SmtpSeen};
use ipnet::IpNet;

use super::{Enforcer, KernelError, conntrack};

/// nftables through `nft`, conntrack through netlink, in the namespace
/// `cordond` runs in.
#[derive(Debug, Clone)]
pub struct NetKernel {
    nft: Kernel,
}

impl NetKernel {
    /// The table named in the config.
    pub fn new(table: &str) -> Self {
        NetKernel {
            nft: Kernel::new(table, NftCommand::default()),
        }
    }
}

impl Enforcer for NetKernel {
    fn exists(&self) -> Result<bool, KernelError> {
        Ok(self.nft.exists()?)
    }

    fn install(&self, config: &Config, quarantined: &[SubscriberAddr]) -> Result<(), KernelError> {
        let carried = Carried {
            quarantined: quarantined.to_vec(),
            ..Carried::default()
        };
        Ok(self.nft.install(config, &carried)?)
    }

    fn remove(&self) -> Result<(), KernelError> {
        Ok(self.nft.remove()?)
    }

    fn quarantined(&self) -> Result<Vec<IpNet>, KernelError> {
        Ok(self.nft.quarantined()?)
    }

    fn change(&self, add: &[SubscriberAddr], remove: &[SubscriberAddr]) -> Result<(), KernelError> {
        Ok(self.nft.change_quarantined(add, remove)?)
    }

    fn smtp_seen(&self, addr: &SubscriberAddr) -> Result<Option<SmtpSeen>, KernelError> {
        Ok(self.nft.smtp_seen(addr)?)
    }

    fn smtp_recent(&self) -> Result<Vec<SmtpSeen>, KernelError> {
        Ok(self.nft.smtp_recent()?)
    }

    fn flush_conntrack(&self, addr: &SubscriberAddr) -> Result<usize, KernelError> {
        conntrack::flush(addr.net()).map_err(|source| KernelError::Netlink {
            what: format!("delete the conntrack entries of {addr}"),
            source,
        })
    }
}
