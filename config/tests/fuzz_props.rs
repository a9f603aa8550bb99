//! The config loader against arbitrary bytes and mutations of the shipped
//! configs: no panic, every refusal names the file, and each load stays
//! within time and memory bounds (`cordon-bounded`).

use std::path::Path;

use cordon_bounded::{Input, PARSER, cases, inputs, within};
use proptest::prelude::*;

use cordon_testkit::MINIMAL;

/// Aliases that expand exponentially if a reader follows them blindly.
const LAUGHS: &str = "\
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
subscribers: {prefixes: *f}
";

/// Largest input tried: 256 KiB, where the loader's old quadratic time in
/// the nesting depth showed (26 000 levels of `{a: ` took 2 s); nesting is
/// now bounded before parsing (issue 11, defect 8).
const MAX: usize = 256 << 10;

fn samples() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = vec![MINIMAL.as_bytes().to_vec(), LAUGHS.as_bytes().to_vec()];
    for file in ["cordon.example.yaml", "vagrant/cordon.yaml"] {
        let path = root.join(file);
        out.push(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
    out
}

/// Loads `input` as a config file's text would be (the loader reads UTF-8
/// text; other bytes are tried as their lossy decoding too), formatting the
/// errors as `cordon check-config` prints them.
fn load(input: &Input) {
    let path = Path::new("fuzz.yaml");
    let text = String::from_utf8_lossy(input);
    let errors = within(
        "the config loader",
        input,
        PARSER,
        || match cordon_config::load_str(&text, path) {
            Ok(_) => None,
            Err(e) => Some((e.to_string(), e)),
        },
    );
    if let Some((printed, errors)) = errors {
        assert!(!printed.is_empty(), "a refusal without a message");
        for e in &errors.0 {
            assert_eq!(e.file, path, "an error that does not name the file: {e}");
        }
    }
}

/// Addresses as operators type them and reports and the control socket
/// carry them.
fn address_samples() -> Vec<Vec<u8>> {
    [
        "100.64.1.7",
        "100.64.1.0/24",
        "2001:db8:1000:1:2::5",
        "2001:db8:1000:100::/56",
        " 100.64.0.0/16 ",
    ]
    .iter()
    .map(|a| a.as_bytes().to_vec())
    .collect()
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn the_loader_survives_any_text(input in inputs(samples(), MAX)) {
        load(&input);
    }

    /// `cordon show ADDR`, a report's address, a control request's: what
    /// is admitted lies inside the subscriber prefixes.
    #[test]
    fn addresses_are_read_or_refused(input in inputs(address_samples(), 4096)) {
        let config = cordon_config::load_str(MINIMAL, Path::new("fuzz.yaml")).unwrap();
        let text = String::from_utf8_lossy(&input);
        let read = within("the address reader", &input, PARSER, || {
            config.subscriber_addr(&text).map_err(|e| e.to_string())
        });
        if let Ok(unit) = read {
            let net = unit.net();
            prop_assert!(
                config.subscribers.prefixes.iter().any(|p| p.net().contains(&net)),
                "{text:?} admitted as {net}, outside the subscriber prefixes"
            );
        }
    }

    /// `--hold DURATION` and every duration in the config.
    #[test]
    fn durations_are_read_or_refused(
        input in inputs(vec![b"30s".to_vec(), b"1h 30m".to_vec(), b"7d".to_vec()], 4096),
    ) {
        let text = String::from_utf8_lossy(&input);
        within("the duration reader", &input, PARSER, || {
            let _ = cordon_config::duration::parse(&text);
        });
    }
}

#[test]
fn the_samples_load_within_bounds() {
    for sample in samples() {
        load(&Input(sample));
    }
}
