//! What a quarantined or noticed person sees, seen by a real browser: Debian's Chromium,
//! driven through Debian's `chromedriver` from inside a quarantined
//! subscriber's namespace, opens an ordinary `http://` address, lands on the
//! portal's cleanup page in Spanish (its Accept-Language), presses "He
//! limpiado mi equipo" and reads the answer ("not yet" while the computer
//! still sends mail); once the computer is quiet, the portal says the
//! internet works again and the address opens the real site. axe-core
//! audits each of those pages (WCAG 2.1 A/AA and best practice) on the way.
//! And a noticed person's Danish browser: the notice in place of the page
//! asked for, and the button back to it.
//!
//! The screenshots are kept as test output in
//! `target/tmp/browser-screens/` (`CARGO_TARGET_TMPDIR`), named
//! `cleanup-…`, with chromedriver's log, for a person to look at.
//!
//! Needs root, `chromium`, `chromium-driver` and axe-core
//! (`scripts/install-deps test`), and the workspace's binaries beside the test executable, which
//! `cargo test --workspace` (scripts/test) builds before running any test.

#![allow(clippy::unwrap_used)]

// The same accessibility audit as the portal's browser test.
#[path = "../../portal/tests/axe/mod.rs"]
mod axe;
#[path = "common/browser.rs"]
mod chromium;
mod common;

use std::time::Duration;

use chromium::{Browser, Chromedriver, DRIVER_PORT, Screens};
use common::lab;
use cordon_lab::addresses::{WEB_V4, mail_server_v4};
use cordon_lab::{Lab, TcpOutcome, poll_until, wait_for};
use cordon_proto::time::{Clock, SystemClock};

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
    let screens = Screens::new("cleanup");
    let profile = tempfile::tempdir().unwrap();
    // Declared after `lab` and `profile`, so dropped before them.
    let driver = Chromedriver::start(&home, DRIVER_PORT, &screens.driver_log());
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
        // A Spanish speaker's browser.
        let browser = Browser::open(driver.port, profile.path(), "es", "es-ES,es");

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
        browser.click_until(BUTTON, "the answer to the button", |b| {
            b.url().ends_with("/release")
        });
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

// The Danish the notice page must show (portal/translations/da.ftl).
const NOTICED_TITLE: &str = "En enhed i dit hjem sender måske uønsket post";
const NOTICE_BUTTON: &str = "Jeg forstår, før mig til min side";

/// The notice as a Danish person meets it: an ordinary `http://` page
/// shows the notice in Danish in its place (the address bar still says the
/// page asked for), the button leads back to exactly that page, which the
/// real site then serves, and the next page within the interval too.
#[test]
fn a_danish_browser_sees_the_notice_and_the_button_leads_back_to_its_page() {
    let lab = lab("brnotice").subscribers(1).daemons(true).up().unwrap();
    let home = lab.subscriber(0);
    let addr = home.ipv4().to_string();
    let axe = axe::script();
    let screens = Screens::new("notice");
    let profile = tempfile::tempdir().unwrap();
    // Declared after `lab` and `profile`, so dropped before them.
    let driver = Chromedriver::start(&home, DRIVER_PORT, &screens.driver_log());
    let news = format!("http://{WEB_V4}/nyheder?side=2");
    lab.cordon_ok(&["notice", &addr, "--reason", "lab browser"])
        .unwrap();

    home.run(|| {
        let browser = Browser::open(driver.port, profile.path(), "da", "da-DK,da");
        browser.goto(&news);
        assert_eq!(browser.url(), news, "shown in place of the page asked for");
        assert_eq!(browser.attr("html", "lang").as_deref(), Some("da"));
        assert_eq!(browser.text("h1"), NOTICED_TITLE, "{}", browser.source());
        assert_eq!(browser.text("#acknowledge"), NOTICE_BUTTON);
        browser.audit(&axe, "the notice page");
        screens.save_scrolling(&browser, "1-notice");

        browser.click_until(
            "#acknowledge",
            "the page asked for, from the real site",
            |b| b.url() == news && b.source().contains("real site"),
        );
        let body = browser.text("body");
        assert!(body.contains("path: /nyheder?side=2"), "{body}");
        screens.save(&browser, "2-back-on-the-page");

        // Within the interval, the next page goes straight through.
        let other = format!("http://{WEB_V4}/vejret");
        browser.goto(&other);
        assert!(browser.text("body").starts_with("real site"));
    })
    .unwrap();

    let shown = lab.show(&addr).unwrap();
    assert_eq!(shown["state"], "noticed", "{shown}");
    assert!(shown["acknowledged_until"].is_i64(), "{shown}");
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
