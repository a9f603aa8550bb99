//! The portal's connection slots under a flood by one subscriber: the cap is
//! per subscriber (the quarantine unit, here a /56), so one subscriber with
//! 80 addresses in 80 /64s of its /56 cannot take the slots of others.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::lab;
use cordon_lab::addresses::{PORTAL_V4, PORTAL_V6};
use cordon_lab::config::PORTAL_PORT;
use socket2::{Domain, Protocol, Socket, Type};

const FLOODER_ADDRESSES: u16 = 80;
const PER_ADDRESS: usize = 64;

/// The flooding subscriber's `i`th address: one per /64 of
/// 2001:db8:100:f000::/56.
fn flooder(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0xf000 + i, 0, 0, 0, 1)
}

/// One page from the portal; whether a 200 came.
fn page(portal: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&portal, Duration::from_secs(2)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if s.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

#[test]
fn a_subscriber_with_80_addresses_cannot_take_the_portal_from_the_others() {
    // The flood's descriptors are this test's own.
    cordon_runtime::limits::raise_nofile().unwrap();
    let lab = lab("pslots")
        .subscribers(2)
        .daemons(true)
        .configure(|c| c.subscribers.ipv6_quarantine_prefix = 56)
        .up()
        .unwrap();
    let gw = lab.plan().gateway.netns.clone();
    for i in 0..FLOODER_ADDRESSES {
        let addr = format!("{}/128", flooder(i));
        let out = Command::new("ip")
            .args(["-n", &gw, "addr", "add", &addr, "dev", "lo", "nodad"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let portal_v6 = SocketAddr::new(IpAddr::V6(PORTAL_V6), PORTAL_PORT);
    // Idle connections: opened, nothing sent; kept until the end.
    let flood = cordon_lab::netns::in_netns(&gw, || {
        let mut held = Vec::new();
        for i in 0..FLOODER_ADDRESSES {
            for _ in 0..PER_ADDRESS {
                let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).unwrap();
                s.bind(&SocketAddr::new(IpAddr::V6(flooder(i)), 0).into())
                    .unwrap();
                if s.connect(&portal_v6.into()).is_ok() {
                    held.push(s);
                }
            }
        }
        held
    })
    .unwrap();

    // While the flood is on (the portal closes idle connections after its
    // 10 s header timeout), the other subscribers ask for their pages.
    let portal_v4 = SocketAddr::new(IpAddr::V4(PORTAL_V4), PORTAL_PORT);
    let mut asked = 0;
    let mut served = 0;
    for s in lab.subscribers() {
        let got = s
            .run(|| (0..20).filter(|_| page(portal_v4)).count())
            .unwrap();
        asked += 20;
        served += got;
    }
    drop(flood);
    assert!(
        served * 100 >= asked * 95,
        "other subscribers got {served} of {asked} pages"
    );
    let log = std::fs::read_to_string(lab.run_dir().join("cordon-portal.log")).unwrap();
    let refusals = log
        .lines()
        .find(|l| l.contains("connections refused at the caps"))
        .unwrap_or_else(|| panic!("refusals not counted in the log:\n{log}"));
    assert!(refusals.contains("refused_subscriber"), "{refusals}");
    lab.down().unwrap();
}
