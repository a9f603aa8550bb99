//! Reading a config file: bounds first, then YAML into structs, then the
//! checks that span fields, each reported at its own line and column.

use std::io::Read;
use std::path::Path;

use crate::check::Problem;
use crate::error::{ConfigError, ConfigErrors};
use crate::limits::{self, MAX_BYTES, MAX_DEPTH};
use crate::locate::{Seg, locate};
use crate::sections::Config;

/// At most this many problems are reported with their line and column: each
/// is found by reading the file again, so reporting all of 100 000 would take
/// time quadratic in the file. The rest are counted.
const MAX_LOCATED: usize = 20;

/// Reads and checks the config file at `path`, refusing one over 16 MiB
/// before reading it whole.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let fail = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: None,
            column: None,
            message,
        }])
    };
    let file =
        std::fs::File::open(path).map_err(|e| fail(format!("cannot read the config file: {e}")))?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells "too big" from "exactly the limit".
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read the config file: {e}")))?;
    if bytes.len() > MAX_BYTES {
        return Err(fail(too_big()));
    }
    let src = String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "the config file is not UTF-8 text (bad byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    load_str(&src, path)
}

fn too_big() -> String {
    format!(
        "the config file is larger than {} MiB, far beyond what even 100 000 subscriber prefixes need; \
         check that this is the right file",
        MAX_BYTES >> 20
    )
}

/// Reads and checks config text; `path` names it in errors.
pub fn load_str(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let at = |line: Option<usize>, column: Option<usize>, message: String| ConfigError {
        file: path.to_owned(),
        line,
        column,
        message,
    };
    if src.len() > MAX_BYTES {
        return Err(ConfigErrors(vec![at(None, None, too_big())]));
    }
    if let Some((line, column)) = limits::too_deep(src, MAX_DEPTH) {
        return Err(ConfigErrors(vec![at(
            Some(line),
            Some(column),
            format!(
                "nested deeper than {MAX_DEPTH} levels of brackets; the config's own shape needs five, \
                 so check for unclosed `[` or `{{`"
            ),
        )]));
    }
    let de = serde_yaml::Deserializer::from_str(src);
    let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let e = e.into_inner();
        let location = e.location();
        let text = e.to_string();
        // The reader appends "at line L column C"; we print the position first.
        let message = match text.rfind(" at line ") {
            Some(i) if location.is_some() => text[..i].to_owned(),
            _ => text,
        };
        // The reader names some keys itself, by the section they are in
        // (`portal: ...`): drop that, and name the key in one way for all
        // (`quarantine.quiet_period: ...`). An unknown key is named by the
        // message already, so name the section it is in.
        let message = match message.split_once(": ") {
            Some((section, rest))
                if key == section
                    || key.starts_with(&format!("{section}."))
                    || key.starts_with(&format!("{section}[")) =>
            {
                rest.to_owned()
            }
            _ => message,
        };
        let key = if message.starts_with("unknown field") {
            key.rsplit_once('.')
                .map_or(".", |(section, _)| section)
                .to_owned()
        } else {
            key
        };
        let message = if key == "." {
            message
        } else {
            format!("{key}: {message}")
        };
        // A key refused only once the whole section is read (a key of the
        // other store backend) carries the section's position, not its
        // own: find the key's.
        let misplaced = crate::sections::misplaced_store_key(&message);
        let place = misplaced
            .and_then(|k| locate(src, &[Seg::Key("store"), Seg::Key(k)]))
            .or_else(|| location.as_ref().map(|l| (l.line(), l.column())));
        let message = match misplaced {
            Some(k) => {
                message.replacen(&format!("store: store.{k} is "), &format!("store.{k}: "), 1)
            }
            None => message,
        };
        ConfigErrors(vec![at(place.map(|p| p.0), place.map(|p| p.1), message)])
    })?;
    let problems: Vec<Problem> = config.check();
    if problems.is_empty() {
        return Ok(config);
    }
    let more = problems.len().saturating_sub(MAX_LOCATED);
    let mut errors: Vec<ConfigError> = problems
        .into_iter()
        .take(MAX_LOCATED)
        .map(|(segs, message)| {
            let place = locate(src, &segs);
            at(
                place.map(|a| a.0),
                place.map(|a| a.1),
                format!("{}: {message}", dotted(&segs)),
            )
        })
        .collect();
    // In the order of the file, as an operator reads it.
    errors.sort_by_key(|e| (e.line.is_none(), e.line, e.column));
    if more > 0 {
        errors.push(at(
            None,
            None,
            format!("{more} more problems not shown; fix the ones above and check again"),
        ));
    }
    Err(ConfigErrors(errors))
}

fn dotted(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}
