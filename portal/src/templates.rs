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
    (
        "step-last.html",
        include_str!("../templates/step-last.html"),
    ),
    ("facts.html", include_str!("../templates/facts.html")),
    ("release.html", include_str!("../templates/release.html")),
    ("tools.html", include_str!("../templates/tools.html")),
    ("outcome.html", include_str!("../templates/outcome.html")),
    ("problem.html", include_str!("../templates/problem.html")),
    ("style.css", include_str!("../templates/style.css")),
];

/// The parts of the cleanup page that depend on the caller: rendered for
/// each caller, while the rest of the page is rendered once per language,
/// system and standing (see [`Shell`]).
pub const PER_CALLER: &[&str] = &["facts.html", "release.html", "step-last.html"];
/// The templates the rest of the cleanup page is made of. An operator's
/// own copy of any of them may show the caller's facts anywhere, so the
/// page is then rendered whole for each caller.
const SHELL: &[&str] = &["cleanup.html", "base.html", "steps.html", "tools.html"];
/// Where a per-caller part goes in a shell: a private-use character no
/// template or translation holds, around the part's name.
const MARK: char = '\u{E000}';

/// The page templates, ready to render.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
    /// The same templates with every per-caller part replaced by a mark;
    /// `None` when an operator replaced part of the shell.
    shells: Option<Environment<'static>>,
}

/// A page rendered without its per-caller parts: text, and the parts to
/// render for each caller between.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shell {
    pieces: Vec<Piece>,
    len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Piece {
    Text(String),
    Part(&'static str),
}

impl Pages {
    /// Builds the environment and checks that every page compiles, so a
    /// broken override is reported at startup rather than to a subscriber.
    pub fn new(dir: Option<PathBuf>, translations: Arc<Translations>) -> Result<Pages> {
        let env = environment(dir.clone(), Arc::clone(&translations), false);
        for (name, _) in BUILTIN {
            env.get_template(name)
                .map_err(|e| Error::Template(describe(&e)))?;
        }
        let replaced = |name: &&str| dir.as_ref().is_some_and(|d| d.join(name).exists());
        let shells = (!SHELL.iter().any(replaced)).then(|| environment(dir, translations, true));
        Ok(Pages { env, shells })
    }

    /// Renders page `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: Value) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Template(describe(&e)))
    }

    /// Page `name` rendered with `ctx` but for its per-caller parts
    /// ([`PER_CALLER`]); `None` when an operator's templates replace part
    /// of it (render it whole instead). `ctx` must hold nothing that
    /// belongs to one caller: the shell is shown to every caller with the
    /// same language, system and standing. Also `None` when the text
    /// holds a mark that is none of the parts' (a translation holding the
    /// mark's character): the page is then rendered whole, never garbled.
    pub fn shell(&self, name: &str, ctx: Value) -> Option<Result<Shell>> {
        let env = self.shells.as_ref()?;
        env.get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| Error::Template(describe(&e)))
            .map(|text| Shell::split(&text))
            .transpose()
    }

    /// `shell` with its per-caller parts rendered with `ctx`, the caller's
    /// whole context: the same page [`Pages::render`] makes from it.
    pub fn fill(&self, shell: &Shell, ctx: &Value) -> Result<String> {
        let mut out = String::with_capacity(shell.len + 2048);
        for piece in &shell.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Part(name) => out.push_str(&self.render(name, ctx.clone())?),
            }
        }
        Ok(out)
    }
}

impl Shell {
    /// Cuts a rendered shell at its marks; `None` when a mark is not a
    /// part's.
    fn split(text: &str) -> Option<Shell> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find(MARK) {
            let after = &rest[at + MARK.len_utf8()..];
            let end = after.find(MARK)?;
            let part = PER_CALLER.iter().find(|p| **p == &after[..end])?;
            if at > 0 {
                pieces.push(Piece::Text(rest[..at].to_owned()));
            }
            pieces.push(Piece::Part(part));
            rest = &after[end + MARK.len_utf8()..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Some(Shell {
            pieces,
            len: text.len(),
        })
    }
}

/// The templates' environment: built-in templates, each replaceable from
/// `dir`; with `marks`, the per-caller parts are marks instead.
fn environment(
    dir: Option<PathBuf>,
    translations: Arc<Translations>,
    marks: bool,
) -> Environment<'static> {
    let mut env = Environment::new();
    // Tag-only lines leave no blank lines behind: smaller pages.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_loader(move |name| {
        if name.contains("..") || name.starts_with('/') {
            return Ok(None);
        }
        if marks && PER_CALLER.contains(&name) {
            return Ok(Some(format!("{MARK}{name}{MARK}")));
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
    env
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
mod tests;
