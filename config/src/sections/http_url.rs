//! One check for the absolute http(s) URLs the config takes (the portal's
//! public address, webhook receivers): bounded, visible ASCII only (nothing
//! that would split a header or hide in a log), an http or https scheme and
//! a host.

use http::Uri;

/// The longest URL taken: a URL of kilobytes is a paste accident, and some
/// clients drop long `Location` headers.
pub(crate) const URL_MAX: usize = 2048;

/// `url` parsed, or why not, in words that end with `example` (what to
/// give instead).
pub(crate) fn checked(url: &str, example: &str) -> Result<Uri, String> {
    let bad = |why: &str| bad(url, why, example);
    if url.len() > URL_MAX {
        return Err(bad(&format!("is longer than {URL_MAX} bytes")));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "has spaces, control characters or non-ASCII characters a header cannot carry",
        ));
    }
    let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(uri)
}

/// The refusal of `url`, shown escaped, saying `why` and what to give.
pub(crate) fn bad(url: &str, why: &str, example: &str) -> String {
    format!("`{}` {why}: {example}", url.escape_debug())
}
