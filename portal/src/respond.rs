//! Building responses: one body type for pages and file downloads, and the
//! headers every answer carries.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// Every response body: small pages in memory, or a file streamed from disk.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// No body.
pub fn empty() -> Body {
    Empty::new()
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

/// A page's policy: nothing from outside the portal (it is a walled garden,
/// and a quarantined browser could not load it anyway), no scripts at all, the
/// one inline stylesheet, forms only back to the portal.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                        form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Lets the forms of page `r` post to `origin` as well (`scheme://host[:port]`):
/// the notice page is shown at the address of the page the subscriber asked
/// for, so its "I understand" form posts to another origin, the portal's,
/// which `form-action 'self'` alone makes browsers refuse. An origin that
/// is not plainly one (characters beyond a host, a port and the scheme's
/// `://`) leaves the policy as it is.
pub fn allow_forms_to(r: &mut Response<Body>, origin: &str) {
    let plain = origin
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-:/[]".contains(c));
    if !plain || origin.is_empty() {
        return;
    }
    let policy = PAGE_CSP.replacen(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
        1,
    );
    if let Ok(v) = HeaderValue::from_str(&policy) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// An HTML page.
pub fn html(status: StatusCode, page: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(page));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    r
}

/// Plain text.
pub fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A status with no body (204, 304-like answers, 405).
pub fn status(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// A redirect to `location` with a tiny page naming the link, for clients
/// that do not follow redirects by themselves.
pub fn redirect(status: StatusCode, location: &HeaderValue) -> Response<Body> {
    let target = escape_html(location.to_str().unwrap_or("/"));
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{target}</title></head>\
         <body><p><a href=\"{target}\">{target}</a></p></body></html>\n"
    );
    let mut r = html(status, page);
    r.headers_mut().insert(header::LOCATION, location.clone());
    r
}

/// Adds what every answer carries. `no-store` because each answer is about
/// one subscriber at one moment, and a cached redirect or probe answer would
/// keep a released subscriber's browser in the garden.
pub fn finish(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
