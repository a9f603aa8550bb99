//! DNS block lists against a real `rbldnsd` in the lab's internet: a listed
//! sender is reported by its zone, and an unreachable server delays nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cordon_config::DnsblZone;
use cordon_lab::addresses::mail_server_v4;
use cordon_lab::{Lab, TcpOutcome, wait_for};

use super::common::lab;
use super::{SHORT, cordond_log, metric, until_quarantined, with_log};

const ZONE: &str = "xbl.lab.example";
/// rbldnsd's address in the internet namespace.
const DNSBL_SERVER: &str = "192.0.2.2:5353";
/// Nobody answers here: nothing on the uplink has this address.
const DEAD_SERVER: &str = "192.0.2.99:53";

/// rbldnsd serving ZONE in the lab's internet; killed on drop.
struct Rbldnsd(Child);

impl Drop for Rbldnsd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rbldnsd(lab: &Lab, listed: &str) -> Rbldnsd {
    use std::os::unix::fs::PermissionsExt;
    let dir = lab.run_dir().join("rbldnsd");
    std::fs::create_dir_all(&dir).unwrap();
    // rbldnsd drops to its own user and must read its zone files.
    for d in [lab.run_dir(), dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let file = dir.join("xbl4");
    std::fs::write(
        &file,
        format!(":127.0.0.4:Listed: infected host\n{listed}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.internet().netns(),
            "rbldnsd",
            "-n",
            "-u",
            "rbldns",
        ])
        .args(["-b", &DNSBL_SERVER.replace(':', "/"), "-w"])
        .arg(&dir)
        .arg(format!("{ZONE}:ip4set:xbl4"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Rbldnsd(child);
    wait_for(SHORT, "rbldnsd to listen", || {
        let out = lab.internet().exec("ss", &["-uln"]).unwrap();
        String::from_utf8_lossy(&out.stdout).contains(DNSBL_SERVER)
    })
    .unwrap();
    server
}

fn few_smtp_attempts(host: &cordon_lab::Host) {
    for n in 1..=3 {
        let out = host.tcp_connect(mail_server_v4(n), 25, SHORT).unwrap();
        assert_eq!(out, TcpOutcome::Reset);
    }
}

#[test]
fn a_listed_sender_is_reported_by_its_dnsbl_zone_and_an_unreachable_server_delays_nothing() {
    let lab = lab("dnsbl")
        .subscribers(3)
        .report_score(3)
        .configure(|c| {
            c.detection.dnsbl.zones = vec![DnsblZone {
                zone: ZONE.parse().unwrap(),
                weight: 3,
            }];
            // The dead server first: every early check tries it.
            c.detection.dnsbl.servers =
                vec![DEAD_SERVER.parse().unwrap(), DNSBL_SERVER.parse().unwrap()];
        })
        .daemons(true)
        .up()
        .unwrap();
    let (listed, unlisted, zombie) = (lab.subscriber(0), lab.subscriber(1), lab.subscriber(2));
    let _server = rbldnsd(&lab, &listed.ipv4().to_string());

    // Two subscribers try port 25 a few times (below every threshold), and
    // a zombie floods while the block-list checks wait on the dead server.
    few_smtp_attempts(&listed);
    few_smtp_attempts(&unlisted);
    let crossing = Instant::now();
    zombie.flood_smtp(40, zombie.ipv4().into()).unwrap();
    let took = until_quarantined(
        &lab,
        &zombie.ipv4().to_string(),
        Duration::from_secs(1).saturating_sub(crossing.elapsed()),
    );
    assert!(took < Duration::from_secs(1));
    assert_eq!(
        lab.show(&zombie.ipv4().to_string()).unwrap()["reason"],
        "detection"
    );

    // The listed one is reported with the zone as source: at the score,
    // quarantined.
    let addr = listed.ipv4().to_string();
    until_quarantined(&lab, &addr, Duration::from_secs(15));
    let h = lab.show(&addr).unwrap();
    assert_eq!(h["reason"], "report", "{h}");
    let history = lab.cordon_ok(&["history", &addr]).unwrap();
    assert!(
        history.contains(&format!("report from {ZONE}")),
        "{history}"
    );

    // The unlisted one was asked about and is not listed.
    with_log(
        &lab,
        wait_for(
            Duration::from_secs(10),
            "the unlisted hosts' checks",
            || metric(&lab, "cordon_dnsbl_checks_total{result=\"not_listed\"}") >= 2.0,
        ),
    );
    let h = lab.show(&unlisted.ipv4().to_string()).unwrap();
    assert_eq!(
        (h["state"].as_str(), h["report_score"].as_u64()),
        (Some("clean"), Some(0)),
        "{h}"
    );

    // The dead server was logged once, not per query.
    let log = cordond_log(&lab);
    assert_eq!(log.matches("DNSBL server unreachable").count(), 1, "{log}");
}
