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

/// The notice page's policy: [`PAGE_CSP`], except that its form may also
/// go to the portal at `public_url` and on to `asked`, the page it names.
/// A browser holds a form to `form-action` through the redirects that
/// answer it, and refuses silently what the policy does not name. The
/// notice is shown at the address asked for (`'self'` is that site, the
/// button posts to the portal's origin, whose answer redirects back) and,
/// after a language switch, on the portal's own origin (`'self'` is the
/// portal, and the redirect goes to the site asked for).
pub fn notice_csp(public_url: &str, asked: &str) -> HeaderValue {
    let mut sources = String::new();
    for origin in [public_url, asked].iter().filter_map(|u| csp_origin(u)) {
        if !sources.split(' ').any(|s| s == origin) {
            sources.push(' ');
            sources.push_str(&origin);
        }
    }
    let policy = PAGE_CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self'{sources}"),
    );
    // Every source is made of characters a header can carry; failing that,
    // the page keeps the stricter policy.
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(PAGE_CSP))
}

/// `url`'s origin as a CSP source: `scheme://host[:port]` when the host is
/// a plain name or IPv4 address; the scheme alone otherwise (a CSP host
/// source cannot name an IPv6 literal, and any other character, such as a
/// `;` a `Host` header may carry, must not reach the policy).
fn csp_origin(url: &str) -> Option<String> {
    let uri = url.parse::<http::Uri>().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let plain_host = authority
        .host()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    Some(if plain_host && !authority.host().is_empty() {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}:")
    })
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
    redirect_with(status, location, redirect_page(location))
}

/// The tiny page of a redirect to `location`.
fn redirect_page(location: &HeaderValue) -> Bytes {
    let target = escape_html(location.to_str().unwrap_or("/"));
    Bytes::from(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{target}</title></head>\
         <body><p><a href=\"{target}\">{target}</a></p></body></html>\n"
    ))
}

fn redirect_with(status: StatusCode, location: &HeaderValue, page: Bytes) -> Response<Body> {
    let mut r = html(status, page);
    r.headers_mut().insert(header::LOCATION, location.clone());
    r
}

/// The answers that name nothing but the portal's public URL, made once:
/// under an outbreak every new zombie's OS probes and `http://` get the
/// redirect and every captive-portal check the RFC 8908 document, and each
/// was formatted (and escaped) anew.
#[derive(Debug)]
pub struct Home {
    location: HeaderValue,
    page: Bytes,
    /// The RFC 8908 document for a captive caller, and for a free one.
    captive: Bytes,
    free: Bytes,
}

impl Home {
    /// The answers about `public_url` (its text and its header value).
    pub fn new(public_url: &str, location: &HeaderValue) -> Home {
        // `captive` and where to sign in, nothing else: see `captive_api`.
        let api = |captive: bool| {
            let doc = serde_json::json!({ "captive": captive, "user-portal-url": public_url });
            Bytes::from(doc.to_string())
        };
        Home {
            location: location.clone(),
            page: redirect_page(location),
            captive: api(true),
            free: api(false),
        }
    }

    /// The redirect to the portal.
    pub fn redirect(&self, status: StatusCode) -> Response<Body> {
        redirect_with(status, &self.location, self.page.clone())
    }

    /// The RFC 8908 API's answer for a caller that is `captive` or not.
    pub fn captive_api(&self, captive: bool) -> Response<Body> {
        let body = if captive { &self.captive } else { &self.free };
        let mut r = Response::new(full(body.clone()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/captive+json"),
        );
        r
    }
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn body(r: Response<Body>) -> Bytes {
        r.into_body().collect().await.unwrap().to_bytes()
    }

    /// The answers made once are the ones made each time before.
    #[tokio::test]
    async fn home_answers_are_the_redirect_and_the_rfc_8908_document() {
        let url = "http://portal.isp.example:8080/a?b=<c>&d";
        let location = HeaderValue::from_static("http://portal.isp.example:8080/a?b=<c>&d");
        let home = Home::new(url, &location);
        for status in [StatusCode::FOUND, StatusCode::SEE_OTHER] {
            let (made, each) = (home.redirect(status), redirect(status, &location));
            assert_eq!(made.status(), status);
            assert_eq!(made.headers(), each.headers());
            let page = body(made).await;
            assert_eq!(page, body(each).await);
            assert!(page.ends_with(b"&lt;c&gt;&amp;d</a></p></body></html>\n"));
        }
        for (captive, expected) in [
            (
                true,
                r#"{"captive":true,"user-portal-url":"http://portal.isp.example:8080/a?b=<c>&d"}"#,
            ),
            (
                false,
                r#"{"captive":false,"user-portal-url":"http://portal.isp.example:8080/a?b=<c>&d"}"#,
            ),
        ] {
            let r = home.captive_api(captive);
            assert_eq!(
                r.headers().get(header::CONTENT_TYPE).unwrap(),
                "application/captive+json"
            );
            assert_eq!(body(r).await, expected.as_bytes());
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_notice_may_post_to_the_portals_origin_and_nowhere_else() {
        let portal = "http://portal.isp.example:8080/cordon/";
        let csp = notice_csp(portal, "http://news.example/a?b=c");
        assert_eq!(
            csp.to_str().unwrap(),
            PAGE_CSP.replace(
                "form-action 'self'",
                "form-action 'self' http://portal.isp.example:8080 http://news.example"
            )
        );
        // The portal's own page asked for: named once.
        let csp = notice_csp("https://100.64.0.1/", "https://100.64.0.1/");
        assert!(
            csp.to_str()
                .unwrap()
                .contains("form-action 'self' https://100.64.0.1;"),
            "{csp:?}"
        );
        let csp = notice_csp("http://[2001:db8::1]:8080/", "http://[2001:db8::2]/");
        assert!(
            csp.to_str().unwrap().contains("form-action 'self' http:;"),
            "{csp:?}"
        );
        // A host no CSP source can name stays out of the policy.
        let csp = notice_csp(portal, "http://a;script-src*/");
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' http://portal.isp.example:8080 http:;"),
            "{csp}"
        );
        assert!(!csp.contains("script-src"), "{csp}");
    }
}
