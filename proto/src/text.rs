//! Words that come from outside (operators' reasons, feeds' sources and
//! evidence, ARF headers) on their way to a person: bounded in size, and
//! with control characters shown escaped, so that no reason can rewrite an
//! operator's terminal or forge a line in a text log.
//!
//! The bounds are the contract between `cordon` and `cordond`: the CLI
//! refuses longer words with exit 2, `cordond` refuses them from any other
//! client, and records stored before the bounds existed are clipped with
//! [`clip`] on their way out so one of them cannot break a listing.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest reason (an operator's `--reason`), in bytes: a ticket number and
/// a sentence fit; a pasted mail does not belong in the audit trail.
pub const MAX_REASON: usize = 1024;

/// Longest evidence of one report, in bytes.
pub const MAX_EVIDENCE: usize = 4096;

/// Longest report source or message id, in bytes.
pub const MAX_SOURCE: usize = 1024;

/// Longest audit note shown: an operator's reason, or the note of a report,
/// which quotes its source and evidence. Longer notes (stored before the
/// bounds) are clipped on their way out.
pub const MAX_NOTE: usize = MAX_SOURCE + MAX_EVIDENCE + 256;

/// Whether `c` must not reach a terminal or a log line raw: C0 and C1
/// controls and DEL (`char::is_control`), plus the Unicode line separators
/// and bidirectional overrides that reorder or break what a reader sees.
fn hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every control character written as a Rust escape (`\r`, `\n`,
/// `\u{1b}`), everything else unchanged; borrowed when nothing needed it.
/// The one helper for people-facing output: the CLI's text and both
/// daemons' text logs use it.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hostile(c) {
            // `escape_default` gives `\n`, `\r`, `\t` and `\u{..}`.
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as a store keeps it: every NUL written as `\u{0}` (as [`printable`]
/// shows one), then clipped to `max` bytes ([`clip`]); borrowed when
/// nothing needed either. PostgreSQL's `TEXT` cannot hold a NUL (SQLite
/// can), and one arrives easily (a JSON `\u0000` on the control socket, a
/// feed's stray byte, an abuse mail's quoted-printable `=00`): kept raw, it
/// would make a fleet's database refuse the whole batch it came in. So
/// text from outside is made storable where it comes in, once, and the
/// record is the same in memory, in either store and in the outbox; the
/// clip keeps the bound the escape may have pushed it past.
pub fn storable(s: &str, max: usize) -> Cow<'_, str> {
    if !s.contains('\0') {
        return clip(s, max);
    }
    let escaped = s.replace('\0', "\\u{0}");
    Cow::Owned(clip(&escaped, max).into_owned())
}

/// Room kept for [`clip`]'s marker: `… [` and `20 digits more bytes not shown]`.
const MARKER: usize = 48;

/// `s` cut to at most `max` bytes, marker included (at a character
/// boundary), the marker saying how much was left out; unchanged when it
/// fits. For records stored before the bounds, so a listing shows them
/// instead of failing on them, and for feeds' evidence, which is clipped to
/// the bound rather than refused.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max.saturating_sub(MARKER);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… [{} more bytes not shown]",
        &s[..end],
        s.len() - end
    ))
}

/// Checks a word against its bound: `Err` says which it was, how long it is
/// and what to do.
pub fn bounded(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        Err(format!(
            "{what} is {} bytes long; at most {max} are kept. Shorten it (put long texts in your ticket system and give its number)",
            s.len()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        let hostile = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\r\nFAKE\u{9b}31m\u{7f}\u{202e}";
        let shown = printable(hostile);
        assert_eq!(
            shown,
            "\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\r\\nFAKE\\u{9b}31m\\u{7f}\\u{202e}"
        );
        assert!(!shown.chars().any(char::is_control));
        assert!(matches!(
            printable("abuse ticket 12 – Ærø"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn clipping_keeps_whole_characters_and_says_so() {
        assert_eq!(clip("short", 10), "short");
        let long = "æ".repeat(600); // 1200 bytes
        let c = clip(&long, 1023);
        assert!(c.starts_with(&"æ".repeat(487)));
        assert!(c.ends_with("… [226 more bytes not shown]"), "{c}");
        assert!(c.len() <= 1023);
        let huge = "y".repeat(5_000_000);
        assert!(clip(&huge, MAX_EVIDENCE).len() <= MAX_EVIDENCE);
    }

    #[test]
    fn a_nul_is_stored_escaped_within_the_bound_and_the_rest_kept() {
        assert!(matches!(
            storable("spam\nfrom Ærø", MAX_EVIDENCE),
            Cow::Borrowed("spam\nfrom Ærø")
        ));
        let s = storable("a NUL \0 here\0", MAX_EVIDENCE);
        assert_eq!(s, "a NUL \\u{0} here\\u{0}");
        assert!(!s.contains('\0'));
        // Shown as a raw NUL would be shown.
        assert_eq!(printable("\0"), "\\u{0}");
        // The escape grows the text: the bound still holds.
        let nuls = "\0".repeat(MAX_EVIDENCE);
        let s = storable(&nuls, MAX_EVIDENCE);
        assert!(s.len() <= MAX_EVIDENCE && !s.contains('\0'), "{}", s.len());
        assert!(s.starts_with("\\u{0}\\u{0}"));
        // Too long without any NUL: clipped as before.
        assert_eq!(storable(&"x".repeat(20), 10), clip(&"x".repeat(20), 10));
    }

    #[test]
    fn bounds_name_the_length() {
        assert!(bounded("the reason", &"x".repeat(1024), MAX_REASON).is_ok());
        let e = bounded("the reason", &"x".repeat(1025), MAX_REASON).unwrap_err();
        assert!(
            e.contains("1025 bytes") && e.contains("at most 1024"),
            "{e}"
        );
    }
}
