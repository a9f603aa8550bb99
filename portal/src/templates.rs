//! Pages from `minijinja` templates: built into the binary, each one
//! replaceable by a file of the same name in `portal.templates_dir` (branding,
//! wording, layout). HTML is escaped automatically; messages come from the
//! translations through `t()`, durations are worded through `dur()`.

use std::path::PathBuf;
use std::sync::Arc;

use fluent_bundle::{FluentArgs, FluentValue};
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, State};

use crate::error::{Error, Result};
use crate::i18n::Translations;

/// The built-in templates.
const BUILTIN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("cleanup.html", include_str!("../templates/cleanup.html")),
    ("notice.html", include_str!("../templates/notice.html")),
    ("steps.html", include_str!("../templates/steps.html")),
    ("tools.html", include_str!("../templates/tools.html")),
    ("outcome.html", include_str!("../templates/outcome.html")),
    ("problem.html", include_str!("../templates/problem.html")),
    ("style.css", include_str!("../templates/style.css")),
];

/// The page templates, ready to render.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Builds the environment and checks that every page compiles, so a
    /// broken override is reported at startup rather than to a subscriber.
    pub fn new(dir: Option<PathBuf>, translations: Arc<Translations>) -> Result<Pages> {
        let mut env = Environment::new();
        // Tag-only lines leave no blank lines behind: smaller pages.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_loader(move |name| {
            if name.contains("..") || name.starts_with('/') {
                return Ok(None);
            }
            if let Some(dir) = &dir {
                match std::fs::read_to_string(dir.join(name)) {
                    Ok(src) => return Ok(Some(src)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("cannot read template {}: {e}", dir.join(name).display()),
                        ));
                    }
                }
            }
            Ok(BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, src)| (*src).to_owned()))
        });
        let tr = Arc::clone(&translations);
        env.add_function(
            "t",
            move |state: &State, key: &str, kwargs: Kwargs| -> Result<String, minijinja::Error> {
                let lang = state.lookup("lang");
                let mut args = FluentArgs::new();
                for name in kwargs.args() {
                    let v: Value = kwargs.get(name)?;
                    args.set(name.to_owned(), fluent_value(&v));
                }
                kwargs.assert_all_used()?;
                Ok(tr.message(page_lang(lang.as_ref()), key, Some(&args)))
            },
        );
        // `dur` for time that has passed, `dur_up` for time still to wait.
        let tr = Arc::clone(&translations);
        env.add_function("dur", move |state: &State, seconds: u64| -> String {
            let lang = state.lookup("lang");
            word_duration(&tr, page_lang(lang.as_ref()), seconds, Round::Down)
        });
        let tr = translations;
        env.add_function("dur_up", move |state: &State, seconds: u64| -> String {
            let lang = state.lookup("lang");
            word_duration(&tr, page_lang(lang.as_ref()), seconds, Round::Up)
        });
        for (name, _) in BUILTIN {
            env.get_template(name)
                .map_err(|e| Error::Template(describe(&e)))?;
        }
        Ok(Pages { env })
    }

    /// Renders page `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Template(describe(&e)))
    }
}

/// The page's language from its `lang` variable, borrowed: `t()` runs
/// dozens of times per page.
fn page_lang(lang: Option<&Value>) -> &str {
    lang.and_then(Value::as_str).unwrap_or_default()
}

fn fluent_value(v: &Value) -> FluentValue<'static> {
    if let Some(n) = v.as_i64() {
        FluentValue::from(n)
    } else if let Some(s) = v.as_str() {
        FluentValue::from(s.to_owned())
    } else {
        FluentValue::from(v.to_string())
    }
}

/// Which way a duration is rounded when it is worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// For time that has passed: "quiet for 59 minutes" is never shown as an
    /// hour.
    Down,
    /// For time still to wait (and for periods the subscriber must reach):
    /// "try again in 2 minutes" must not come true before the wait is over.
    Up,
}

/// Words a duration the way a person says it: seconds under a minute (a
/// 2-second setting is never "1 minute"), minutes up to two hours, hours up
/// to two days, then days; zero is "a moment". `round` says which way the
/// larger units round, so every sentence stays true.
pub fn word_duration(tr: &Translations, lang: &str, seconds: u64, round: Round) -> String {
    let div = |unit: u64| match round {
        Round::Down => seconds / unit,
        Round::Up => seconds.div_ceil(unit),
    };
    let (key, n) = if seconds == 0 {
        ("duration-moments", 0)
    } else if seconds < 60 {
        ("duration-seconds", seconds)
    } else if div(60) < 120 {
        ("duration-minutes", div(60))
    } else if div(3_600) < 48 {
        ("duration-hours", div(3_600))
    } else {
        ("duration-days", div(86_400))
    };
    let mut args = FluentArgs::new();
    args.set("n", n);
    tr.message(lang, key, Some(&args))
}

/// minijinja errors carry the template name and line in their chain.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let (Some(name), Some(line)) = (e.name(), e.line()) {
        s.push_str(&format!(" ({name}, line {line})"));
    }
    s
}

#[cfg(test)]
mod tests {
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
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("problem.html"),
            "<p lang=\"{{ lang }}\">{{ t('language-name') }} {{ isp }}</p>",
        )
        .unwrap();
        let p = Pages::new(Some(d.path().to_owned()), tr()).unwrap();
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
        use crate::facts::{Facts, Outcome};
        use cordon_proto::portal::{HostState, HostStatus, Reason, SelfReleaseOutcome};
        let t = tr();
        let p = Pages::new(None, Arc::clone(&t)).unwrap();
        let support = cordon_config::Support {
            phone: Some("+45 70 00 00 00".into()),
            email: Some("support@isp.example".into()),
            url: Some("https://isp.example/help".into()),
            hours: Some("8-22".into()),
        };
        let tools = vec![crate::tools::ToolView {
            file: "msert.exe".into(),
            href: "tools/msert.exe".into(),
            name: "Safety Scanner".into(),
            description: "Finds harmful programs.".into(),
            size: "140 MB".into(),
            sha256: "ab".repeat(32),
        }];
        let mut all_facts = vec![Facts::unknown()];
        for state in [
            HostState::Clean,
            HostState::Noticed,
            HostState::Quarantined,
            HostState::Probation,
        ] {
            for (left, last) in [(2, Some(9_000)), (0, None)] {
                let status = HostStatus {
                    subscriber: None,
                    address: "100.64.1.7".into(),
                    state,
                    reason: Some(Reason::Report),
                    since: Some(1_000),
                    until: Some(100_000),
                    smtp_attempts: 1,
                    last_smtp_attempt: last,
                    quiet_period_s: 7_200,
                    self_releases_left: left,
                };
                all_facts.push(Facts::from_status(&status, 10_000));
            }
        }
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
            let base = minijinja::context! {
                lang => lang,
                langs => t.links(lang),
                isp => "Example Net",
                support => &support,
                home => "http://portal.test/",
            };
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
}
