//! What a quarantined person sees, seen by a real browser: Debian's Chromium,
//! driven through Debian's `chromedriver` from inside a quarantined
//! subscriber's namespace, opens an ordinary `http://` address, lands on the
//! portal's cleanup page in Spanish (its Accept-Language), presses "He
//! limpiado mi equipo" and reads the answer ("not yet" while the computer
//! still sends mail); once the computer is quiet, the portal says the
//! internet works again and the address opens the real site. axe-core
//! audits each of those pages (WCAG 2.1 A/AA and best practice) on the way.
//!
//! The screenshots are kept as test output in
//! `target/tmp/browser-screens/` (`CARGO_TARGET_TMPDIR`), with
//! chromedriver's log, for a person to look at.
//!
//! Needs root, `chromium`, `chromium-driver` and axe-core
//! (`scripts/install-deps test`), and the workspace's binaries beside the test executable, which
//! `cargo test --workspace` (scripts/test) builds before running any test.

#![allow(clippy::unwrap_used)]

// The same accessibility audit as the portal's browser test.
#[path = "../../portal/tests/axe/mod.rs"]
mod axe;
mod common;

use std::fs::File;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::lab;
use cordon_lab::addresses::{WEB_V4, mail_server_v4};
use cordon_lab::{Host, Lab, TcpOutcome, poll_until, wait_for};
use cordon_proto::time::{Clock, SystemClock};
use cordon_testkit::chromium::{Group, phone_capabilities};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, json};

/// chromedriver's port inside the subscriber's namespace: the namespace is
/// this lab's own, so nothing else listens there.
const DRIVER_PORT: u16 = 9515;
/// How long one WebDriver command (a page load, a click) may take.
const STEP: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_secs(2);

// The Spanish the page must show (portal/translations/es.ftl).
const QUARANTINED_TITLE: &str = "Tu internet está en pausa por ahora";
const COMES_BACK: &str = "Tu conexión volverá sola. No hace falta que llames a nadie.";
const RELEASE_BUTTON: &str = "He limpiado mi equipo";
const NOT_YET_TITLE: &str = "Todavía no";
/// The answer while the computer sends; the time between the two parts is
/// worded to the second ("hace 3 segundos"), which the test cannot know.
const STILL_SENDING: (&str, &str) = (
    "Un aparato de tu conexión intentó enviar correo hace ",
    " Tu conexión se abrirá cuando lleve ",
);
const BACK_TITLE: &str = "Tu internet ya funciona de nuevo";

/// The release form's button (portal/templates/cleanup.html).
const BUTTON: &str = r#"form[action="release"] button[type="submit"]"#;

/// The story of a person whose computer sends junk mail. The button can only
/// answer "not yet" here: while the computer sends, it is not quiet; once it
/// is quiet, cordond's own quiet check (every second at this quiet period)
/// releases the host at the same moment the button would, so a "released"
/// answer would be a race. The test shows instead what the page promises:
/// the connection comes back by itself.
#[test]
fn a_spanish_browser_lands_on_the_cleanup_page_and_hears_not_yet() {
    // The quiet period covers the steps between the computer's last attempt
    // and the press; the shortest quarantine, the steps from the quarantine
    // to the first attempt.
    let lab = lab("browser")
        .subscribers(1)
        .min_hold(Duration::from_secs(2))
        .quiet_period(Duration::from_secs(6))
        .daemons(true)
        .up()
        .unwrap();
    let home = lab.subscriber(0);
    let addr = home.ipv4().to_string();
    let axe = axe::script();
    let screens = Screens::new();
    let profile = tempfile::tempdir().unwrap();
    // Declared after `lab` and `profile`, so dropped before them.
    let driver = Chromedriver::start(&home, DRIVER_PORT, &screens.dir.join("chromedriver.log"));
    let portal = lab.gateway().portal_url().to_owned();
    let news = format!("http://{WEB_V4}/noticias");
    // What a spam zombie does, from the subscriber's namespace: a new
    // connection to another network's mail server, never let through. Then
    // wait until cordond has seen it (it reads the kernel's counts now and
    // then, and the portal asks cordond).
    let zombie_sends = || {
        let before = smtp_attempts(&lab, &addr);
        let outcome = home.tcp_connect(mail_server_v4(1), 25, SHORT).unwrap();
        assert_ne!(
            outcome,
            TcpOutcome::Connected,
            "mail left the walled garden"
        );
        wait_for(SHORT * 5, "cordond to count the mail attempt", || {
            smtp_attempts(&lab, &addr) > before
        })
        .unwrap();
    };

    home.run(|| {
        let browser = Browser::open(driver.port, profile.path());

        // Caught: quarantined, and the computer goes on sending.
        lab.cordon_ok(&["quarantine", &addr, "--reason", "lab browser"])
            .unwrap();
        zombie_sends();

        // An ordinary address lands on the cleanup page, in Spanish.
        browser.goto(&news);
        let landed = browser.url();
        assert!(
            landed.starts_with(&portal),
            "{news} should land on the portal ({portal}), landed on {landed}: {}",
            browser.source()
        );
        assert_eq!(browser.attr("html", "lang").as_deref(), Some("es"));
        assert_eq!(browser.text("h1"), QUARANTINED_TITLE);
        let title = browser.title();
        assert!(title.starts_with(QUARANTINED_TITLE), "title: {title}");
        assert_eq!(browser.text("p.calm"), COMES_BACK);
        assert_eq!(browser.text(BUTTON), RELEASE_BUTTON);
        browser.audit(&axe, "the cleanup page");
        screens.save_scrolling(&browser, "1-landed");

        // Pressing the button while the computer still sends: "not yet".
        // (Past the shortest quarantine first, so the answer is about the
        // mail, not about the hold.)
        wait_for(SHORT * 5, "the shortest quarantine to pass", || {
            hold_until(&lab, &addr) <= SystemClock.now()
        })
        .unwrap();
        zombie_sends();
        browser.press_release();
        assert_eq!(browser.text("h1"), NOT_YET_TITLE);
        let answer = browser.text("p.lead");
        assert!(
            answer.starts_with(STILL_SENDING.0) && answer.contains(STILL_SENDING.1),
            "answer: {answer}"
        );
        browser.audit(&axe, "the answer \"not yet\"");
        screens.save(&browser, "2-not-yet");
        assert_eq!(lab.state(&addr).unwrap(), "quarantined");

        // The computer is cleaned (it stops sending): the connection comes
        // back by itself, as the page said, and the portal says so.
        poll_until(SHORT * 10, "the portal to say the internet is back", || {
            browser.goto(&portal);
            browser.source().contains(BACK_TITLE).then_some(())
        })
        .unwrap();
        assert_eq!(browser.text("h1"), BACK_TITLE);
        assert_eq!(browser.attr("html", "lang").as_deref(), Some("es"));
        browser.audit(&axe, "the page once the internet is back");
        screens.save(&browser, "3-back");

        // And the address the person wanted opens the real site.
        browser.goto(&news);
        let url = browser.url();
        assert!(url.starts_with(&format!("http://{WEB_V4}/")), "{url}");
        let body = browser.text("body");
        assert!(body.starts_with("real site"), "{url}: {body}");
        screens.save(&browser, "4-real-site");
    })
    .unwrap();

    assert_eq!(lab.state(&addr).unwrap(), "probation");
}

/// A WebDriver session with Chromium, driven from the calling thread (its
/// sockets are opened in that thread's namespace). Ending it (also on a
/// panic) quits the browser.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl Browser {
    fn open(port: u16, profile: &Path) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // A Spanish speaker's browser.
        let mut prefs = Map::new();
        prefs.insert("intl.accept_languages".into(), json!("es-ES,es"));
        let caps = phone_capabilities(profile, &["--lang=es"], prefs);
        let webdriver = format!("http://{}:{port}", Ipv4Addr::LOCALHOST);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let connecting = builder.capabilities(caps).connect(&webdriver);
        let client = rt
            .block_on(async { tokio::time::timeout(STEP, connecting).await })
            .unwrap_or_else(|_| panic!("no WebDriver session within {STEP:?}"))
            .unwrap();
        Browser {
            rt,
            client: Some(client),
        }
    }

    /// Runs one WebDriver command to its end, or fails the test.
    fn step<T, E: std::fmt::Debug>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> T {
        match self
            .rt
            .block_on(async { tokio::time::timeout(STEP, command).await })
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{what}: {e:?}"),
            Err(_) => panic!("{what}: no answer within {STEP:?}"),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn goto(&self, url: &str) {
        self.step(&format!("opening {url}"), self.client().goto(url));
    }

    fn url(&self) -> String {
        self.step("reading the URL", self.client().current_url())
            .to_string()
    }

    fn title(&self) -> String {
        self.step("reading the title", self.client().title())
    }

    fn source(&self) -> String {
        self.step("reading the page", self.client().source())
    }

    fn text(&self, css: &str) -> String {
        self.step(&format!("reading {css}"), async {
            self.client().find(Locator::Css(css)).await?.text().await
        })
    }

    fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.step(&format!("reading {css} {name}"), async {
            self.client()
                .find(Locator::Css(css))
                .await?
                .attr(name)
                .await
        })
    }

    /// Presses "He limpiado mi equipo" and waits for the answer page.
    fn press_release(&self) {
        let before = self.url();
        self.step("pressing the button", async {
            self.client()
                .find(Locator::Css(BUTTON))
                .await?
                .click()
                .await
        });
        wait_for(STEP, "the answer to the button", || {
            let now = self.url();
            now != before && now.ends_with("/release")
        })
        .unwrap();
    }

    /// axe-core's audit (WCAG 2.1 A/AA and best practice) of the page shown
    /// now, at the phone's size: any violation fails the test, named.
    fn audit(&self, axe: &str, what: &str) {
        let found = self.step(&format!("auditing {what}"), async {
            Ok::<_, ()>(axe::violations(self.client(), axe).await)
        });
        assert!(
            found.is_empty(),
            "axe-core found {} violation(s) on {what}:\n{}",
            found.len(),
            found.join("\n")
        );
    }

    fn screenshot(&self) -> Vec<u8> {
        self.step("taking a screenshot", self.client().screenshot())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ends the session, which quits Chromium; chromedriver's guard
            // and the lab's guard catch what is left if this fails.
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(SHORT * 5, client.close()).await });
        }
    }
}

/// chromedriver running inside a namespace, in its own process group
/// (with the Chromium it starts); dropping it ends the group.
struct Chromedriver {
    /// Ends chromedriver and its Chromium on drop.
    group: Group,
    port: u16,
}

impl Chromedriver {
    fn start(host: &Host, port: u16, log: &Path) -> Chromedriver {
        let out = File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = cordon_lab::netns::command(host.netns(), "chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut driver = Chromedriver {
            group: Group::spawn(&mut cmd).unwrap(),
            port,
        };
        wait_for(SHORT * 10, "chromedriver to listen", || {
            if let Some(status) = driver.group.child().try_wait().unwrap() {
                panic!(
                    "chromedriver ended ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            host.tcp_connect(Ipv4Addr::LOCALHOST, port, SHORT).unwrap() == TcpOutcome::Connected
        })
        .unwrap();
        driver
    }
}

/// Where the screenshots go: test output a person looks at.
struct Screens {
    dir: PathBuf,
}

impl Screens {
    fn new() -> Screens {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screens");
        std::fs::create_dir_all(&dir).unwrap();
        // Only this run's pictures.
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "png") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
        Screens { dir }
    }

    /// What the person sees on the phone's screen.
    fn save(&self, browser: &Browser, name: &str) {
        let path = self.dir.join(format!("{name}.png"));
        std::fs::write(&path, browser.screenshot()).unwrap();
        eprintln!("screenshot: {}", path.display());
    }

    /// The whole page as the person scrolls through it, one screen at a
    /// time (`NAME-1.png`, `NAME-2.png`, ...), then back to the top.
    fn save_scrolling(&self, browser: &Browser, name: &str) {
        let client = browser.client();
        let sizes = browser.step(
            "measuring the page",
            client.execute(
                "return [window.innerHeight, document.documentElement.scrollHeight]",
                vec![],
            ),
        );
        let (screen, page) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert!(screen > 0, "a window with no height");
        for (i, top) in (0..page)
            .step_by(usize::try_from(screen).unwrap())
            .enumerate()
        {
            browser.step(
                "scrolling",
                client.execute("window.scrollTo(0, arguments[0])", vec![json!(top)]),
            );
            self.save(browser, &format!("{name}-{}", i + 1));
        }
        browser.step(
            "scrolling back",
            client.execute("window.scrollTo(0, 0)", vec![]),
        );
    }
}

/// Mail attempts the gateway counts for the address now (the count starts
/// again once the address has been quiet for the quiet period).
fn smtp_attempts(lab: &Lab, addr: &str) -> u64 {
    lab.show(addr).unwrap()["smtp_attempts"]
        .as_u64()
        .unwrap_or(0)
}

/// When the shortest quarantine ends (Unix seconds, cordond's clock).
fn hold_until(lab: &Lab, addr: &str) -> i64 {
    let doc = lab.show(addr).unwrap();
    doc["hold_until"]
        .as_i64()
        .unwrap_or_else(|| panic!("no hold_until: {doc}"))
}
