//! The notice page: a noticed caller's plain `http://` to the redirect
//! listener shows the notice in the caller's language, with the page it
//! asked for carried in the form; the button acknowledges through cordond
//! and goes on to that page, and only to a plain `http://` page; a clean or
//! quarantined caller is redirected as before; RFC 8908 says not captive.

use cordon_proto::portal::{HostState, Request};

use super::common::{PUBLIC_URL, Portal, Setup, clean, csrf_token, curl};

fn noticed_portal() -> Portal {
    let mut s = clean();
    s.state = HostState::Noticed;
    Portal::start(Setup {
        status: Some(s),
        ..Setup::default()
    })
}

/// The hidden `url` field of the notice form.
fn asked(html: &str) -> String {
    let at = html.find("name=\"url\" value=\"").unwrap() + "name=\"url\" value=\"".len();
    unescape(html[at..].split('"').next().unwrap())
}

/// What a browser reads from an attribute minijinja escaped.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/").replace("&amp;", "&")
}

fn acknowledge(p: &Portal, token: &str, url: &str) -> super::common::Answer {
    curl(&[
        "-X",
        "POST",
        "--data-urlencode",
        &format!("csrf={token}"),
        "--data-urlencode",
        &format!("url={url}"),
        "-d",
        "lang=da",
        &p.url("/acknowledge"),
    ])
}

#[test]
fn a_noticed_caller_sees_the_notice_in_its_language_and_goes_on_to_its_page() {
    let p = noticed_portal();
    let page = curl(&[
        "-H",
        "Host: news.example.org",
        "-H",
        "Accept-Language: da-DK,da;q=0.9,en;q=0.5",
        &format!("http://{}/story?id=7&x=1", p.redirect),
    ]);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("connection"), Some("close"));
    let html = page.text();
    assert!(html.contains("Jeg forstår, før mig til min side"), "{html}");
    assert!(html.contains("lang=\"da\""), "{html}");
    let action = html
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(unescape(action), format!("{PUBLIC_URL}acknowledge"));
    let url = asked(&html);
    assert_eq!(url, "http://news.example.org/story?id=7&x=1");
    let token = csrf_token(&html);
    let a = acknowledge(&p, &token, &url);
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some(url.as_str()));
    assert!(
        p.stand_in()
            .seen()
            .iter()
            .any(|r| matches!(r, Request::Acknowledge { .. })),
        "cordond was asked"
    );
}

#[test]
fn the_button_never_leads_anywhere_but_a_plain_http_page() {
    let p = noticed_portal();
    let html = curl(&[&format!("http://{}/", p.redirect)]).text();
    let token = csrf_token(&html);
    for bad in [
        "javascript:alert(1)",
        "https://evil.example/",
        "//evil.example/",
        "http://user@evil.example/",
        "data:text/html,x",
    ] {
        let a = acknowledge(&p, &token, bad);
        assert_eq!(a.status, 303, "{bad}");
        assert_eq!(a.header("location"), Some(PUBLIC_URL), "{bad}");
    }
    // Without a valid form token nothing is acknowledged.
    let before = p.stand_in().seen().len();
    let a = acknowledge(&p, "forged", "http://example.org/");
    assert_eq!(a.status, 403);
    assert!(
        !p.stand_in().seen()[before..]
            .iter()
            .any(|r| matches!(r, Request::Acknowledge { .. }))
    );
}

#[test]
fn a_noticed_caller_is_not_captive() {
    let p = noticed_portal();
    let a = curl(&[&p.url("/api/captive")]);
    let doc: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    assert_eq!(doc["captive"], false);
    assert_eq!(doc["user-portal-url"], PUBLIC_URL);
}

/// The notice is shown at the address asked for, so `'self'` in its policy
/// is that site; its button posts to the portal's origin, which the policy
/// must name, or a browser refuses the button without a word.
#[test]
fn the_notice_pages_policy_lets_its_button_reach_the_portal() {
    let p = noticed_portal();
    let page = curl(&[
        "-H",
        "Host: news.example.org",
        &format!("http://{}/", p.redirect),
    ]);
    let csp = page.header("content-security-policy").unwrap();
    let origin = PUBLIC_URL.trim_end_matches('/');
    let form_action = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap();
    assert_eq!(form_action, format!("form-action 'self' {origin}"), "{csp}");
}

/// A dual-stack subscriber sees the notice over one address (IPv6, say)
/// and its browser posts the form to the portal over another: the button
/// acknowledges the address the notice was shown to, with the token issued
/// for it.
#[test]
fn the_button_acknowledges_the_address_the_notice_was_shown_to() {
    let p = noticed_portal();
    let html = curl(&[&format!("http://{}/a?b=c", p.redirect)]).text();
    let token = csrf_token(&html);
    let url = asked(&html);
    let at = html.find("name=\"shown_to\" value=\"").unwrap() + "name=\"shown_to\" value=\"".len();
    let shown_to = html[at..].split('"').next().unwrap().to_owned();
    assert_eq!(shown_to, p.redirect.ip().to_string());
    let from_elsewhere = |extra: &[&str]| {
        let mut args = vec!["--interface", "127.0.0.2", "-X", "POST", "--data-urlencode"];
        let csrf = format!("csrf={token}");
        let u = format!("url={url}");
        args.push(&csrf);
        args.extend_from_slice(&["--data-urlencode", &u]);
        args.extend_from_slice(extra);
        let target = p.url("/acknowledge");
        args.push(&target);
        curl(&args)
    };
    // Without the address, the token is checked against the poster's own:
    // refused, nothing acknowledged.
    let a = from_elsewhere(&[]);
    assert_eq!(a.status, 403);
    let shown = format!("shown_to={shown_to}");
    let a = from_elsewhere(&["--data-urlencode", &shown]);
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some(url.as_str()));
    let acknowledged: Vec<_> = p
        .stand_in()
        .seen()
        .into_iter()
        .filter_map(|r| match r {
            Request::Acknowledge { address } => Some(address),
            _ => None,
        })
        .collect();
    assert_eq!(
        acknowledged,
        [p.redirect.ip()],
        "the address shown the notice"
    );
    // A token is good for its own address only.
    let a = from_elsewhere(&["--data-urlencode", "shown_to=127.0.0.9"]);
    assert_eq!(a.status, 403);
}
