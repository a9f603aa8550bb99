//! What the subscriber reads must be true: the real portal, asked with a real
//! HTTP client (curl), in each language, for the three cases where it once
//! said something untrue: a fixed hold (no button was ever offered), a
//! provider reachable only some ways, and settings shorter than a minute.
#![allow(clippy::unwrap_used)]

mod common;

use cordon_proto::portal::{HostStatus, Reason, SelfReleaseOutcome};
use cordon_proto::time::{Clock, SystemClock};

use common::{Portal, Setup, curl, quarantined};

const LANGS: [&str; 3] = ["en", "es", "da"];

fn page(p: &Portal, lang: &str) -> String {
    let a = curl(&[&p.url(&format!("/?lang={lang}"))]);
    assert_eq!(a.status, 200, "{lang}");
    a.text()
}

/// Presses the button in `lang` with a fresh token and returns the answer.
fn press(p: &Portal, lang: &str) -> String {
    let token = common::csrf_token(&page(p, lang));
    let a = p.press(&token, lang);
    assert_eq!(a.status, 200, "{lang}");
    a.text()
}

fn assert_has(html: &str, lang: &str, wanted: &str) {
    assert!(
        html.contains(wanted),
        "{lang}: {wanted:?} missing in {html}"
    );
}

fn assert_lacks(html: &str, lang: &str, unwanted: &str) {
    assert!(
        !html.contains(unwanted),
        "{lang}: {unwanted:?} shown in {html}"
    );
}

/// An operator's `cordon quarantine ADDR --hold 3d`: cordond sends the fixed
/// end and no presses left. The page says when the connection comes back and
/// that the provider set it, and never that a button was used up, nor that
/// the quiet test will end it early.
#[test]
fn a_fixed_hold_says_when_and_who_set_it() {
    let status = HostStatus {
        subscriber: None,
        acknowledged_until: None,
        reason: Some(Reason::Operator),
        until: Some(SystemClock.now() + 3 * 86_400),
        self_releases_left: 0,
        ..quarantined()
    };
    let p = Portal::start(Setup {
        status: Some(status),
        ..Setup::default()
    });
    for (lang, said, used_up, quiet_test) in [
        (
            "en",
            "Example Net has set a fixed end for this limit. Your connection comes back by itself in 3 days.",
            "as often as allowed",
            "when your devices have sent no mail for",
        ),
        (
            "es",
            "Example Net ha fijado cuándo termina este límite. Tu conexión volverá sola dentro de 3 días.",
            "todas las veces permitidas",
            "sin enviar correo. Por ahora",
        ),
        (
            "da",
            "Example Net har fastsat, hvornår begrænsningen slutter. Din forbindelse kommer tilbage af sig selv om 3 dage.",
            "så mange gange, som du må",
            "ikke har sendt post i",
        ),
    ] {
        let html = page(&p, lang);
        assert_has(&html, lang, said);
        assert_lacks(&html, lang, used_up);
        assert_lacks(&html, lang, quiet_test);
        assert_lacks(&html, lang, "<form method=\"post\" action=\"release\">");
    }
}

/// Each way of contact the operator configured, and only those, in the
/// sentence and in the list; a sensible sentence when there is none.
#[test]
fn only_the_ways_of_contact_that_exist_are_offered() {
    // (support, [(lang, sentence)], what must not appear)
    let cases: [(&str, [&str; 3], &[&str]); 5] = [
        (
            "{ email: help@isp.test }",
            [
                "Write to Example Net.",
                "Escribe a Example Net.",
                "Skriv til Example Net.",
            ],
            &["tel:", "Call", "Llama", "Ring"],
        ),
        (
            "{ phone: \"+45 70 00 00 00\" }",
            [
                "Call Example Net.",
                "Llama a Example Net.",
                "Ring til Example Net.",
            ],
            &[
                "mailto:",
                "write to",
                "Write to",
                "escribe a",
                "Escribe a",
                "skriv til",
                "Skriv til",
            ],
        ),
        (
            "{ phone: \"+45 70 00 00 00\", email: help@isp.test }",
            [
                "Call or write to Example Net.",
                "Llama o escribe a Example Net.",
                "Ring eller skriv til Example Net.",
            ],
            &[],
        ),
        (
            "{ url: \"https://isp.test/help\" }",
            [
                "You find help from Example Net on its website.",
                "Encontrarás ayuda de Example Net en su página web.",
                "Du finder hjælp fra Example Net på deres hjemmeside.",
            ],
            &["tel:", "mailto:", "Call", "Llama", "Ring"],
        ),
        (
            "{}",
            [
                "To reach Example Net, use the phone number or address on your bill or contract.",
                "Para contactar con Example Net, usa el teléfono o la dirección de tu factura o tu contrato.",
                "Brug telefonnummeret eller adressen på din regning eller kontrakt for at kontakte Example Net.",
            ],
            &["tel:", "mailto:", "Call", "Llama", "Ring"],
        ),
    ];
    for (support, sentences, absent) in cases {
        let p = Portal::start(Setup {
            status: Some(quarantined()),
            support: Some(support),
            ..Setup::default()
        });
        for (lang, sentence) in LANGS.iter().zip(sentences) {
            let html = page(&p, lang);
            assert_has(&html, lang, sentence);
            for word in absent {
                assert_lacks(&html, &format!("{lang} with {support}"), word);
            }
            // The answer pages carry the same section.
            p.stand_in().set_release(SelfReleaseOutcome::NoneLeft);
            let answer = press(&p, lang);
            assert_has(&answer, lang, sentence);
        }
    }
}

/// A quiet period of 2 seconds is "2 seconds" on the page and in the answer
/// to the button, in every language, singular and plural: never "1 minute"
/// or "a moment".
#[test]
fn short_settings_are_worded_in_seconds() {
    let status = HostStatus {
        subscriber: None,
        acknowledged_until: None,
        quiet_period_s: 2,
        last_smtp_attempt: Some(SystemClock.now() + 60),
        ..quarantined()
    };
    let p = Portal::start(Setup {
        status: Some(status),
        ..Setup::default()
    });
    for (lang, period, wait, one, minute) in [
        (
            "en",
            "sent no mail for 2 seconds.",
            "quiet for 2 seconds more.",
            "try again in 1 second.",
            "1 minute",
        ),
        (
            "es",
            "pasan 2 segundos sin enviar correo.",
            "cuando lleve 2 segundos más en silencio.",
            "dentro de 1 segundo.",
            "1 minuto",
        ),
        (
            "da",
            "ikke har sendt post i 2 sekunder.",
            "stille i 2 sekunder mere.",
            "Prøv igen om 1 sekund.",
            "1 minut",
        ),
    ] {
        let html = page(&p, lang);
        assert_has(&html, lang, period);
        assert_lacks(&html, lang, minute);

        p.stand_in().set_release(SelfReleaseOutcome::StillSending {
            last_attempt_s_ago: 0,
            quiet_needed_s: 2,
        });
        let answer = press(&p, lang);
        assert_has(&answer, lang, wait);
        assert_lacks(&answer, lang, minute);

        p.stand_in()
            .set_release(SelfReleaseOutcome::TooEarly { remaining_s: 1 });
        let answer = press(&p, lang);
        assert_has(&answer, lang, one);
        assert_lacks(&answer, lang, minute);
    }
}
