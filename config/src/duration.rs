//! Durations as operators write them: `30s`, `15m`, `2h`, `7d`, bounded.
//!
//! Use with `#[serde(with = "duration")]`, or `#[serde(with =
//! "duration::kernel")]` for a duration that goes into the nftables ruleset
//! (a set's timeout). Both refuse values nothing downstream could use, so a
//! config `check-config` passes is one the daemons and the kernel accept.

use std::time::Duration;

use serde::{Deserializer, Serializer, de};

/// The longest duration any key takes: ten years. Longer ones are typos (an
/// extra digit) and overflow the arithmetic on timestamps that holds and
/// retention do.
pub const MAX: Duration = Duration::from_secs(3650 * 86_400);

/// The longest duration that goes into the ruleset: 1000 days.
///
/// nftables 1.0.6 renders a set timeout of `99999999s` (1157 days) and
/// refuses `100000000s` with "value too large" (measured with `nft -f` in a
/// network namespace; the kernel itself would take far more, as it keeps
/// milliseconds in 64 bits). 1000 days stays below that with a margin.
pub const KERNEL_MAX: Duration = Duration::from_secs(1000 * 86_400);

/// Parses `30s`, `15m`, `2h`, `7d` (and combinations such as `1h 30m`), at
/// most [`MAX`].
pub fn parse(s: &str) -> Result<Duration, String> {
    parse_at_most(s, MAX, "")
}

fn parse_at_most(s: &str, max: Duration, why: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() || s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected a duration with a unit, like `30s`, `15m`, `2h` or `7d`, found `{s}`"
        ));
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        format!("expected a duration like `30s`, `15m`, `2h` or `7d`, found `{s}` ({e})")
    })?;
    if d > max {
        return Err(format!("`{s}` is too long: at most {}{why}", format(max)));
    }
    Ok(d)
}

/// Formats a duration in the largest whole unit (`90s` → `90s`, `7200s` → `2h`).
pub fn format(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

struct V {
    max: Duration,
    why: &'static str,
}

impl de::Visitor<'_> for V {
    type Value = Duration;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a duration like `30s`, `15m`, `2h` or `7d`")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
        parse_at_most(s, self.max, self.why).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "expected a duration with a unit, like `{n}s` or `{n}m`, found `{n}`"
        )))
    }
}

/// Serde reader for a duration string of at most [`MAX`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_str(V { max: MAX, why: "" })
}

/// Serde writer for a duration string.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// A duration that becomes an nftables set timeout: at most [`KERNEL_MAX`].
pub mod kernel {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Serde reader for a duration string of at most [`super::KERNEL_MAX`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(super::V {
            max: super::KERNEL_MAX,
            why: ", as it becomes an nftables timeout and nft refuses longer ones",
        })
    }

    /// Serde writer for a duration string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        super::serialize(d, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!(parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert!(parse("30").is_err());
        assert!(parse("soon").is_err());
        assert_eq!(format(Duration::from_secs(7200)), "2h");
        assert_eq!(format(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse("3650d").unwrap(), MAX);
        let e = parse("3651d").unwrap_err();
        assert!(e.contains("at most 3650d"), "{e}");
        let e = parse("18446744073709551615s").unwrap_err();
        assert!(e.contains("too long"), "{e}");
        // What humantime cannot hold at all is refused too, not wrapped.
        assert!(parse("99999999999999999999999s").is_err());
        let e = parse_at_most("1001d", KERNEL_MAX, ", nft").unwrap_err();
        assert!(e.contains("at most 1000d, nft"), "{e}");
    }
}
