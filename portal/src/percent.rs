//! Percent-decoding of request path segments (a tool's file name in
//! `/tools/NAME`), strictly: `%` and two hex digits, nothing else.

/// Decodes a percent-encoded path segment; `None` for invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            // Two hex digits, nothing else: `from_str_radix` alone would
            // also take a sign (`%+5` as 5).
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths() {
        assert_eq!(percent_decode("a%20b.exe").as_deref(), Some("a b.exe"));
        assert_eq!(percent_decode("%2e%2e%2fetc").as_deref(), Some("../etc"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn an_escape_is_two_hex_digits_and_no_sign() {
        assert_eq!(percent_decode("%+5"), None);
        assert_eq!(percent_decode("a%+2e"), None);
        assert_eq!(percent_decode("%2B5").as_deref(), Some("+5"));
    }
}
