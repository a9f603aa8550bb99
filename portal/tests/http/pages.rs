//! The pages a subscriber reads: the caller's own facts (and how long they
//! are kept), the cleanup page, languages and an operator's own language
//! and brand, the page without cordond, and what is not there.

use std::time::Duration;

use cordon_testkit::eventually;

use super::common::{Portal, Setup, clean, curl, quarantined};
use super::quarantined_portal;

#[test]
fn the_callers_facts_are_kept_for_about_a_second() {
    let p = quarantined_portal();
    let asked = || {
        p.stand_in()
            .seen()
            .iter()
            .filter(|r| matches!(r, cordon_proto::portal::Request::Status { .. }))
            .count()
    };
    // A page view and what a browser asks beside it, twice over.
    let started = std::time::Instant::now();
    for path in ["/", "/api/captive", "/generate_204", "/", "/api/captive"] {
        curl(&[&p.url(path)]);
    }
    if started.elapsed() < Duration::from_millis(900) {
        assert_eq!(asked(), 1, "one question to cordond");
    }
    assert!(asked() < 5, "the answer was reused");
    // A change shows within about a second without any press.
    p.stand_in().set_status(Some(clean()));
    eventually(Duration::from_secs(5), "the page to follow cordond", || {
        curl(&[&p.url("/")])
            .text()
            .contains("Your internet works normally")
    });
}

#[test]
fn cleanup_page_shows_the_callers_own_facts() {
    let p = quarantined_portal();
    let a = curl(&[&p.url("/")]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert!(
        a.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = a.text();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("limited for 2 hours"), "since");
    assert!(html.contains("412 times"), "attempts");
    assert!(
        html.contains("The last try was 25 minutes ago"),
        "last attempt"
    );
    assert!(
        html.contains("sent no mail for 2 hours. So far they have been quiet for 25 minutes"),
        "quiet period"
    );
    assert!(html.contains("Example Net"));
    assert!(html.contains("tel:+4570000000"));
    for os in [
        "Windows computer",
        "Mac",
        "Android phone or tablet",
        "iPhone or iPad",
        "Linux computer",
    ] {
        assert!(html.contains(os), "{os}");
    }
    assert!(html.contains("I have cleaned my computer"));
    assert!(html.contains("name=\"csrf\""));
    assert!(html.contains("How to keep it from happening again"));
    // Nothing from outside the portal: no external scripts, styles, images.
    for bad in [
        "<script",
        "src=\"http",
        "href=\"http://",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(bad), "{bad}");
    }
    assert!(html.len() < 50_000, "{} bytes", html.len());
    // The stand-in was asked about the caller and nobody else.
    assert!(p.stand_in().seen().iter().all(|r| matches!(
        r,
        cordon_proto::portal::Request::Status { address } if address.to_string() == "127.0.0.1"
    )));
}

#[test]
fn the_page_opens_the_callers_system_first() {
    let p = quarantined_portal();
    let html = curl(&[
        "-A",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        &p.url("/"),
    ])
    .text();
    let windows = html.find("<details open>").unwrap();
    assert!(html[windows..].starts_with("<details open>\n    <summary>Windows computer"));
    assert_eq!(html.matches("<details open>").count(), 1);
}

#[test]
fn without_cordond_the_page_still_helps() {
    let p = Portal::start(Setup {
        no_cordond: true,
        ..Setup::default()
    });
    let a = curl(&[&p.url("/")]);
    assert_eq!(a.status, 200);
    let html = a.text();
    assert!(html.contains("We could not look up your connection right now"));
    assert!(html.contains("Windows computer"));
    assert!(!html.contains("name=\"csrf\""), "no button without facts");
    // Probes and the API do not trap everybody when the daemon is down.
    assert_eq!(curl(&[&p.url("/generate_204")]).status, 204);
    let doc: serde_json::Value =
        serde_json::from_slice(&curl(&[&p.url("/api/captive")]).body).unwrap();
    assert_eq!(doc["captive"], false);
    // An error answer from the daemon reads the same.
    let p = Portal::start(Setup::default());
    assert!(curl(&[&p.url("/")]).text().contains("We could not look up"));
}

#[test]
fn languages_by_accept_language_and_links() {
    let p = quarantined_portal();
    let page = |args: &[&str]| {
        let mut all = args.to_vec();
        let url = p.url("/");
        all.push(&url);
        curl(&all).text()
    };
    let es = page(&["-H", "Accept-Language: es-MX,es;q=0.9,en;q=0.5"]);
    assert!(es.contains("<html lang=\"es\">"));
    assert!(es.contains("He limpiado mi equipo"));
    assert!(es.contains("Tu conexión lleva limitada 2 horas"));
    let da = page(&["-H", "Accept-Language: en;q=0.2, da;q=0.8, es;q=0.5"]);
    assert!(da.contains("<html lang=\"da\">"));
    assert!(da.contains("Jeg har renset min computer"));
    assert!(da.contains("412 gange"));
    let en = page(&["-H", "Accept-Language: fr-FR, de;q=0.9"]);
    assert!(en.contains("<html lang=\"en\">"));
    // A link wins over the header, and the switcher offers the others.
    let linked = curl(&["-H", "Accept-Language: es", &p.url("/?lang=da")]).text();
    assert!(linked.contains("<html lang=\"da\">"));
    assert!(linked.contains("href=\"?lang=es\""));
    assert!(linked.contains("href=\"?lang=en\""));
    assert!(linked.contains("<span aria-current=\"page\" lang=\"da\">Dansk</span>"));
}

#[test]
fn an_operator_adds_a_language_with_one_file_and_rebrands() {
    let extra = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        extra.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let tr = extra.path().join("tr");
    let tpl = extra.path().join("tpl");
    std::fs::create_dir(&tr).unwrap();
    std::fs::create_dir(&tpl).unwrap();
    // A partial French file: what it lacks is shown in English.
    std::fs::write(
        tr.join("fr.ftl"),
        "language-name = Français\nquarantined-title = Votre internet est en pause\n",
    )
    .unwrap();
    std::fs::write(
        tpl.join("style.css"),
        "body{background:#fafafa} /* branded */",
    )
    .unwrap();
    let p = Portal::start(Setup {
        status: Some(quarantined()),
        portal: vec![
            ("languages", "[en, es, da, fr]".into()),
            ("translations_dir", tr.display().to_string()),
            ("templates_dir", tpl.display().to_string()),
        ],
        ..Setup::default()
    });
    let html = curl(&["-H", "Accept-Language: fr-CA", &p.url("/")]).text();
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains("Votre internet est en pause"));
    assert!(
        html.contains("I have cleaned my computer"),
        "falls back to English"
    );
    assert!(html.contains("/* branded */"));
    assert!(html.contains(">Français<"));
    assert!(p.log().contains("message missing"), "the gap is reported");
}

#[test]
fn not_found_and_robots() {
    let p = quarantined_portal();
    let a = curl(&["-H", "Accept-Language: da", &p.url("/nope")]);
    assert_eq!(a.status, 404);
    assert!(a.text().contains("Denne side findes ikke."));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert!(
        curl(&[&p.url("/robots.txt")])
            .text()
            .contains("Disallow: /")
    );
}
