//! The notice (RFC 6108's soft answer): a noticed subscriber's plain
//! `http://` reaches the redirect listener, which shows the notice page in
//! place of the page asked for, with a button that acknowledges the notice
//! on the portal's own origin and then goes on to that page.
//!
//! The page asked for travels through the form, so it is outside input
//! twice over: it is rebuilt from the request's `Host` and path (bounded),
//! and checked again when it comes back: only an absolute `http://` URL
//! with a host and no user info is ever a redirect target (no
//! `javascript:`, no other scheme, no `//evil` path tricks); anything else
//! goes to the portal's own page.
//!
//! The page is shown at the address of the page asked for, not the
//! portal's: its policy lets the form post to the portal's origin (else
//! browsers refuse), its links are absolute, and the form names the
//! address it was shown to, whose notice the button acknowledges (a
//! dual-stack browser may post over the other family).

use std::net::IpAddr;

use http::header::{self, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};

use super::{App, header_str};
use crate::facts::Standing;
use crate::respond::{self, Body};

/// The longest URL carried back (browsers keep far longer ones, but a
/// page's address longer than this is not worth a form field).
pub const MAX_ASKED_URL: usize = 2048;

/// The page the subscriber asked for, as an `http://` URL, from the
/// request the redirect listener got; none when its `Host` is no usable
/// authority or the result is too long.
pub fn asked_url(host: Option<&str>, path_and_query: Option<&str>) -> Option<String> {
    let authority: Authority = host?.parse().ok()?;
    let path = path_and_query.unwrap_or("/");
    let url = format!("http://{authority}{path}");
    safe_target(&url).map(|_| url)
}

/// `url` as a redirect target, when it is one a notice may send a
/// browser to: an absolute `http://` URL with a host, no user info, at
/// most [`MAX_ASKED_URL`] bytes.
pub fn safe_target(url: &str) -> Option<HeaderValue> {
    if url.is_empty() || url.len() > MAX_ASKED_URL {
        return None;
    }
    let uri: Uri = url.parse().ok()?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    HeaderValue::from_str(url).ok()
}

/// Where the notice's language links lead, on the portal's own origin
/// (below the public URL). The notice is shown at the address asked for, so
/// a link relative to it (`?lang=da`) would be that site's page with its
/// query replaced, and the button would then go back to the wrong page.
pub const NOTICE_PATH: &str = "notice";

/// The start of the notice's language links: the portal's notice carrying
/// the page asked for; the language code goes last.
fn lang_links_base(public_url: &str, asked: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("url", asked)
        .finish();
    format!("{public_url}{NOTICE_PATH}?{query}&lang=")
}

impl App {
    /// The notice listener's answer: the notice page for a noticed caller
    /// whose notice shows; the page asked for again, on a new connection,
    /// for one who acknowledged it; the redirect to the portal otherwise
    /// (quarantined since the connection was made, or asked directly).
    pub(super) async fn noticed<B>(&self, peer: IpAddr, req: Request<B>) -> Response<Body> {
        let facts = self.facts(peer).await;
        if facts.standing != Standing::Noticed {
            return self.redirect(req.method());
        }
        let (parts, _body) = req.into_parts();
        let host = header_str(&parts, header::HOST);
        let asked = asked_url(host, parts.uri.path_and_query().map(|p| p.as_str()));
        let again = asked
            .as_deref()
            .and_then(safe_target)
            .filter(|_| facts.notice_acknowledged);
        let asked = asked.unwrap_or_else(|| self.public_url.as_str().to_owned());
        let mut r = match again {
            // Pressed "I understand" already: the kernel sends this caller's
            // new connections to the site, but this one it sent here before
            // the press (a browser opens spare connections and keeps them
            // for later pages). The same request again, on a new connection.
            Some(target) => respond::redirect(StatusCode::TEMPORARY_REDIRECT, &target),
            None => {
                // The query is the site's, not the portal's: a `lang` in it
                // is that site's parameter and does not choose the notice's
                // language.
                let lang = self
                    .translations
                    .negotiate(None, header_str(&parts, header::ACCEPT_LANGUAGE));
                self.notice_page(peer, &parts, lang, facts, asked).await
            }
        };
        // The browser must not send its next request for this site down
        // this connection: after the button it belongs to the real site.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    }

    /// `GET /notice?url=…&lang=…` on the portal's own origin, where the
    /// notice's language links lead: the notice again for a noticed caller,
    /// for the page in `url` when it is a safe target (the button's check),
    /// else for the portal's page. Anyone else goes to the portal's page,
    /// never to `url`: this is no redirector.
    pub(super) async fn portal_notice(
        &self,
        peer: IpAddr,
        parts: &http::request::Parts,
        lang: &str,
    ) -> Response<Body> {
        let facts = self.facts(peer).await;
        if facts.standing != Standing::Noticed {
            return self.home_in(parts.uri.query());
        }
        let asked = super::query_param(parts.uri.query(), "url")
            .filter(|url| safe_target(url).is_some())
            .unwrap_or_else(|| self.public_url.as_str().to_owned());
        self.notice_page(peer, parts, lang, facts, asked).await
    }

    /// The notice page for `asked`, wherever it is shown.
    async fn notice_page(
        &self,
        peer: IpAddr,
        parts: &http::request::Parts,
        lang: &str,
        facts: crate::facts::Facts,
        asked: String,
    ) -> Response<Body> {
        let tools = self.tools.list(lang).await;
        let ctx = page_context!(self, lang, {
            facts => facts,
            csrf => self.csrf.issue(peer, self.clock.now()),
            tools => &*tools,
            os => super::detect_os(header_str(parts, header::USER_AGENT).unwrap_or("")),
            lang_base => lang_links_base(self.public_url.as_str(), &asked),
            asked => &asked,
            shown_to => peer.to_string(),
        });
        let mut r = self.render(StatusCode::OK, "notice.html", ctx);
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            respond::notice_csp(self.public_url.as_str(), &asked),
        );
        r
    }

    /// "I understand, take me to my page": the form is checked, `cordond`
    /// takes the notice out of the kernel's notice set for the interval,
    /// and the browser goes on to the page it asked for (checked again:
    /// only a safe `http://` target, else the portal's page).
    pub(super) async fn acknowledge<B>(
        &self,
        peer: IpAddr,
        parts: &http::request::Parts,
        body: B,
    ) -> Response<Body>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let bytes = match self.read_form(parts, body).await {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let (mut token, mut url, mut form_lang, mut shown_to) = (None, None, None, None);
        for (k, v) in form_urlencoded::parse(&bytes) {
            match &*k {
                "csrf" => token = Some(v.into_owned()),
                "url" => url = Some(v.into_owned()),
                "lang" => form_lang = Some(v.into_owned()),
                "shown_to" => shown_to = v.parse::<IpAddr>().ok(),
                _ => {}
            }
        }
        // The address the notice was shown to, which the token is bound
        // to: a dual-stack subscriber sees the notice over IPv6 and posts
        // over the portal's IPv4 address (or the other way round), and it
        // is that address's notice the button acknowledges. Only a page
        // served to that address carries a token for it.
        let shown_to = shown_to.unwrap_or(peer);
        let now = self.clock.now();
        if let Err(refusal) = self
            .csrf
            .verify(token.as_deref().unwrap_or(""), shown_to, now)
        {
            tracing::info!(%peer, ?refusal, "notice acknowledgement refused");
            let lang = self
                .translations
                .negotiate(
                    form_lang.as_deref(),
                    header_str(parts, header::ACCEPT_LANGUAGE),
                )
                .to_owned();
            return self.problem(StatusCode::FORBIDDEN, &lang, "problem-form-expired");
        }
        match self.cordond.acknowledge(shown_to).await {
            Ok(had) => tracing::info!(%peer, %shown_to, had_notice = had, "notice acknowledged"),
            Err(e) => {
                tracing::warn!(%peer, %shown_to, error = %e, "the notice could not be acknowledged")
            }
        }
        self.facts_cache.forget(shown_to);
        self.facts_cache.forget(peer);
        let target = url.as_deref().and_then(safe_target);
        if url.is_some() && target.is_none() {
            tracing::info!(
                %peer,
                "an acknowledgement asked for an unsafe target; sent to the portal instead"
            );
        }
        respond::redirect(
            StatusCode::SEE_OTHER,
            target.as_ref().unwrap_or(self.public_url.header_value()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asked_page_is_rebuilt_from_host_and_path() {
        assert_eq!(
            asked_url(Some("example.org"), Some("/news?id=7")).as_deref(),
            Some("http://example.org/news?id=7")
        );
        assert_eq!(
            asked_url(Some("203.0.113.9:8080"), None).as_deref(),
            Some("http://203.0.113.9:8080/")
        );
        assert_eq!(asked_url(None, Some("/")), None);
        assert_eq!(asked_url(Some("a b"), Some("/")), None);
        assert_eq!(asked_url(Some("user@evil.example"), Some("/")), None);
        let long = format!("/{}", "a".repeat(MAX_ASKED_URL));
        assert_eq!(asked_url(Some("example.org"), Some(&long)), None);
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_targets() {
        for ok in ["http://example.org/", "http://example.org:81/a?b=c#d"] {
            assert!(safe_target(ok).is_some(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,hi",
            "https://example.org/",
            "//evil.example/",
            "/relative",
            "http://user:pw@evil.example/",
            "http:///nohost",
            "http://example.org/\r\nSet-Cookie: a=b",
            "",
        ] {
            assert!(safe_target(bad).is_none(), "{bad:?}");
        }
        assert!(safe_target(&format!("http://e.org/{}", "a".repeat(MAX_ASKED_URL))).is_none());
    }

    #[test]
    fn language_links_carry_the_page_asked_for_whole() {
        let base = lang_links_base(
            "http://portal.example/",
            "http://news.example/a?id=7&x=1#top",
        );
        assert_eq!(
            base,
            "http://portal.example/notice?url=http%3A%2F%2Fnews.example%2Fa%3Fid%3D7%26x%3D1%23top&lang="
        );
        let query = base.split_once('?').map(|(_, q)| format!("{q}da"));
        assert_eq!(
            super::super::query_param(query.as_deref(), "url").as_deref(),
            Some("http://news.example/a?id=7&x=1#top")
        );
    }
}
