//! What a person sees: headless Chromium in a phone-sized window opens the
//! portal, in each language, and finds the steps and the button. The
//! screenshots are kept in `target/tmp/portal-screens/` for people to look at.
//!
//! The accessibility audit (axe-core, driven through chromedriver) runs on
//! the same pages at the same size.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core in
//! `target/axe-core/` (`scripts/install-deps test` installs all three); a
//! machine without them fails these tests rather than skipping them.
#![allow(clippy::unwrap_used)]

mod axe;
mod common;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Portal, Setup, quarantined};
use cordon_proto::portal::{HostStatus, SelfReleaseOutcome};
use cordon_proto::time::{Clock, SystemClock};
use cordon_testkit::chromium::{CHROMEDRIVER, CHROMIUM, FLAGS, Group, phone_capabilities};
use cordon_testkit::command::checked;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Map;

fn require_browser() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install chromium (scripts/install-deps test does)"
    );
}

fn screens_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screens");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs headless Chromium with a fresh profile and the flags that keep it
/// from reaching outside hosts; `extra` picks the action.
fn chromium(extra: &[&str], url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(CHROMIUM);
    cmd.args(FLAGS)
        .args([
            "--hide-scrollbars",
            "--window-size=390,844",
            "--timeout=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url);
    let out = checked(cmd, Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_phone_shows_the_steps_and_the_button_in_every_language() {
    require_browser();
    let p = Portal::start(Setup {
        status: Some(quarantined()),
        tools: vec![("cleaner.exe", vec![7u8; 2_000_000])],
        ..Setup::default()
    });
    let screens = screens_dir();
    for (lang, button, heading, windows) in [
        (
            "en",
            "I have cleaned my computer",
            "Your internet is paused for now",
            "Windows computer",
        ),
        (
            "es",
            "He limpiado mi equipo",
            "Tu internet está en pausa por ahora",
            "Equipo con Windows",
        ),
        (
            "da",
            "Jeg har renset min computer",
            "Dit internet er sat på pause lige nu",
            "Windows-computer",
        ),
    ] {
        let url = p.url(&format!("/?lang={lang}"));
        let dom = chromium(&["--dump-dom"], &url);
        assert!(dom.contains(&format!("<html lang=\"{lang}\">")), "{lang}");
        assert!(dom.contains(heading), "{lang}: heading");
        assert!(dom.contains(button), "{lang}: button");
        assert!(
            dom.contains("<button type=\"submit\">"),
            "{lang}: a real button"
        );
        assert!(dom.contains(windows), "{lang}: Windows steps");
        assert!(dom.contains("<details"), "{lang}: steps per system");
        let shot = screens.join(format!("cleanup-{lang}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium(&[&format!("--screenshot={}", shot.display())], &url);
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "{lang}: screenshot"
        );
        // The whole page, top to bottom, for a person to review.
        let long = screens.join(format!("cleanup-{lang}-full.png"));
        chromium(
            &[
                "--window-size=390,4200",
                &format!("--screenshot={}", long.display()),
            ],
            &url,
        );
    }
}

#[test]
fn a_spanish_browser_gets_spanish_and_the_button_answers() {
    require_browser();
    let p = Portal::start(Setup {
        status: Some(quarantined()),
        ..Setup::default()
    });
    let dom = chromium(&["--accept-lang=es-MX,es", "--dump-dom"], &p.url("/"));
    assert!(
        dom.contains("<html lang=\"es\">"),
        "Accept-Language from the browser"
    );

    // Press the button: a page of our own submits the portal's form with the
    // token the portal gave this address (Chromium runs without a person to
    // click, and the portal's pages carry no script).
    p.stand_in()
        .set_release(cordon_proto::portal::SelfReleaseOutcome::StillSending {
            last_attempt_s_ago: 120,
            quiet_needed_s: 600,
        });
    let html = common::curl(&[&p.url("/?lang=es")]).text();
    let token = common::csrf_token(&html);
    let press = p.dir.path().join("press.html");
    std::fs::write(
        &press,
        format!(
            "<!doctype html><form method=post action=\"{}\"><input name=csrf value=\"{token}\"><input name=lang value=es></form>\
             <script>document.forms[0].submit()</script>",
            p.url("/release")
        ),
    )
    .unwrap();
    let answer = chromium(
        &[
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ],
        &format!("file://{}", press.display()),
    );
    assert!(answer.contains("Todavía no"), "{answer}");
    assert!(answer.contains("hace 2 minutos"));
    let shot = screens_dir().join("answer-es.png");
    std::fs::write(p.dir.path().join("answer.html"), &answer).unwrap();
    chromium(
        &[&format!("--screenshot={}", shot.display())],
        &format!("file://{}", p.dir.path().join("answer.html").display()),
    );
}

/// The release form's button (portal/templates/cleanup.html).
const BUTTON: &str = r#"form[action="release"] button[type="submit"]"#;
/// How long one WebDriver command (a page load, a click, an audit) may take.
const STEP: Duration = Duration::from_secs(60);

/// axe-core finds no violation of WCAG 2.1 A/AA or of its best practices on
/// what a phone shows (390 x 844): the cleanup page with its button, the
/// page of a fixed hold (no button), and the answers to the button, in every
/// language. Any violation fails the test with its rule, impact and nodes.
#[test]
fn axe_finds_no_violation_at_phone_size() {
    require_browser();
    let axe = axe::script();
    let p = Portal::start(Setup {
        status: Some(quarantined()),
        tools: vec![("cleaner.exe", vec![7u8; 4_000])],
        ..Setup::default()
    });
    let driver = Chromedriver::start(&screens_dir().join("chromedriver.log"));
    let profile = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = rt.block_on(async {
        let client = step(
            "starting a WebDriver session",
            session(driver.port, profile.path()),
        )
        .await;
        let mut found = Vec::new();
        let mut audit = async |what: String| {
            let v = step(&format!("auditing {what}"), async {
                Ok::<_, ()>(axe::violations(&client, &axe).await)
            })
            .await;
            found.extend(v.into_iter().map(|v| format!("{what}: {v}")));
        };
        let answers = [
            ("released", SelfReleaseOutcome::Released),
            (
                "still sending",
                SelfReleaseOutcome::StillSending {
                    last_attempt_s_ago: 120,
                    quiet_needed_s: 600,
                },
            ),
            ("none left", SelfReleaseOutcome::NoneLeft),
        ];
        for lang in ["en", "es", "da"] {
            let page = p.url(&format!("/?lang={lang}"));
            step("opening the cleanup page", client.goto(&page)).await;
            audit(format!("cleanup page ({lang})")).await;
            for (name, outcome) in &answers {
                p.stand_in().set_release(outcome.clone());
                step("opening the cleanup page", client.goto(&page)).await;
                press(&client).await;
                audit(format!("answer {name} ({lang})")).await;
            }
        }
        // A fixed hold: the page without the button (the portal keeps
        // cordond's answer for about a second, so wait for the new one).
        p.stand_in().set_status(Some(HostStatus {
            subscriber: None,
            acknowledged_until: None,
            until: Some(SystemClock.now() + 86_400),
            self_releases_left: 0,
            ..quarantined()
        }));
        for lang in ["en", "es", "da"] {
            let page = p.url(&format!("/?lang={lang}"));
            let deadline = Instant::now() + STEP;
            loop {
                step("opening the cleanup page", client.goto(&page)).await;
                let src = step("reading the page", client.source()).await;
                if !src.contains("action=\"release\"") {
                    break;
                }
                assert!(Instant::now() < deadline, "the fixed hold never showed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            audit(format!("fixed hold ({lang})")).await;
        }
        let _ = tokio::time::timeout(STEP, client.close()).await;
        found
    });
    assert!(
        found.is_empty(),
        "axe-core found {} violation(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

/// Runs one WebDriver command to its end, or fails the test.
async fn step<T, E: std::fmt::Debug>(what: &str, command: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(STEP, command).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// A Chromium session with a phone's screen (390 x 844).
async fn session(port: u16, profile: &Path) -> Result<Client, fantoccini::error::NewSessionError> {
    let caps = phone_capabilities(profile, &[], Map::new());
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
}

/// Presses "I have cleaned my computer" and waits for the answer page.
async fn press(client: &Client) {
    step("pressing the button", async {
        client.find(Locator::Css(BUTTON)).await?.click().await
    })
    .await;
    let deadline = Instant::now() + STEP;
    while !step("reading the URL", client.current_url())
        .await
        .path()
        .ends_with("/release")
    {
        assert!(Instant::now() < deadline, "no answer to the button");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// chromedriver on a port of loopback the kernel picks, in its own process
/// group (with the Chromium it starts); dropping it ends the group.
struct Chromedriver {
    /// Ends chromedriver and its Chromium on drop.
    _group: Group,
    port: u16,
}

impl Chromedriver {
    fn start(log: &Path) -> Chromedriver {
        assert!(
            Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: apt-get install chromium-driver (scripts/install-deps test does)"
        );
        let mut group = Group::spawn(
            Command::new(CHROMEDRIVER)
                .args(["--port=0", &format!("--log-path={}", log.display())])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        )
        .unwrap();
        let stdout = group.child().stdout.take().unwrap();
        // "ChromeDriver was started successfully on port 33639."
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("chromedriver did not say its port; see {}", log.display()));
        Chromedriver {
            _group: group,
            port,
        }
    }
}
