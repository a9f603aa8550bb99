//! The subscribers' routers on DHCP, and the step where Bruno's router comes
//! back with a new address: the quarantine follows Bruno (his router's MAC),
//! and Carla, handed his old address, is not walled in.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::Story;
use crate::addresses::WEB_V4;
use crate::dhcp::{Dnsmasq, Udhcpc, dhcp_range};
use crate::{Lab, url, wait_for};

/// The subscribers' routers' hardware addresses (locally administered), as
/// the DHCP server and Cordon know them.
pub(super) const ANNA_MAC: &str = "02:00:5e:00:01:0a";
pub(super) const BRUNO_MAC: &str = "02:00:5e:00:01:0b";
pub(super) const CARLA_MAC: &str = "02:00:5e:00:01:0c";

/// How long a DHCP exchange, and the hook telling cordond, may take.
const DHCP_WITHIN: Duration = Duration::from_secs(20);

/// Starts the DHCP client of subscriber `i` (its router, hardware address
/// `mac`), checks it is given `address` (reserve it first), and waits until
/// cordond knows `mac` holds it (dnsmasq's hook has run).
pub(super) fn online(lab: &Lab, i: usize, mac: &str, address: Ipv4Addr) -> Result<Udhcpc> {
    let client = Udhcpc::start(lab, i, mac)?;
    let got = client.address(DHCP_WITHIN, None)?;
    ensure!(
        got == address,
        "router {mac} was given {got}, not {address}"
    );
    held_by(lab, address, mac)?;
    Ok(client)
}

/// Waits until `cordon show ADDRESS` names `mac` as its holder.
fn held_by(lab: &Lab, address: Ipv4Addr, mac: &str) -> Result<()> {
    let a = address.to_string();
    wait_for(
        DHCP_WITHIN,
        &format!("cordond to learn that {mac} holds {a}"),
        || lab.show(&a).is_ok_and(|doc| doc["subscriber"] == mac),
    )?;
    Ok(())
}

/// Bruno's router reconnects with a new address (still walled in), and Carla
/// comes online with his old one (not walled in). Returns his new address
/// and Carla's DHCP client (to be stopped with the lab).
pub(super) fn reconnect(
    story: &Story,
    lab: &Lab,
    dnsmasq: &Dnsmasq,
    bruno: &Udhcpc,
) -> Result<(Ipv4Addr, Udhcpc)> {
    let old = bruno.current().context("Bruno's router holds no address")?;
    let new = Ipv4Addr::from(u32::from(dhcp_range(1).0) + 50);
    dnsmasq.reserve(BRUNO_MAC, new)?;
    bruno.release()?;
    wait_for(
        DHCP_WITHIN,
        "Bruno's router to give its address back",
        || bruno.current().is_none(),
    )?;
    bruno.renew()?;
    let got = bruno.address(DHCP_WITHIN, Some(old))?;
    ensure!(got == new, "Bruno's router was given {got}, not {new}");
    held_by(lab, new, BRUNO_MAC)?;
    let shown = lab.show(&new.to_string())?;
    ensure!(
        shown["state"] == "quarantined",
        "Bruno is not quarantined at his new address: {shown}"
    );
    // His computer's spam, walled in and counted at the new address.
    wait_for(
        DHCP_WITHIN,
        &format!("Cordon to count port-25 attempts from {new}"),
        || {
            lab.show(&new.to_string())
                .is_ok_and(|doc| doc["smtp_attempts"].as_u64().is_some_and(|n| n > 0))
        },
    )?;
    story.say(&format!(
        "Bruno's router reconnects and gets a new address, {new}. His computer still sends spam."
    ));
    story.say(&format!(
        "Cordon knows it is still Bruno (his router's MAC), and he is still quarantined, `cordon show {new}`:"
    ));
    for line in lab.cordon_ok(&["show", &new.to_string()])?.lines() {
        story.quote("$", line);
    }
    let reply = bruno.host().curl(&url(WEB_V4, 80, "/"), &[])?;
    let landed = reply.header("location").unwrap_or_default();
    ensure!(
        landed.starts_with(lab.gateway().portal_url()),
        "Bruno's http:// at his new address did not land on the portal: {reply:?}"
    );
    story.say(&format!(
        "He opens http://{WEB_V4}/ and lands on the cleanup page again."
    ));

    dnsmasq.reserve(CARLA_MAC, old)?;
    let carla = online(lab, 2, CARLA_MAC, old)?;
    let state = lab.state(&old.to_string())?;
    ensure!(state == "clean", "Carla is {state} at Bruno's old address");
    let page = carla.host().curl(&url(WEB_V4, 80, "/"), &[])?;
    ensure!(
        page.from_real_site(),
        "Carla could not browse at Bruno's old address: {page:?}"
    );
    story.say(&format!(
        "Carla, Bruno's neighbour, switches her router on and is given Bruno's old address, {old}. She opens http://{WEB_V4}/ and gets the real site."
    ));

    let held = lab.sessions(BRUNO_MAC)?;
    ensure!(
        held.len() == 2
            && held[0].address == new.to_string()
            && held[0].ended.is_none()
            && held[1].address == old.to_string()
            && held[1].ended.is_some(),
        "Bruno's sessions are not his old and his new address: {held:?}"
    );
    story.say(&format!(
        "Cordon keeps who held which address when, `cordon sessions {BRUNO_MAC}`:"
    ));
    for line in lab.cordon_ok(&["sessions", BRUNO_MAC])?.lines() {
        story.quote("$", line);
    }
    Ok((new, carla))
}
