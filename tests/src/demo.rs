//! `cordon-lab demo`: the whole story in a fresh lab, told with timestamps.
//!
//! Subscribers' routers get their addresses from a DHCP server (dnsmasq,
//! whose hook tells Cordon who holds which). A normal subscriber browses and
//! sends mail through the relay; a second one turns into a spam zombie, is
//! found and quarantined by the kernel's counters, meets the cleanup page (in
//! English and in Spanish), reconnects with a new address and is still
//! walled in while the neighbour given his old address is not, stops, and is
//! let out after the quiet period. Every step is checked; the demo fails
//! (and still removes its lab) the moment one does not hold.

mod page;
mod reconnect;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::addresses::{RELAY_V4, WEB_V4, mail_server_v4};
use crate::dhcp::Dnsmasq;
use crate::hooks::LabHooks;
use crate::tools::{CHECKLIST, checklist, sha256_hex};
use crate::{Host, Lab, url};
use page::{first_lines, tools_on};
use reconnect::{ANNA_MAC, BRUNO_MAC, online, reconnect};

/// The DHCP leases' length (dnsmasq's shortest): longer than the demo.
const LEASE: Duration = Duration::from_secs(120);

/// Tells the story; `Ok` only when every step held.
pub fn run(lab_exe: Option<PathBuf>) -> Result<()> {
    let story = Story::new();
    story.say("Building a lab: a gateway running cordond, cordon-portal and a DHCP server, three subscribers on one shared line, and an internet with web, mail and DNS servers.");
    let mut builder = Lab::builder(&crate::unique_name("demo"))
        .subscribers(3)
        .shared_link(true)
        .daemons(true);
    if let Some(exe) = lab_exe {
        builder = builder.lab_exe(exe);
    }
    let lab = builder.up().context("building the lab")?;
    let (anna, bruno) = (lab.subscriber(0), lab.subscriber(1));
    let hooks = LabHooks::install(&lab)?;
    let dnsmasq = Dnsmasq::start(&lab, &[0, 1], LEASE, &hooks.dnsmasq_script(), &hooks.env())?;
    dnsmasq.reserve(ANNA_MAC, anna.ipv4())?;
    dnsmasq.reserve(BRUNO_MAC, bruno.ipv4())?;
    let anna_router = online(&lab, 0, ANNA_MAC, anna.ipv4())?;
    let bruno_router = online(&lab, 1, BRUNO_MAC, bruno.ipv4())?;
    let cfg = lab.config();
    story.say(&format!(
        "The lab is up. Anna's router got {} by DHCP, Bruno's router got {}; the DHCP server tells Cordon which router holds which address. Their neighbour Carla has her router switched off.",
        anna.ipv4(),
        bruno.ipv4()
    ));
    story.say(&format!(
        "Port 25 is blocked; submission (587) is open. A host is quarantined when it makes more than {} new port-25 attempts, or reaches more than {} distinct mail servers, within {}s.",
        cfg.detection.smtp_attempts.threshold,
        cfg.detection.smtp_destinations.threshold,
        cfg.detection.smtp_attempts.window.as_secs()
    ));

    let page = anna.curl(&url(WEB_V4, 80, "/"), &[])?;
    ensure!(page.from_real_site(), "Anna could not browse: {page:?}");
    story.say(&format!(
        "Anna opens http://{WEB_V4}/ and gets the real site."
    ));
    let mail = anna.swaks(RELAY_V4, 587, &[])?;
    ensure!(
        mail.delivered(),
        "Anna's mail through the relay failed: {}",
        mail.transcript
    );
    story.say(&format!(
        "Anna sends a mail through the ISP's relay ({RELAY_V4}, port 587): delivered."
    ));

    story.say("Bruno's computer catches a spam program. It starts sending straight to other networks' mail servers on port 25...");
    let crossed = flood_until_quarantined(&bruno, &lab)?;
    story.say(&format!(
        "Bruno is quarantined {} ms after his attempt number {} crossed a threshold ({}: {}; measured here, including this demo's polling).",
        crossed.after.as_millis(),
        crossed.attempt,
        crossed.reason,
        crossed.note
    ));
    let quarantined = lab.show(&bruno.ipv4().to_string())?;
    ensure!(
        quarantined["subscriber"] == BRUNO_MAC,
        "the quarantine is not bound to Bruno's router: {quarantined}"
    );
    // The spam program keeps trying while he is walled in, slowly enough
    // to cross no threshold again (one attempt per 1.5 allowed).
    let attempts = &cfg.detection.smtp_attempts;
    let pace = attempts.window * 3 / (2 * attempts.threshold.max(1));
    let spam = StillSending::start(bruno.clone(), pace);

    let redirected = bruno.curl(&url(WEB_V4, 80, "/news"), &["-H", "Host: news.example"])?;
    let portal = redirected
        .header("location")
        .context("Bruno's http:// was not redirected")?
        .to_owned();
    ensure!(
        portal.starts_with(lab.gateway().portal_url()),
        "redirected elsewhere: {portal}"
    );
    story.say(&format!(
        "Bruno's browser asks for http://news.example/news and lands on {portal}:"
    ));
    for (lang, header) in [
        ("en", "Accept-Language: en"),
        ("es", "Accept-Language: es-ES,es;q=0.9"),
    ] {
        let page = bruno.curl(&portal, &["-H", header])?;
        ensure!(
            page.status == Some(200),
            "the cleanup page answered {:?}",
            page.status
        );
        ensure!(
            page.body.contains(&format!("lang=\"{lang}\"")),
            "not in {lang}"
        );
        for line in first_lines(&page.body, 2) {
            story.quote(lang, &line);
        }
    }

    let page = bruno.curl(&portal, &["-H", "Accept-Language: en"])?;
    let tools = tools_on(&page.body);
    ensure!(
        !tools.is_empty(),
        "the cleanup page offers no tools to download"
    );
    story
        .say("The page offers cleanup tools to download, each with its size and SHA-256 checksum:");
    for t in &tools {
        story.quote(
            "en",
            &format!("{} ({}) SHA-256 {}", t.name, t.size, t.sha256),
        );
    }
    let listed = tools
        .iter()
        .find(|t| t.file == CHECKLIST)
        .with_context(|| format!("the page does not list {CHECKLIST}"))?;
    let file = bruno.curl(&format!("{portal}tools/{CHECKLIST}"), &[])?;
    ensure!(
        file.status == Some(200),
        "downloading {CHECKLIST} answered {:?}",
        file.status
    );
    let sha = sha256_hex(file.body.as_bytes());
    ensure!(
        sha == listed.sha256 && sha == sha256_hex(checklist()),
        "{CHECKLIST}: downloaded SHA-256 {sha}, the page says {}",
        listed.sha256
    );
    story.say(&format!(
        "Bruno downloads {CHECKLIST} while quarantined: {} bytes, and its SHA-256 matches the page.",
        file.body.len()
    ));

    story.say("The operator looks at `cordon list`:");
    for line in lab.cordon_ok(&["list"])?.lines() {
        story.quote("$", line);
    }

    let (new, carla_router) = reconnect(&story, &lab, &dnsmasq, &bruno_router)?;

    story.say(&format!(
        "Bruno runs the cleanup tool; the spam stops. Cordon releases a host that has been quiet for {}s (and held at least {}s).",
        cfg.quarantine.quiet_period.as_secs(),
        cfg.quarantine.min_hold.as_secs()
    ));
    let stopped = spam.stop();
    let deadline = stopped + cfg.quarantine.quiet_period + Duration::from_secs(15);
    loop {
        if lab.state(&new.to_string())? == "probation" {
            break;
        }
        if Instant::now() > deadline {
            bail!("Bruno was not released within the quiet period and 15 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    story.say(&format!(
        "Bruno is released {:.1}s after his last attempt, and is on probation: a relapse means a longer quarantine.",
        stopped.elapsed().as_secs_f64()
    ));
    let page = bruno.curl(&url(WEB_V4, 80, "/"), &[])?;
    ensure!(
        page.from_real_site(),
        "Bruno still does not reach the real site: {page:?}"
    );
    story.say(&format!(
        "Bruno opens http://{WEB_V4}/ again: the real site."
    ));

    story.say("The audit trail, `cordon history`:");
    for line in lab.cordon_ok(&["history"])?.lines() {
        story.quote("$", line);
    }
    drop((carla_router, bruno_router, anna_router, dnsmasq));
    drop(lab);
    story.say("The lab is removed. Every step held.");
    Ok(())
}

/// Prints lines with the time since the story began.
struct Story {
    start: Instant,
}

impl Story {
    fn new() -> Story {
        Story {
            start: Instant::now(),
        }
    }

    fn stamp(&self) -> String {
        format!("[{:>6.2}s]", self.start.elapsed().as_secs_f64())
    }

    fn say(&self, text: &str) {
        println!("{} {text}", self.stamp());
    }

    fn quote(&self, tag: &str, text: &str) {
        println!("{}     {tag:>2} | {text}", " ".repeat(9));
    }
}

struct Crossed {
    attempt: u32,
    after: Duration,
    reason: String,
    note: String,
}

/// Sends port-25 attempts one after another to the internet's mail servers
/// until the host is quarantined; reports how long after the attempt that
/// crossed the threshold the quarantine was seen.
fn flood_until_quarantined(host: &Host, lab: &Lab) -> Result<Crossed> {
    let addr = host.ipv4().to_string();
    let det = &lab.config().detection;
    let limit = 10
        * det
            .smtp_attempts
            .threshold
            .max(det.smtp_destinations.threshold);
    let stop = AtomicBool::new(false);
    // When each attempt left (stamped before its SYN: the kernel reacts to it).
    let sent = parking_lot::Mutex::new(Vec::<Instant>::new());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < limit {
                n += 1;
                // A new mail server for each of the first 64 attempts.
                let mx: IpAddr =
                    mail_server_v4(u16::try_from((n - 1) % 64 + 1).unwrap_or(1)).into();
                sent.lock().push(Instant::now());
                let _ = host.tcp_connect(mx, 25, Duration::from_millis(500));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let outcome = loop {
            let doc = lab.show(&addr)?;
            if doc["state"] == "quarantined" {
                let seen = Instant::now();
                let reason = doc["reason"].as_str().unwrap_or("?").to_owned();
                let note = doc["note"].as_str().unwrap_or("").to_owned();
                // The signal that fired says which attempt crossed its threshold.
                let threshold = if note.starts_with("smtp_destinations") {
                    det.smtp_destinations.threshold
                } else {
                    det.smtp_attempts.threshold
                };
                let crossing = sent.lock().get(threshold as usize).copied();
                let Some(crossed) = crossing else {
                    break Err(anyhow::anyhow!(
                        "Bruno was quarantined before he crossed the threshold ({note})"
                    ));
                };
                break Ok(Crossed {
                    attempt: threshold + 1,
                    after: seen.saturating_duration_since(crossed),
                    reason,
                    note,
                });
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "Bruno was not quarantined within 10 s of flooding"
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        stop.store(true, Ordering::Relaxed);
        outcome
    })
}

/// A spam program still running on a quarantined computer: a port-25
/// attempt every `pace` to one mail server (the walled garden stops them;
/// Cordon counts them, which is how it knows the spam has not stopped).
/// Stops when told or dropped.
struct StillSending {
    stop: Option<mpsc::Sender<()>>,
    last: Arc<parking_lot::Mutex<Instant>>,
    thread: Option<JoinHandle<()>>,
}

impl StillSending {
    fn start(host: Host, pace: Duration) -> StillSending {
        let (stop, stopped) = mpsc::channel::<()>();
        let last = Arc::new(parking_lot::Mutex::new(Instant::now()));
        let thread = std::thread::spawn({
            let last = Arc::clone(&last);
            move || {
                loop {
                    *last.lock() = Instant::now();
                    let _ = host.tcp_connect(mail_server_v4(1), 25, Duration::from_millis(500));
                    // Pacing, not synchronisation: a stop (or drop) ends the wait.
                    if !matches!(stopped.recv_timeout(pace), Err(RecvTimeoutError::Timeout)) {
                        break;
                    }
                }
            }
        });
        StillSending {
            stop: Some(stop),
            last,
            thread: Some(thread),
        }
    }

    /// Stops it; returns when its last attempt left.
    fn stop(mut self) -> Instant {
        self.halt();
        *self.last.lock()
    }

    fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StillSending {
    fn drop(&mut self) {
        self.halt();
    }
}
