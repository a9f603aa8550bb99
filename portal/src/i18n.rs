//! Translations: one Fluent file per language, and choosing the language a
//! visitor reads.
//!
//! The built-in files (`portal/translations/*.ftl`) are embedded by `build.rs`;
//! a file of the same name in `portal.translations_dir` overrides single
//! messages of a built-in language or adds a new one. The first language in
//! `portal.languages` is the fallback: a message missing in another language is
//! shown from it (and reported at startup) rather than as a blank.

use std::collections::BTreeSet;
use std::path::Path;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use fluent_langneg::{LanguageIdentifier, NegotiationStrategy, negotiate_languages};

use crate::error::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/builtin_translations.rs"));

/// The message every file must carry: the language's own name, shown in the
/// language switcher, so that a new language brings its own label.
const NAME_KEY: &str = "language-name";

/// One offered language.
struct Lang {
    code: String,
    /// Its own name (the switcher's label), formatted once: the switcher is
    /// on every page.
    name: String,
    id: LanguageIdentifier,
    bundle: FluentBundle<FluentResource>,
    keys: BTreeSet<String>,
}

impl std::fmt::Debug for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lang")
            .field("code", &self.code)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// All offered languages, in the operator's order (the first is the fallback).
#[derive(Debug)]
pub struct Translations {
    langs: Vec<Lang>,
    /// Keys asked for that no language has: a template asking for a message
    /// nobody wrote. Kept so a test can render every page and demand none.
    unknown: parking_lot::Mutex<BTreeSet<String>>,
}

/// A language for the switcher: its code, its own name, whether it is shown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LangLink {
    /// `es`.
    pub code: String,
    /// `Español`.
    pub name: String,
    /// This is the page's language.
    pub current: bool,
}

impl Translations {
    /// Loads `offered` from the built-in files and `dir`.
    pub fn load(offered: &[String], dir: Option<&Path>) -> Result<Self> {
        if offered.is_empty() {
            return Err(Error::Translations(
                "portal.languages is empty: name at least one language (the first is the fallback)"
                    .into(),
            ));
        }
        let mut langs = Vec::new();
        for code in offered {
            let id: LanguageIdentifier = code.parse().map_err(|_| {
                Error::Translations(format!(
                    "{code:?} in portal.languages is not a language tag (use e.g. en, es, pt-BR)"
                ))
            })?;
            let mut sources: Vec<(String, String)> = Vec::new();
            if let Some((_, src)) = BUILTIN.iter().find(|(c, _)| *c == code) {
                sources.push((format!("built-in {code}.ftl"), (*src).to_owned()));
            }
            if let Some(dir) = dir {
                let path = dir.join(format!("{code}.ftl"));
                match std::fs::read_to_string(&path) {
                    Ok(src) => sources.push((path.display().to_string(), src)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::Translations(format!(
                            "cannot read {}: {e}",
                            path.display()
                        )));
                    }
                }
            }
            if sources.is_empty() {
                let where_ = dir.map_or_else(
                    || "set portal.translations_dir and put".to_owned(),
                    |d| format!("put {}/{code}.ftl", d.display()),
                );
                return Err(Error::Translations(format!(
                    "no translation file for {code:?}: {where_} a {code}.ftl there, or remove {code} from portal.languages"
                )));
            }
            langs.push(Lang::build(code, id, sources)?);
        }
        Ok(Translations {
            langs,
            unknown: parking_lot::Mutex::default(),
        })
    }

    /// The fallback language's code.
    pub fn fallback(&self) -> &str {
        self.langs.first().map_or("en", |l| l.code.as_str())
    }

    /// Whether `code` is offered (exactly as configured).
    pub fn offers(&self, code: &str) -> Option<&str> {
        self.langs
            .iter()
            .find(|l| l.code.eq_ignore_ascii_case(code))
            .map(|l| l.code.as_str())
    }

    /// Chooses the page's language: an explicit `?lang=` that is offered wins
    /// (the visitor clicked a link); otherwise `Accept-Language`, by q-value,
    /// matching `es-MX` to `es`; otherwise the fallback.
    pub fn negotiate(&self, explicit: Option<&str>, accept_language: Option<&str>) -> &str {
        if let Some(code) = explicit.and_then(|c| self.offers(c)) {
            return code;
        }
        let requested = accept_language
            .map(parse_accept_language)
            .unwrap_or_default();
        let available: Vec<&LanguageIdentifier> = self.langs.iter().map(|l| &l.id).collect();
        let chosen =
            negotiate_languages(&requested, &available, None, NegotiationStrategy::Filtering);
        chosen
            .first()
            .and_then(|id| self.langs.iter().find(|l| &&l.id == *id))
            .map_or_else(|| self.fallback(), |l| l.code.as_str())
    }

    /// The language switcher's entries, `current` being the page's language.
    pub fn links(&self, current: &str) -> Vec<LangLink> {
        self.langs
            .iter()
            .map(|l| LangLink {
                code: l.code.clone(),
                name: l.name.clone(),
                current: l.code == current,
            })
            .collect()
    }

    /// Formats message `key` in `lang`, falling back to the first language,
    /// and to the key itself so that a gap shows as a visible bug, not a blank.
    pub fn message(&self, lang: &str, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        let order = self
            .langs
            .iter()
            .filter(|l| l.code == lang)
            .chain(self.langs.first());
        for l in order {
            if let Some(pattern) = l.bundle.get_message(key).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let text = l.bundle.format_pattern(pattern, args, &mut errors);
                if !errors.is_empty() {
                    tracing::warn!(lang = %l.code, key, ?errors, "translation formatted with errors");
                }
                return text.into_owned();
            }
        }
        tracing::warn!(lang, key, "no translation for this key in any language");
        self.unknown.lock().insert(key.to_owned());
        key.to_owned()
    }

    /// Keys templates asked for that no language has (since startup).
    pub fn unknown_keys_seen(&self) -> Vec<String> {
        self.unknown.lock().iter().cloned().collect()
    }

    /// Every `(language, key)` present in some language but missing in this
    /// one. Logged at startup; the built-in files must have none (a test checks).
    pub fn missing_keys(&self) -> Vec<(String, String)> {
        let all: BTreeSet<&String> = self.langs.iter().flat_map(|l| l.keys.iter()).collect();
        let mut missing = Vec::new();
        for l in &self.langs {
            for key in &all {
                if !l.keys.contains(*key) {
                    missing.push((l.code.clone(), (*key).clone()));
                }
            }
        }
        missing
    }
}

impl Lang {
    fn build(code: &str, id: LanguageIdentifier, sources: Vec<(String, String)>) -> Result<Lang> {
        let bundle_id: unic_langid::LanguageIdentifier = code
            .parse()
            .map_err(|_| Error::Translations(format!("{code:?} is not a language tag")))?;
        let mut bundle = FluentBundle::new_concurrent(vec![bundle_id]);
        // Unicode isolation marks are for mixing scripts; in HTML they are
        // invisible noise that breaks copy-and-paste of phone numbers.
        bundle.set_use_isolating(false);
        let mut keys = BTreeSet::new();
        for (name, src) in sources {
            let resource = FluentResource::try_new(src).map_err(|(_, errors)| {
                let first = errors.first().map(|e| format!("{e:?}")).unwrap_or_default();
                Error::Translations(format!(
                    "{name} has {} syntax error(s); the first: {first}",
                    errors.len()
                ))
            })?;
            for entry in resource.entries() {
                if let fluent_syntax::ast::Entry::Message(m) = entry {
                    keys.insert(m.id.name.to_owned());
                }
            }
            // Later sources (the operator's directory) override single messages.
            bundle.add_resource_overriding(resource);
        }
        if !keys.contains(NAME_KEY) {
            return Err(Error::Translations(format!(
                "the {code} translation has no {NAME_KEY} message (the language's own name for the switcher)"
            )));
        }
        let name = bundle
            .get_message(NAME_KEY)
            .and_then(|m| m.value())
            .map(|pattern| {
                let mut errors = Vec::new();
                bundle
                    .format_pattern(pattern, None, &mut errors)
                    .into_owned()
            })
            .unwrap_or_else(|| code.to_owned());
        Ok(Lang {
            code: code.to_owned(),
            name,
            id,
            bundle,
            keys,
        })
    }
}

/// Reads an `Accept-Language` header into language tags, highest q-value
/// first (ties keep the header's order); `q=0` means "not this one" and `*`
/// adds nothing over the fallback, so both are dropped. Malformed entries are
/// skipped rather than refusing the whole header.
pub fn parse_accept_language(header: &str) -> Vec<LanguageIdentifier> {
    let mut tags: Vec<(LanguageIdentifier, u16)> = Vec::new();
    for item in header.split(',').take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        if tag.is_empty() || tag == "*" {
            continue;
        }
        let mut q: u16 = 1000;
        for param in parts {
            let param = param.trim();
            if let Some(v) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                q = match v.trim().parse::<f32>() {
                    Ok(f) if (0.0..=1.0).contains(&f) => (f * 1000.0).round() as u16,
                    _ => 0,
                };
            }
        }
        if q == 0 {
            continue;
        }
        if let Ok(id) = tag.parse::<LanguageIdentifier>() {
            tags.push((id, q));
        }
    }
    // A stable sort keeps the header's order among equal weights.
    tags.sort_by_key(|t| std::cmp::Reverse(t.1));
    tags.into_iter().map(|(id, _)| id).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn builtin() -> Translations {
        let codes: Vec<String> = BUILTIN.iter().map(|(c, _)| (*c).to_owned()).collect();
        // English first: the shipped fallback.
        let mut offered = vec!["en".to_owned()];
        offered.extend(codes.into_iter().filter(|c| c != "en"));
        Translations::load(&offered, None).unwrap()
    }

    #[test]
    fn every_builtin_language_has_every_key() {
        let t = builtin();
        let missing = t.missing_keys();
        assert!(missing.is_empty(), "missing translations: {missing:?}");
        for lang in ["en", "es", "da"] {
            assert!(t.offers(lang).is_some(), "{lang} must be built in");
        }
    }

    #[test]
    fn a_missing_key_is_found_and_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("xx.ftl"),
            "language-name = Xx\nhello = Hej { $who }\n",
        )
        .unwrap();
        let t = Translations::load(&["en".into(), "xx".into()], Some(dir.path())).unwrap();
        let missing = t.missing_keys();
        assert!(
            missing
                .iter()
                .any(|(l, k)| l == "xx" && k == "quarantined-title")
        );
        // Shown from the fallback rather than blank.
        assert_eq!(
            t.message("xx", "quarantined-title", None),
            t.message("en", "quarantined-title", None)
        );
        assert_eq!(t.message("xx", "no-such-key", None), "no-such-key");
    }

    #[test]
    fn a_language_without_a_file_is_refused() {
        let err = Translations::load(&["en".into(), "fr".into()], None).unwrap_err();
        assert!(err.to_string().contains("fr.ftl"), "{err}");
    }

    #[test]
    fn operator_file_overrides_one_message() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("en.ftl"), "isp-fallback = Our Net\n").unwrap();
        let t = Translations::load(&["en".into()], Some(dir.path())).unwrap();
        assert_eq!(t.message("en", "isp-fallback", None), "Our Net");
        assert_eq!(t.message("en", "language-name", None), "English");
    }

    #[test]
    fn accept_language_honours_q_values_and_regions() {
        let t = builtin();
        assert_eq!(t.negotiate(None, Some("es-MX,es;q=0.9,en;q=0.5")), "es");
        assert_eq!(t.negotiate(None, Some("es-MX")), "es");
        assert_eq!(
            t.negotiate(None, Some("en;q=0.3, da;q=0.8, es;q=0.5")),
            "da"
        );
        assert_eq!(t.negotiate(None, Some("fr-FR, fr;q=0.9, da;q=0.1")), "da");
        assert_eq!(t.negotiate(None, Some("da;q=0, es")), "es");
        assert_eq!(t.negotiate(None, Some("fr")), "en");
        assert_eq!(t.negotiate(None, Some("*")), "en");
        assert_eq!(t.negotiate(None, Some(";;,,q=,\u{1}garbage")), "en");
        assert_eq!(t.negotiate(None, None), "en");
        assert_eq!(t.negotiate(Some("DA"), Some("es")), "da");
        assert_eq!(t.negotiate(Some("zz"), Some("es")), "es");
    }

    #[test]
    fn danish_and_spanish_plurals() {
        let t = builtin();
        let mut one = FluentArgs::new();
        one.set("n", 1);
        let mut many = FluentArgs::new();
        many.set("n", 5);
        assert_eq!(t.message("da", "duration-minutes", Some(&one)), "1 minut");
        assert_eq!(
            t.message("da", "duration-minutes", Some(&many)),
            "5 minutter"
        );
        assert_eq!(t.message("es", "duration-minutes", Some(&one)), "1 minuto");
        assert_eq!(
            t.message("es", "duration-minutes", Some(&many)),
            "5 minutos"
        );
    }
}
