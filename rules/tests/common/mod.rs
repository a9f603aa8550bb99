//! What the kernel tests of element changes and set reads share: a table
//! installed in a namespace of the test's own.

#![allow(dead_code, clippy::unwrap_used)]

use cordon_config::{Config, SubscriberAddr};
use cordon_rules::{Carried, Kernel, NftCommand};
use cordon_testkit::Netns;

/// `config`'s table installed in a new namespace, and a `Kernel` driving it.
pub fn installed(tag: &str, config: Config) -> (Netns, Config, Kernel) {
    let ns = Netns::new(tag);
    let k = Kernel::new(&config, NftCommand::in_netns(ns.name()));
    k.install(&config, &Carried::default()).unwrap();
    (ns, config, k)
}

/// The subscriber units of `list`, as `config` makes them.
pub fn addrs(config: &Config, list: &[&str]) -> Vec<SubscriberAddr> {
    list.iter()
        .map(|a| config.subscriber_addr(a).unwrap())
        .collect()
}
