//! What a person sees: headless Chromium in a phone-sized window opens the
//! portal, in each language, and finds the steps and the button. The
//! screenshots are kept in `target/tmp/portal-screens/` for people to look at.
//!
//! Needs Debian's `chromium` (`scripts/install-deps test` installs it); a
//! machine without it fails these tests rather than skipping them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Portal, Setup, quarantined};

const CHROMIUM: &str = "/usr/bin/chromium";

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
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=390,844",
            "--timeout=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = html[at..].split('"').next().unwrap();
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
