//! The notice page: a noticed caller's plain `http://`, which the kernel
//! sends to the notice listener, shows the notice in the caller's language, with the page it
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
        &format!("http://{}/story?id=7&x=1", p.notice),
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
    let html = curl(&[&format!("http://{}/", p.notice)]).text();
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
        &format!("http://{}/", p.notice),
    ]);
    let csp = page.header("content-security-policy").unwrap();
    let origin = PUBLIC_URL.trim_end_matches('/');
    let form_action = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("form-action"))
        .unwrap();
    assert_eq!(
        form_action,
        format!("form-action 'self' {origin} http://news.example.org"),
        "{csp}"
    );
}

/// The `href` of the notice page's link to language `code`, as a browser
/// reads it.
fn lang_link(html: &str, code: &str) -> String {
    let marker = format!("\" hreflang=\"{code}\"");
    let end = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no link to {code}: {html}"));
    let start = html[..end].rfind("href=\"").unwrap() + "href=\"".len();
    unescape(&html[start..end])
}

/// Follows a link to the portal's public URL on the portal under test.
fn follow(p: &Portal, href: &str) -> super::common::Answer {
    let rest = href
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{href} is not on the portal's own address"));
    curl(&[&p.url(&format!("/{rest}"))])
}

/// The notice is shown at the article's own address, so a language link
/// relative to it (`?lang=en`) went to the article with its query replaced
/// (`id=7` lost), and the button then led to the wrong page. The links go
/// to the portal's own notice, carrying the page asked for.
#[test]
fn choosing_a_language_on_the_notice_keeps_the_page_asked_for() {
    let p = noticed_portal();
    // The site's own `lang` is the site's: it stays in the address and
    // does not choose the notice's language.
    let original = "http://news.example.org/story?id=7&lang=es&x=1";
    let page = curl(&[
        "-H",
        "Host: news.example.org",
        "-H",
        "Accept-Language: da-DK,da;q=0.9",
        &format!("http://{}/story?id=7&lang=es&x=1", p.notice),
    ]);
    let html = page.text();
    assert!(html.contains("<html lang=\"da\">"), "{html}");
    assert_eq!(asked(&html), original);

    let english = follow(&p, &lang_link(&html, "en"));
    assert_eq!(english.status, 200);
    let html = english.text();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(html.contains("id=\"acknowledge\""), "{html}");
    assert_eq!(asked(&html), original);
    // There the page is the portal's own, and the button's answer goes on
    // to the site asked for: a browser holds the form to `form-action`
    // through that redirect, so the policy names both.
    let csp = english.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!(
            "form-action 'self' {} http://news.example.org;",
            PUBLIC_URL.trim_end_matches('/')
        )),
        "{csp}"
    );

    let danish = follow(&p, &lang_link(&html, "da"));
    assert_eq!(danish.status, 200);
    let html = danish.text();
    assert!(html.contains("<html lang=\"da\">"), "{html}");
    assert!(html.contains("Jeg forstår, før mig til min side"), "{html}");
    assert_eq!(asked(&html), original);
    // The links there still carry it, to every language.
    assert_eq!(asked(&follow(&p, &lang_link(&html, "es")).text()), original);

    let a = acknowledge(&p, &csrf_token(&html), &asked(&html));
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some(original));
}

/// The portal's notice takes the page asked for from its query: the same
/// check as the button's (an unsafe target becomes the portal's page), and
/// only a noticed caller sees it; anyone else goes to the portal's page,
/// never to the target.
#[test]
fn the_portals_notice_shows_only_safe_targets_and_only_to_the_noticed() {
    let p = noticed_portal();
    for bad in [
        "javascript:alert(1)",
        "https://evil.example/",
        "//evil.example/",
    ] {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("url", bad)
            .append_pair("lang", "es")
            .finish();
        let page = curl(&[&p.url(&format!("/notice?{query}"))]);
        assert_eq!(page.status, 200, "{bad}");
        let html = page.text();
        assert!(html.contains("<html lang=\"es\">"), "{html}");
        assert_eq!(asked(&html), PUBLIC_URL, "{bad}");
        assert!(!html.contains("evil"), "{bad}: {html}");
    }

    let q = super::quarantined_portal();
    let a = curl(&[&q.url("/notice?url=http%3A%2F%2Fevil.example%2F&lang=es")]);
    assert_eq!(a.status, 303);
    assert_eq!(
        a.header("location"),
        Some(&*format!("{PUBLIC_URL}?lang=es"))
    );
    assert!(!a.text().contains("evil"));
    let a = curl(&["-X", "POST", &q.url("/notice")]);
    assert_eq!(a.status, 405);
}

/// `portal.public_url: http://portal.isp.test:8080`, without the `/` people
/// leave off: the notice's button, tool and language links and the
/// redirects are still the portal's paths, not `…:8080acknowledge`.
#[test]
fn a_public_url_without_a_slash_still_links_to_the_portal() {
    let given = PUBLIC_URL.trim_end_matches('/');
    let mut s = clean();
    s.state = HostState::Noticed;
    let p = Portal::start(Setup {
        status: Some(s),
        tools: vec![("scanner.exe", b"MZ scanner".to_vec())],
        portal: vec![("public_url", format!("\"{given}\""))],
        ..Setup::default()
    });
    let page = curl(&[
        "-H",
        "Host: news.example.org",
        &format!("http://{}/a?id=7", p.notice),
    ]);
    let html = page.text();
    let action = html.split("action=\"").nth(1).unwrap().split('"').next();
    assert_eq!(
        action.map(unescape),
        Some(format!("{given}/acknowledge")),
        "{html}"
    );
    let tool = html.split("<a href=\"").find(|a| a.contains("download>"));
    let tool = unescape(tool.unwrap().split('"').next().unwrap());
    assert_eq!(tool, format!("{given}/tools/scanner.exe"));
    assert_eq!(follow(&p, &tool).body, b"MZ scanner");
    let spanish = follow(&p, &lang_link(&html, "es"));
    assert_eq!(asked(&spanish.text()), "http://news.example.org/a?id=7");

    let captive: serde_json::Value =
        serde_json::from_str(&curl(&[&p.url("/api/captive")]).text()).unwrap();
    assert_eq!(captive["user-portal-url"], PUBLIC_URL);
    let a = acknowledge(&p, &csrf_token(&html), "javascript:x");
    assert_eq!(a.header("location"), Some(PUBLIC_URL));
}

/// A dual-stack subscriber sees the notice over one address (IPv6, say)
/// and its browser posts the form to the portal over another: the button
/// acknowledges the address the notice was shown to, with the token issued
/// for it.
#[test]
fn the_button_acknowledges_the_address_the_notice_was_shown_to() {
    let p = noticed_portal();
    let html = curl(&[&format!("http://{}/a?b=c", p.notice)]).text();
    let token = csrf_token(&html);
    let url = asked(&html);
    let at = html.find("name=\"shown_to\" value=\"").unwrap() + "name=\"shown_to\" value=\"".len();
    let shown_to = html[at..].split('"').next().unwrap().to_owned();
    assert_eq!(shown_to, p.notice.ip().to_string());
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
        [p.notice.ip()],
        "the address shown the notice"
    );
    // A token is good for its own address only.
    let a = from_elsewhere(&["--data-urlencode", "shown_to=127.0.0.9"]);
    assert_eq!(a.status, 403);
}

/// A caller who pressed "I understand" is no longer sent to the notice by
/// the kernel, but a connection sent before the press (a browser's spare
/// one, kept for later pages) still brings its next page to the notice
/// listener: that page is asked for again, the same request on a new
/// connection, instead of the notice once more. A caller whose notice
/// shows again (the acknowledgement ran out) gets the notice.
#[test]
fn a_connection_sent_before_the_press_brings_the_caller_on_to_its_page() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let now = i64::try_from(now).unwrap();
    let mut s = clean();
    s.state = HostState::Noticed;
    s.acknowledged_until = Some(now + 3_600);
    let p = Portal::start(Setup {
        status: Some(s.clone()),
        ..Setup::default()
    });
    let story = |method: &str| {
        curl(&[
            "-X",
            method,
            "-H",
            "Host: news.example.org",
            &format!("http://{}/story?id=7", p.notice),
        ])
    };
    for method in ["GET", "POST"] {
        let again = story(method);
        assert_eq!(again.status, 307, "{method}");
        assert_eq!(
            again.header("location"),
            Some("http://news.example.org/story?id=7"),
            "{method}"
        );
        assert_eq!(again.header("connection"), Some("close"), "{method}");
    }
    // Only a plain http:// page is asked for again; anything else shows
    // the notice, as before the press.
    let odd = curl(&[
        "-H",
        "Host: user@evil.example",
        &format!("http://{}/", p.notice),
    ]);
    assert_eq!(odd.status, 200);
    assert!(odd.text().contains("id=\"acknowledge\""), "{}", odd.text());

    s.acknowledged_until = Some(now - 1);
    p.stand_in().set_status(Some(s));
    // The portal's memory of the caller lasts a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let shown = story("GET");
        if shown.status == 200 {
            assert!(
                shown.text().contains("id=\"acknowledge\""),
                "{}",
                shown.text()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still sent on: {shown:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
