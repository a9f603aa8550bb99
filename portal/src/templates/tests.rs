#![allow(clippy::unwrap_used)]
use super::*;

fn tr() -> Arc<Translations> {
    Arc::new(Translations::load(&["en".into(), "es".into(), "da".into()], None).unwrap())
}

#[test]
fn durations() {
    let t = tr();
    let down = |lang, s| word_duration(&t, lang, s, Round::Down);
    let up = |lang, s| word_duration(&t, lang, s, Round::Up);
    assert_eq!(down("en", 0), "a moment");
    assert_eq!(down("en", 60), "1 minute");
    assert_eq!(down("en", 119 * 60), "119 minutes");
    assert_eq!(down("en", 7_200), "2 hours");
    assert_eq!(down("da", 3 * 86_400), "3 dage");
    assert_eq!(down("es", 86_400 * 2), "2 días");
    // Passed time rounds down, time to wait rounds up.
    assert_eq!(down("en", 61), "1 minute");
    assert_eq!(up("en", 61), "2 minutes");
    assert_eq!(down("en", 7_199 + 3_600), "2 hours");
    assert_eq!(up("en", 7_201), "3 hours");
    assert_eq!(up("en", 2 * 86_400 + 1), "3 days");
}

/// A 2-second setting is "2 seconds", never "1 minute" or "a moment",
/// with each language's singular and plural.
#[test]
fn seconds_under_a_minute() {
    let t = tr();
    for round in [Round::Down, Round::Up] {
        let w = |lang, s| word_duration(&t, lang, s, round);
        assert_eq!(w("en", 1), "1 second");
        assert_eq!(w("en", 2), "2 seconds");
        assert_eq!(w("en", 59), "59 seconds");
        assert_eq!(w("es", 1), "1 segundo");
        assert_eq!(w("es", 2), "2 segundos");
        assert_eq!(w("da", 1), "1 sekund");
        assert_eq!(w("da", 2), "2 sekunder");
        assert_eq!(w("da", 21), "21 sekunder");
    }
}

#[test]
fn operator_templates_override_and_escape() {
    let (_d, p) = with_own(
        "problem.html",
        "<p lang=\"{{ lang }}\">{{ t('language-name') }} {{ isp }}</p>",
    );
    let html = p
        .render(
            "problem.html",
            minijinja::context! { lang => "es", isp => "<b>Net & Co</b>" },
        )
        .unwrap();
    assert_eq!(
        html,
        "<p lang=\"es\">Español &lt;b&gt;Net &amp; Co&lt;&#x2f;b&gt;</p>"
    );
}

/// Renders every page in every state and language: no message a
/// template asks for may be missing, and each page stays small.
#[test]
fn every_page_renders_everywhere_with_every_message() {
    use crate::facts::Outcome;
    use cordon_proto::portal::SelfReleaseOutcome;
    let t = tr();
    let p = Pages::new(None, Arc::clone(&t)).unwrap();
    let support = support();
    let tools = tools();
    let all_facts = all_facts();
    let outcomes = [
        Some(SelfReleaseOutcome::Released),
        Some(SelfReleaseOutcome::StillSending {
            last_attempt_s_ago: 120,
            quiet_needed_s: 7_000,
        }),
        Some(SelfReleaseOutcome::TooEarly { remaining_s: 600 }),
        Some(SelfReleaseOutcome::NoneLeft),
        Some(SelfReleaseOutcome::NotQuarantined),
        None,
    ];
    for lang in ["en", "es", "da"] {
        let base = base(&t, lang, &support);
        for facts in &all_facts {
            for os in ["windows", "linux", ""] {
                let ctx = minijinja::context! { ..base.clone(), ..minijinja::context! {
                    facts => facts, csrf => "1.ab", tools => &tools, os => os,
                }};
                let html = p.render("cleanup.html", ctx).unwrap();
                assert!(html.contains(&format!("<html lang=\"{lang}\">")));
                assert!(html.len() < 50_000, "{} bytes", html.len());
            }
        }
        for o in &outcomes {
            let ctx = minijinja::context! { ..base.clone(), ..minijinja::context! {
                outcome => Outcome::from_answer(o.as_ref()),
            }};
            p.render("outcome.html", ctx).unwrap();
        }
        // Every combination of ways to reach the provider, none included.
        for bits in 0..8 {
            let support = cordon_config::Support {
                phone: (bits & 1 != 0).then(|| "+45 70 00 00 00".into()),
                email: (bits & 2 != 0).then(|| "support@isp.example".into()),
                url: (bits & 4 != 0).then(|| "https://isp.example/help".into()),
                hours: None,
            };
            let ctx = minijinja::context! {
                lang => lang,
                langs => t.links(lang),
                isp => "Example Net",
                support => &support,
                outcome => Outcome::from_answer(None),
            };
            let html = p.render("outcome.html", ctx).unwrap();
            assert_eq!(html.contains("tel:"), bits & 1 != 0, "{lang} {bits}");
            assert_eq!(html.contains("mailto:"), bits & 2 != 0, "{lang} {bits}");
        }
        for message in [
            "problem-not-found",
            "problem-form-expired",
            "problem-bad-request",
        ] {
            let ctx = minijinja::context! { ..base.clone(), ..minijinja::context! {
                status => 403, message => message, csrf => "1.ab",
            }};
            p.render("problem.html", ctx).unwrap();
        }
    }
    assert_eq!(t.unknown_keys_seen(), Vec::<String>::new());
}

#[test]
fn a_broken_override_is_refused_at_startup() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("cleanup.html"), "{% if %}").unwrap();
    let e = Pages::new(Some(d.path().to_owned()), tr()).unwrap_err();
    assert!(e.to_string().contains("cleanup.html"), "{e}");
}

fn support() -> cordon_config::Support {
    cordon_config::Support {
        phone: Some("+45 70 00 00 00".into()),
        email: Some("support@isp.example".into()),
        url: Some("https://isp.example/help".into()),
        hours: Some("8-22".into()),
    }
}

fn tools() -> Vec<crate::tools::ToolView> {
    vec![crate::tools::ToolView {
        file: "msert.exe".into(),
        href: "tools/msert.exe".into(),
        name: "Safety Scanner".into(),
        description: "Finds harmful programs.".into(),
        size: "140 MB".into(),
        sha256: "ab".repeat(32),
    }]
}

/// Facts of every standing, with and without presses left, attempts, an
/// account and a fixed end.
fn all_facts() -> Vec<crate::facts::Facts> {
    use crate::facts::Facts;
    use cordon_proto::portal::{HostState, HostStatus, Reason};
    let mut all = vec![Facts::unknown()];
    for state in [
        HostState::Clean,
        HostState::Noticed,
        HostState::Quarantined,
        HostState::Probation,
    ] {
        for (left, last, until, attempts, subscriber, reason) in [
            (2, Some(9_000), Some(100_000), 1, None, Reason::Report),
            (
                0,
                None,
                None,
                0,
                Some("acct-17".to_owned()),
                Reason::Detection,
            ),
            (1, Some(9_990), None, 4_711, None, Reason::Operator),
        ] {
            let status = HostStatus {
                subscriber,
                state,
                reason: Some(reason),
                since: Some(1_000),
                until,
                smtp_attempts: attempts,
                last_smtp_attempt: last,
                quiet_period_s: 7_200,
                self_releases_left: left,
                ..crate::fixtures::quarantined([100, 64, 1, 7].into())
            };
            all.push(Facts::from_status(&status, 10_000));
        }
    }
    all
}

/// The cleanup page made of a shell and the caller's parts is the page
/// rendered whole, byte for byte, in every standing, language and system,
/// with and without tools; the shell is rendered from the standing alone.
#[test]
fn a_filled_shell_is_the_whole_page() {
    let t = tr();
    let p = Pages::new(None, Arc::clone(&t)).unwrap();
    let support = support();
    let mut shells = std::collections::HashMap::new();
    for lang in ["en", "es", "da"] {
        let base = base(&t, lang, &support);
        for tools in [tools(), Vec::new()] {
            for facts in all_facts() {
                for os in ["windows", "linux", ""] {
                    let whole = minijinja::context! { ..base.clone(), ..minijinja::context! {
                        facts => &facts, csrf => "1.ab", tools => &tools, os => os,
                    }};
                    let shell_ctx = minijinja::context! { ..base.clone(), ..minijinja::context! {
                        facts => minijinja::context! { standing => facts.standing },
                        tools => &tools, os => os,
                    }};
                    let shell = p.shell("cleanup.html", shell_ctx).unwrap().unwrap();
                    let filled = p.fill(&shell, &whole).unwrap();
                    assert_eq!(filled, p.render("cleanup.html", whole).unwrap());
                    let key = (lang, tools.len(), os, facts.standing);
                    assert_eq!(shells.entry(key).or_insert_with(|| shell.clone()), &shell);
                }
            }
        }
    }
    // Five standings: one shell for each with its language, tools and
    // system, whatever the rest of the facts.
    assert_eq!(shells.len(), 3 * 2 * 3 * 5);
}

/// An operator's own copy of a template the shell is made of turns shells
/// off (the page is rendered whole); an own copy of a per-caller part
/// does not, and is used.
#[test]
fn own_templates_decide_whether_shells_are_used() {
    for name in SHELL {
        let builtin = BUILTIN.iter().find(|(n, _)| n == name).unwrap().1;
        let (_d, p) = with_own(name, builtin);
        assert!(
            p.shell("cleanup.html", minijinja::context! {}).is_none(),
            "{name}"
        );
    }
    let (_d, p) = with_own("facts.html", "<p>own facts {{ facts.smtp_attempts }}</p>");
    let facts = all_facts()
        .into_iter()
        .find(|f| f.standing == crate::facts::Standing::Quarantined && f.smtp_attempts == 4_711)
        .unwrap();
    let t = tr();
    let base = minijinja::context! {
        lang => "en", langs => t.links("en"), isp => "Example Net", support => support(),
        home => "http://portal.test/", os => "windows",
    };
    let whole = minijinja::context! { ..base.clone(), ..minijinja::context! { facts => &facts } };
    let shell_ctx = minijinja::context! { ..base, ..minijinja::context! {
        facts => minijinja::context! { standing => facts.standing },
    }};
    let shell = p.shell("cleanup.html", shell_ctx).unwrap().unwrap();
    let filled = p.fill(&shell, &whole).unwrap();
    assert!(filled.contains("<p>own facts 4711</p>"), "{filled}");
    assert_eq!(filled, p.render("cleanup.html", whole).unwrap());
}

/// A mark that is no part's (a translation holding the mark's
/// character) makes no shell: the page is rendered whole.
#[test]
fn a_stray_mark_makes_no_shell() {
    assert!(Shell::split(&format!("a{MARK}facts.html{MARK}b")).is_some());
    assert!(Shell::split(&format!("a{MARK}b")).is_none());
    assert!(Shell::split(&format!("a{MARK}other.html{MARK}b")).is_none());
}

/// Pages with the operator's own `name` holding `text` (the directory
/// lives as long as the first value).
fn with_own(name: &str, text: &str) -> (tempfile::TempDir, Pages) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(name), text).unwrap();
    let p = Pages::new(Some(d.path().to_owned()), tr()).unwrap();
    (d, p)
}

/// What every page is given (as `page_context!` gives it), in `lang`.
fn base(t: &Translations, lang: &str, support: &cordon_config::Support) -> minijinja::Value {
    minijinja::context! {
        lang => lang,
        langs => t.links(lang),
        isp => "Example Net",
        support => support,
        home => "http://portal.test/",
    }
}
