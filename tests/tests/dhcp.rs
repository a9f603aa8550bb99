//! The DHCP building blocks (cordon_lab::dhcp) against real programs:
//! dnsmasq in the gateway hands two subscribers their reserved addresses over
//! real busybox udhcpc clients, dnsmasq runs deploy/hooks/dnsmasq-dhcp-script
//! (pointed at a recording `cordon`) with add and then del, a client comes
//! back with a different address, and the machine's /etc/resolv.conf is
//! untouched throughout.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use cordon_lab::dhcp::{Dnsmasq, Udhcpc, dhcp_range};
use cordon_lab::hooks::RecordingCordon;
use cordon_lab::wait_for;

use common::repo::root;

const SOCKET: &str = "/run/cordon-lab-test/control.sock";
const WITHIN: Duration = Duration::from_secs(20);

fn start(mac: &str, address: Ipv4Addr) -> Vec<String> {
    call("start", mac, address)
}

fn call(verb: &str, mac: &str, address: Ipv4Addr) -> Vec<String> {
    [
        "--socket",
        SOCKET,
        "session",
        verb,
        "--subscriber",
        mac,
        "--address",
        &address.to_string(),
        "--source",
        "dhcp",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[test]
fn dnsmasq_leases_to_udhcpc_and_its_script_tells_cordon() {
    let resolv_before = std::fs::read("/etc/resolv.conf").unwrap();
    {
        let lab = common::lab("dhcp")
            .subscribers(2)
            .daemons(false)
            .up()
            .unwrap();
        let stub_dir = lab.run_dir().join("stub");
        std::fs::create_dir_all(&stub_dir).unwrap();
        let cordon = RecordingCordon::new(&stub_dir).unwrap();
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            stub_dir.display()
        );
        let program = cordon.program().display().to_string();
        let no_conf = stub_dir.join("no-hooks.conf").display().to_string();
        let env = [
            ("PATH", path.as_str()),
            ("CORDON", program.as_str()),
            ("CORDON_SOCKET", SOCKET),
            ("CORDON_HOOKS_CONF", no_conf.as_str()),
        ];
        let script = root().join("deploy/hooks/dnsmasq-dhcp-script");
        let dnsmasq =
            Dnsmasq::start(&lab, &[0, 1], Duration::from_secs(120), &script, &env).unwrap();

        let (zombie_mac, neighbour_mac) = ("02:00:5e:00:00:01", "02:00:5e:00:00:02");
        let zombie_first = dhcp_range(0).0;
        let zombie_second = Ipv4Addr::new(100, 64, 1, 150);
        let neighbour_addr = dhcp_range(1).0;
        dnsmasq.reserve(zombie_mac, zombie_first).unwrap();
        dnsmasq.reserve(neighbour_mac, neighbour_addr).unwrap();

        let zombie = Udhcpc::start(&lab, 0, zombie_mac).unwrap();
        let neighbour = Udhcpc::start(&lab, 1, neighbour_mac).unwrap();
        assert_eq!(zombie.address(WITHIN, None).unwrap(), zombie_first);
        assert_eq!(neighbour.address(WITHIN, None).unwrap(), neighbour_addr);
        // The address is on the namespace's interface, with its default route.
        let shown = zombie
            .host()
            .exec("ip", &["-4", "addr", "show", "dev", "eth0"])
            .unwrap();
        assert!(String::from_utf8_lossy(&shown.stdout).contains(&format!("{zombie_first}/24")));
        let route = zombie
            .host()
            .exec("ip", &["-4", "route", "show", "default"])
            .unwrap();
        assert!(String::from_utf8_lossy(&route.stdout).contains("via 100.64.1.1 dev eth0"));

        let has = |expected: &Vec<String>| cordon.calls().contains(expected);
        let log = || std::fs::read_to_string(dnsmasq.log()).unwrap_or_default();
        for (mac, addr) in [(zombie_mac, zombie_first), (neighbour_mac, neighbour_addr)] {
            wait_for(WITHIN, "dnsmasq's script to start a session", || {
                has(&start(mac, addr))
            })
            .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", cordon.calls(), log()));
        }

        // The zombie comes back with another address: release, new reservation, renew.
        dnsmasq.reserve(zombie_mac, zombie_second).unwrap();
        zombie.release().unwrap();
        wait_for(WITHIN, "dnsmasq's script to stop the session", || {
            has(&call("stop", zombie_mac, zombie_first))
        })
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", cordon.calls(), log()));
        zombie.renew().unwrap();
        assert_eq!(
            zombie.address(WITHIN, Some(zombie_first)).unwrap(),
            zombie_second
        );
        wait_for(WITHIN, "a session for the new address", || {
            has(&start(zombie_mac, zombie_second))
        })
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", cordon.calls(), log()));
        assert!(
            dnsmasq.leases().contains(&zombie_second.to_string()),
            "{}",
            dnsmasq.leases()
        );
        assert_eq!(
            cordon.logged(),
            Vec::<Vec<String>>::new(),
            "nothing refused"
        );
    }
    assert_eq!(
        std::fs::read("/etc/resolv.conf").unwrap(),
        resolv_before,
        "the machine's /etc/resolv.conf changed"
    );
}
