//! The "I have cleaned my computer" button: its answers in plain words,
//! its CSRF token, its body cap, and the page right after it.

use cordon_proto::portal::{HostState, SelfReleaseOutcome};
use cordon_proto::time::{Clock, SystemClock};

use super::common::{PUBLIC_URL, csrf_token, curl, quarantined};
use super::quarantined_portal;

#[test]
fn a_self_release_shows_on_the_very_next_page() {
    let p = quarantined_portal();
    let page = curl(&[&p.url("/")]).text();
    assert!(page.contains("I have cleaned my computer"));
    let token = csrf_token(&page);
    // cordond releases the host; the portal still holds the old answer.
    let mut released = quarantined();
    released.state = HostState::Probation;
    p.stand_in().set_status(Some(released));
    let a = curl(&[
        "-X",
        "POST",
        "--data-urlencode",
        &format!("csrf={token}"),
        &p.url("/release"),
    ]);
    assert!(a.text().contains("Your internet works again"));
    let after = curl(&[&p.url("/")]).text();
    assert!(
        after.contains("<h1>Your internet works again</h1>"),
        "{after}"
    );
    assert!(!after.contains("I have cleaned my computer"), "{after}");
    let doc: serde_json::Value =
        serde_json::from_slice(&curl(&[&p.url("/api/captive")]).body).unwrap();
    assert_eq!(doc["captive"], false);
}

#[test]
fn self_release_answers_in_plain_words() {
    let p = quarantined_portal();
    let token = csrf_token(&curl(&[&p.url("/")]).text());
    let press = |lang: &str| p.press(&token, lang);
    let a = press("en");
    assert_eq!(a.status, 200);
    assert!(a.text().contains("Your internet works again"));
    assert_eq!(a.header("cache-control"), Some("no-store"));

    p.stand_in().set_release(SelfReleaseOutcome::StillSending {
        last_attempt_s_ago: 120,
        quiet_needed_s: 7_080,
    });
    let text = press("en").text();
    assert!(text.contains("Not yet"), "{text}");
    assert!(text.contains("still tried to send mail 2 minutes ago"));
    assert!(text.contains("quiet for 118 minutes more"));
    let es = press("es").text();
    assert!(
        es.contains("Todavía no") && es.contains("hace 2 minutos"),
        "{es}"
    );

    p.stand_in().set_release(SelfReleaseOutcome::NoneLeft);
    let da = press("da").text();
    assert!(da.contains("Kontakt os venligst"), "{da}");
    assert!(da.contains("+45 70 00 00 00"));

    p.stand_in()
        .set_release(SelfReleaseOutcome::TooEarly { remaining_s: 600 });
    assert!(press("en").text().contains("try again in 10 minutes"));
    p.stand_in().set_release(SelfReleaseOutcome::NotQuarantined);
    assert!(press("en").text().contains("Your internet is not limited"));

    let releases = p
        .stand_in()
        .seen()
        .into_iter()
        .filter(|r| matches!(r, cordon_proto::portal::Request::SelfRelease { .. }))
        .count();
    assert_eq!(releases, 6);
}

#[test]
fn self_release_without_a_valid_token_is_refused() {
    let p = quarantined_portal();
    for body in [
        "",
        "csrf=",
        "csrf=123.abc",
        "lang=en",
        &format!("csrf={}.{}", SystemClock.now(), "0".repeat(64)),
    ] {
        let a = curl(&["-X", "POST", "-d", body, &p.url("/release")]);
        assert_eq!(a.status, 403, "{body}");
        // The refusal offers a fresh form, so pressing once more works.
        let token = csrf_token(&a.text());
        let again = curl(&[
            "-X",
            "POST",
            "--data-urlencode",
            &format!("csrf={token}"),
            &p.url("/release"),
        ]);
        assert_eq!(again.status, 200);
    }
    assert!(
        p.stand_in()
            .seen()
            .iter()
            .filter(|r| matches!(r, cordon_proto::portal::Request::SelfRelease { .. }))
            .count()
            == 5,
        "only the valid presses reached cordond"
    );
    // Other methods and a GET of the answer page.
    assert_eq!(curl(&["-X", "PUT", &p.url("/release")]).status, 405);
    assert_eq!(curl(&[&p.url("/release")]).status, 303);
    let switched = curl(&[&p.url("/release?lang=es")]);
    assert_eq!(
        switched.header("location"),
        Some(&*format!("{PUBLIC_URL}?lang=es"))
    );
    let unknown = curl(&[&p.url("/release?lang=%0d%0aX:1")]);
    assert_eq!(unknown.header("location"), Some(PUBLIC_URL));
}

#[test]
fn self_release_body_is_capped() {
    let p = quarantined_portal();
    let big = format!("csrf={}", "a".repeat(64 * 1024));
    let a = curl(&["-X", "POST", "-d", &big, &p.url("/release")]);
    assert_eq!(a.status, 413);
}
