//! What the portal answers: the shared state and the routes of both listeners.
//!
//! The redirect listener answers everything with a redirect to the configured
//! public URL. The portal's own origin serves the cleanup page, the
//! self-release form, the captive-portal API, the OS probes and the tools.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_config::{PublicUrl, Support};
use cordon_proto::time::Clock;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::cache::{FactsCache, Lookup, PageCache, ShellCache};
use crate::cordond::Cordond;
use crate::csrf::Csrf;
use crate::facts::{Facts, Outcome};
use crate::i18n::Translations;
use crate::inflight::{self, InFlight, Turn, Waited};
use crate::percent::percent_decode;
use crate::probes::Probe;
use crate::respond::{self, Body};
use crate::templates::Pages;
use crate::tools::Tools;

/// Caps on what one request may cost.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Largest request body read (the self-release form is under 200 bytes).
    pub max_body_bytes: usize,
    /// How long reading that body may take.
    pub body_read_timeout: Duration,
}

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct App {
    /// The configured public URL: the only redirect target. Kept as the
    /// config parsed it, text and header value both, so nothing here reads
    /// it again.
    pub public_url: PublicUrl,
    /// The redirect to it and the RFC 8908 documents naming it, made once.
    pub home: respond::Home,
    /// The ISP's name as subscribers know it.
    pub isp_name: String,
    /// Support contact.
    pub support: Support,
    /// Messages.
    pub translations: Arc<Translations>,
    /// Templates.
    pub pages: Pages,
    /// Downloads.
    pub tools: Tools,
    /// The daemon.
    pub cordond: Cordond,
    /// The daemon's recent answers, per caller.
    pub facts_cache: FactsCache,
    /// Questions to the daemon under way, per caller.
    pub in_flight: InFlight,
    /// Cleanup pages rendered this second, per caller.
    pub page_cache: PageCache,
    /// The cleanup page without the caller's own parts.
    pub shells: ShellCache,
    /// Form tokens.
    pub csrf: Csrf,
    /// Request caps.
    pub limits: RequestLimits,
    /// The wall clock, for what pages show ("ends in 3 days") and the time
    /// form tokens carry: read here rather than deep inside, so a test can
    /// set it.
    pub clock: Arc<dyn Clock>,
}

/// A page's context: what every page shows, then the page's own values, in
/// one flat map rather than a merge of two (`..base`): every name a template
/// looks up, each of a page's dozens of `t()` calls included, is searched for
/// in it, and a merge searches part after part (a fifth of a render).
macro_rules! page_context {
    ($app:expr, $lang:expr, { $($key:ident => $value:expr),* $(,)? }) => {{
        let lang: &str = $lang;
        minijinja::context! {
            lang => lang,
            langs => $app.translations.links(lang),
            isp => &$app.isp_name,
            support => &$app.support,
            home => $app.public_url.as_str(),
            $($key => $value,)*
        }
    }};
}

/// The value of query parameter `name`.
fn query_param(req_query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(req_query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn header_str(parts: &http::request::Parts, name: header::HeaderName) -> Option<&str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

impl App {
    /// Answers one request. Never fails: every problem becomes a page.
    pub async fn handle<B>(&self, role: Role, peer: SocketAddr, req: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        // Copied for the debug line only when it is written.
        let asked = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| (req.method().clone(), req.uri().path().to_owned()));
        let response = match role {
            Role::Redirect => self.redirect(req.method()),
            Role::Notice => self.noticed(peer.ip().to_canonical(), req).await,
            Role::Portal => self.route(peer.ip().to_canonical(), req, false).await,
            Role::Captive => self.route(peer.ip().to_canonical(), req, true).await,
        };
        if let Some((method, path)) = asked {
            tracing::debug!(%method, %path, status = response.status().as_u16(), "answered");
        }
        respond::finish(response)
    }

    /// The redirect listener's answer, whatever was asked: the target is the
    /// configured URL, never anything from the request (its Host header is
    /// whatever site the subscriber tried to open).
    fn redirect(&self, method: &Method) -> Response<Body> {
        // 303 turns a form POST to some other site into a GET of the portal.
        let status = if method == Method::GET || method == Method::HEAD {
            StatusCode::FOUND
        } else {
            StatusCode::SEE_OTHER
        };
        self.home.redirect(status)
    }

    /// A redirect to the portal's page, in the language the query's `lang`
    /// names when it is one offered.
    fn home_in(&self, query: Option<&str>) -> Response<Body> {
        let switched = query_param(query, "lang")
            .and_then(|l| self.translations.offers(&l).map(str::to_owned))
            .and_then(|l| HeaderValue::from_str(&format!("{}?lang={l}", self.public_url)).ok());
        respond::redirect(
            StatusCode::SEE_OTHER,
            switched.as_ref().unwrap_or(self.public_url.header_value()),
        )
    }

    /// The portal's own routes; `captive` when the kernel has just said the
    /// caller is quarantined ([`Role::Captive`]).
    async fn route<B>(&self, peer: IpAddr, req: Request<B>, captive: bool) -> Response<Body>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let readonly = parts.method == Method::GET || parts.method == Method::HEAD;
        // Worked out only for what shows words: the probes and the API,
        // most of an outbreak's requests, show none.
        let lang = |parts: &http::request::Parts| {
            self.translations
                .negotiate(
                    query_param(parts.uri.query(), "lang").as_deref(),
                    header_str(parts, header::ACCEPT_LANGUAGE),
                )
                .to_owned()
        };

        if let Some(probe) = Probe::from_path(&path) {
            if !readonly {
                return method_not_allowed("GET, HEAD");
            }
            return self.probe(peer, probe, captive).await;
        }
        match path.as_str() {
            "/" | "/index.html" => {
                if !readonly {
                    return method_not_allowed("GET, HEAD");
                }
                let ua = header_str(&parts, header::USER_AGENT).unwrap_or("");
                self.cleanup_page(peer, &lang(&parts), detect_os(ua)).await
            }
            "/release" => match parts.method {
                Method::POST => self.release(peer, &parts, body).await,
                // A reload of the answer page, a bookmark, or the language
                // switcher on the answer page: back to the cleanup page.
                Method::GET | Method::HEAD => self.home_in(parts.uri.query()),
                _ => method_not_allowed("GET, HEAD, POST"),
            },
            "/notice" => {
                if !readonly {
                    return method_not_allowed("GET, HEAD");
                }
                self.portal_notice(peer, &parts, &lang(&parts)).await
            }
            "/acknowledge" => match parts.method {
                Method::POST => self.acknowledge(peer, &parts, body).await,
                _ => method_not_allowed("POST"),
            },
            "/api/captive" => {
                if !readonly {
                    return method_not_allowed("GET, HEAD");
                }
                self.captive_api(peer, captive).await
            }
            "/robots.txt" => respond::text(StatusCode::OK, "User-agent: *\nDisallow: /\n"),
            "/favicon.ico" => respond::status(StatusCode::NOT_FOUND),
            _ => {
                if let Some(name) = path.strip_prefix("/tools/") {
                    if !readonly {
                        return method_not_allowed("GET, HEAD");
                    }
                    let lang = lang(&parts);
                    return self.tool(name, parts, &lang).await;
                }
                self.problem(StatusCode::NOT_FOUND, &lang(&parts), "problem-not-found")
            }
        }
    }

    /// The caller's facts; `Unknown` (and a log line) when `cordond` cannot say.
    /// Requests of one caller that arrive together ask `cordond` once
    /// (see [`crate::inflight`]).
    async fn facts(&self, peer: IpAddr) -> Facts {
        // Taken before asking: the answer is at least as old as the question.
        let asked = Instant::now();
        let ticket = match self.facts_cache.get(peer, asked) {
            Lookup::Hit(status) => return Facts::from_status(&status, self.clock.now()),
            Lookup::Miss(ticket) => ticket,
        };
        let asking = match self.in_flight.turn(peer) {
            Turn::Ask(asking) => Some(asking),
            Turn::Wait(rx) => match inflight::wait(rx).await {
                Waited::Answered(Some(status)) => {
                    return Facts::from_status(&status, self.clock.now());
                }
                Waited::Answered(None) => return Facts::unknown(),
                Waited::Abandoned => None,
            },
        };
        match self.cordond.status(peer).await {
            Ok(status) => {
                let facts = Facts::from_status(&status, self.clock.now());
                self.facts_cache.put(peer, status.clone(), ticket, asked);
                if let Some(a) = asking {
                    a.done(Some(status));
                }
                facts
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "showing general advice");
                if let Some(a) = asking {
                    a.done(None);
                }
                Facts::unknown()
            }
        }
    }

    /// Whether the OS should show its sign-in: the kernel's word when it has
    /// just given it (`kernel_says`, see [`Role::Captive`]), else `cordond`'s.
    async fn captive(&self, peer: IpAddr, kernel_says: bool) -> bool {
        kernel_says || self.facts(peer).await.captive()
    }

    async fn probe(&self, peer: IpAddr, probe: Probe, kernel_says: bool) -> Response<Body> {
        if self.captive(peer, kernel_says).await {
            self.home.redirect(StatusCode::FOUND)
        } else {
            probe.success()
        }
    }

    /// RFC 8908: `captive` and where to sign in. No `seconds-remaining`:
    /// section 5 says to send it only to callers that are not captive and
    /// whose session is time-limited (the time until they become captive).
    /// A quarantined caller is captive, and no caller that is free here has
    /// a session that runs out into captivity, so there is never one to send;
    /// the page tells a quarantined subscriber when the connection comes back.
    async fn captive_api(&self, peer: IpAddr, kernel_says: bool) -> Response<Body> {
        self.home.captive_api(self.captive(peer, kernel_says).await)
    }

    fn render(&self, status: StatusCode, page: &str, ctx: minijinja::Value) -> Response<Body> {
        match self.pages.render(page, ctx) {
            Ok(html) => respond::html(status, html),
            Err(e) => render_failed(page, &e),
        }
    }

    /// A plain page for a refused or unknown request.
    fn problem(&self, status: StatusCode, lang: &str, message: &str) -> Response<Body> {
        let ctx = page_context!(self, lang, {
            status => status.as_u16(),
            message => message,
            csrf => None::<String>,
        });
        self.render(status, "problem.html", ctx)
    }

    /// The "I have cleaned my computer" button.
    async fn release<B>(
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
        let mut token = None;
        let mut form_lang = None;
        for (k, v) in form_urlencoded::parse(&bytes) {
            match &*k {
                "csrf" => token = Some(v.into_owned()),
                "lang" => form_lang = Some(v.into_owned()),
                _ => {}
            }
        }
        let lang = self
            .translations
            .negotiate(
                form_lang.as_deref(),
                header_str(parts, header::ACCEPT_LANGUAGE),
            )
            .to_owned();
        let now = self.clock.now();
        if let Err(refusal) = self.csrf.verify(token.as_deref().unwrap_or(""), peer, now) {
            tracing::info!(%peer, ?refusal, "self-release form refused");
            // The refusal page carries a fresh form: one more press works.
            let ctx = page_context!(self, &lang, {
                status => 403,
                message => "problem-form-expired",
                csrf => self.csrf.issue(peer, now),
            });
            return self.render(StatusCode::FORBIDDEN, "problem.html", ctx);
        }
        let answer = match self.cordond.self_release(peer).await {
            Ok(outcome) => {
                tracing::info!(%peer, ?outcome, "self-release asked");
                Some(outcome)
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "self-release could not be asked");
                None
            }
        };
        // Whatever the answer (even none: it may have been carried out), the
        // next page shows the caller's state afresh.
        self.facts_cache.forget(peer);
        let outcome = Outcome::from_answer(answer.as_ref());
        let status = if outcome.kind == "unavailable" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        let ctx = page_context!(self, &lang, { outcome => outcome });
        self.render(status, "outcome.html", ctx)
    }

    async fn tool(
        &self,
        raw_name: &str,
        parts: http::request::Parts,
        lang: &str,
    ) -> Response<Body> {
        let name = percent_decode(raw_name);
        let found = match name {
            Some(name) => {
                self.tools
                    .serve(&name, Request::from_parts(parts, ()))
                    .await
            }
            None => None,
        };
        found.unwrap_or_else(|| self.problem(StatusCode::NOT_FOUND, lang, "problem-not-found"))
    }
}

mod form;
mod notice;
mod os;
mod page;
mod role;

pub use role::Role;

use os::detect_os;

/// A page that did not render: the operator's override is broken in a way
/// the startup check could not see.
fn render_failed(page: &str, e: &crate::error::Error) -> Response<Body> {
    tracing::error!(error = %e, page, "a page did not render");
    respond::text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "This page could not be shown. Please try again in a minute.\n",
    )
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = respond::text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}
