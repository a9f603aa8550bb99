//! Embeds every `translations/*.ftl` file in the binary, so that adding a
//! language to Cordon is adding one file: no list in the code to keep in step.

use std::fmt::Write as _;
use std::path::Path;
use std::{env, fs};

fn main() {
    let dir = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()))
        .join("translations");
    println!("cargo::rerun-if-changed={}", dir.display());

    let mut langs: Vec<(String, String)> = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("ftl") {
            continue;
        }
        let Some(code) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        println!("cargo::rerun-if-changed={}", path.display());
        langs.push((code.to_owned(), path.display().to_string()));
    }
    langs.sort();

    let mut out = String::from(
        "/// The built-in translations: (language code, Fluent source), sorted by code.\n\
         pub(crate) static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for (code, path) in &langs {
        let _ = writeln!(out, "    ({code:?}, include_str!({path:?})),");
    }
    out.push_str("];\n");

    let dest = Path::new(&env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("builtin_translations.rs");
    if let Err(e) = fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
