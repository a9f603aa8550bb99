//! What operating systems and browsers ask first: the redirect listener,
//! the OS connectivity probes, and the RFC 8908 captive-portal API.

use std::time::Duration;

use cordon_proto::portal::HostState;
use cordon_testkit::eventually;

use super::common::{PUBLIC_URL, Portal, Setup, clean, curl};
use super::quarantined_portal;

#[test]
fn redirect_listener_sends_every_host_and_path_to_the_public_url() {
    let p = quarantined_portal();
    let base = format!("http://{}", p.redirect);
    for (path, host) in [
        ("/", "example.com"),
        ("/some/page.html?q=1", "news.example.org"),
        ("/hotspot-detect.html", "captive.apple.com"),
        ("/generate_204", "connectivitycheck.gstatic.com"),
        ("/connecttest.txt", "www.msftconnecttest.com"),
        ("/", "evil.example\"><script>"),
    ] {
        let a = curl(&["-H", &format!("Host: {host}"), &format!("{base}{path}")]);
        assert_eq!(a.status, 302, "{host}{path}");
        assert_eq!(a.header("location"), Some(PUBLIC_URL), "{host}{path}");
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert!(!a.text().contains("evil.example"));
    }
    // No Host at all (HTTP/1.0) and a POST: still the configured URL.
    let a = curl(&["--http1.0", "-H", "Host:", &format!("{base}/")]);
    assert_eq!(a.header("location"), Some(PUBLIC_URL));
    let a = curl(&["-X", "POST", "-d", "x=1", &format!("{base}/login")]);
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some(PUBLIC_URL));
}

/// The kernel sends only quarantined hosts to the redirect listener
/// (noticed ones go to the notice listener), so it answers without asking
/// cordond: in an outbreak every new zombie's `http://` costs cordond
/// nothing. Even a caller cordond would call noticed gets the redirect
/// there, and the notice on the notice listener.
#[test]
fn the_redirect_listener_answers_without_asking_cordond() {
    let mut s = clean();
    s.state = HostState::Noticed;
    let p = Portal::start(Setup {
        status: Some(s),
        ..Setup::default()
    });
    for path in ["/", "/news.html", "/generate_204"] {
        let a = curl(&[&format!("http://{}{path}", p.redirect)]);
        assert_eq!(a.status, 302, "{path}");
        assert_eq!(a.header("location"), Some(PUBLIC_URL));
    }
    assert!(p.stand_in().seen().is_empty(), "{:?}", p.stand_in().seen());
    let a = curl(&[&format!("http://{}/news.html", p.notice)]);
    assert_eq!(a.status, 200);
    assert_eq!(p.stand_in().seen().len(), 1, "{:?}", p.stand_in().seen());
}

#[test]
fn os_probes_make_a_quarantined_caller_sign_in() {
    let p = quarantined_portal();
    for path in [
        "/hotspot-detect.html",
        "/library/test/success.html",
        "/generate_204",
        "/gen_204",
        "/connecttest.txt",
        "/ncsi.txt",
        "/canonical.html",
        "/success.txt",
    ] {
        let a = curl(&[&p.url(path)]);
        assert_eq!(a.status, 302, "{path}");
        assert_eq!(a.header("location"), Some(PUBLIC_URL), "{path}");
        assert_eq!(a.header("cache-control"), Some("no-store"), "{path}");
    }
}

#[test]
fn os_probes_tell_a_clean_caller_the_internet_works() {
    let p = Portal::start(Setup {
        status: Some(clean()),
        ..Setup::default()
    });
    let apple = curl(&[&p.url("/hotspot-detect.html")]);
    assert_eq!(apple.status, 200);
    assert!(apple.text().contains("<TITLE>Success</TITLE>"));
    let android = curl(&[&p.url("/generate_204")]);
    assert_eq!(android.status, 204);
    assert!(android.body.is_empty());
    assert_eq!(
        curl(&[&p.url("/connecttest.txt")]).text(),
        "Microsoft Connect Test"
    );
    assert_eq!(curl(&[&p.url("/ncsi.txt")]).text(), "Microsoft NCSI");
    assert_eq!(curl(&[&p.url("/success.txt")]).text(), "success\n");
    assert!(
        curl(&[&p.url("/canonical.html")])
            .text()
            .contains("support.mozilla.org/kb/captive-portal")
    );
    // Noticed hosts browse freely: no sign-in sheet either.
    let mut noticed = clean();
    noticed.state = HostState::Noticed;
    p.stand_in().set_status(Some(noticed));
    assert_eq!(curl(&[&p.url("/generate_204")]).status, 204);
}

#[test]
fn captive_api_follows_rfc_8908() {
    let p = quarantined_portal();
    let a = curl(&[
        "-H",
        "Accept: application/captive+json",
        &p.url("/api/captive"),
    ]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/captive+json"));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let doc: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(doc["captive"], true);
    assert_eq!(doc["user-portal-url"], PUBLIC_URL);
    // RFC 8908 section 5: only callers that are not captive (and whose
    // session is time-limited) get `seconds-remaining`; a captive one does
    // not, though its quarantine has an end.
    assert!(
        doc.get("seconds-remaining").is_none(),
        "seconds-remaining sent to a captive caller: {doc}"
    );

    // Released by an operator: the portal kept cordond's answer for a
    // second, then tells the new one.
    p.stand_in().set_status(Some(clean()));
    let mut doc = serde_json::Value::Null;
    eventually(
        Duration::from_secs(5),
        "the API to follow the release",
        || {
            doc = serde_json::from_slice(&curl(&[&p.url("/api/captive")]).body).unwrap();
            doc["captive"] == false
        },
    );
    assert_eq!(doc["user-portal-url"], PUBLIC_URL);
    assert!(doc.get("seconds-remaining").is_none());
}

/// A new zombie's browser and OS send the redirect, the page, the probes
/// and the RFC 8908 API at once; in an outbreak thousands of hosts do. Their
/// requests that arrive together ask cordond once, not once each (the
/// stand-in answers slowly, so all of them arrive before the first answer).
#[test]
fn a_callers_requests_arriving_together_ask_cordond_once() {
    let p = quarantined_portal();
    let stand_in = p.stand_in();
    stand_in.set_status_delay(Duration::from_millis(500));
    let urls = [
        p.url("/"),
        p.url("/generate_204"),
        p.url("/hotspot-detect.html"),
        p.url("/connecttest.txt"),
        p.url("/api/captive"),
        format!("http://{}/", p.redirect),
        format!("http://{}/news.html", p.redirect),
        p.url("/success.txt"),
    ];
    let answers: Vec<u16> = std::thread::scope(|s| {
        let threads: Vec<_> = urls
            .iter()
            .map(|u| s.spawn(move || curl(&[u.as_str()]).status))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(answers, [200, 302, 302, 302, 200, 302, 302, 302]);
    let asked = stand_in
        .seen()
        .iter()
        .filter(|r| matches!(r, cordon_proto::portal::Request::Status { .. }))
        .count();
    assert_eq!(asked, 1, "{:?}", stand_in.seen());
}

/// The kernel sends a quarantined host's own connections to the portal to
/// the captive listener: there the probes and the RFC 8908 API answer
/// "captive" on a new connection without asking cordond, while the page
/// still asks (it shows the caller's facts). Even a caller cordond would
/// call free is captive there: the kernel's word, given when the
/// connection began, is what the listener stands for.
#[test]
fn the_captive_listener_answers_probes_and_the_api_without_asking_cordond() {
    let p = Portal::start(Setup {
        status: Some(clean()),
        ..Setup::default()
    });
    let base = format!("http://{}", p.captive);
    let a = curl(&[&format!("{base}/api/captive")]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/captive+json"));
    let doc: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    assert_eq!(doc["captive"], true, "{doc}");
    assert_eq!(doc["user-portal-url"], PUBLIC_URL);
    for path in ["/generate_204", "/hotspot-detect.html", "/connecttest.txt"] {
        let a = curl(&[&format!("{base}{path}")]);
        assert_eq!(a.status, 302, "{path}");
        assert_eq!(a.header("location"), Some(PUBLIC_URL), "{path}");
    }
    assert!(p.stand_in().seen().is_empty(), "{:?}", p.stand_in().seen());
    // The page asks: it shows what cordond says.
    let a = curl(&[&format!("{base}/")]);
    assert_eq!(a.status, 200);
    assert_eq!(p.stand_in().seen().len(), 1, "{:?}", p.stand_in().seen());
    // On the portal's own listener the same caller is asked about (and
    // answered from the answer kept): free.
    let a = curl(&[&format!("http://{}/api/captive", p.portal)]);
    let doc: serde_json::Value = serde_json::from_str(&a.text()).unwrap();
    assert_eq!(doc["captive"], false, "{doc}");
}

/// A connection kept alive past the time the portal keeps cordond's answers
/// may outlive the quarantine the kernel saw when it began: there the
/// captive listener asks, as the portal's own does.
#[test]
fn an_old_connection_on_the_captive_listener_asks_cordond() {
    let p = Portal::start(Setup {
        status: Some(clean()),
        ..Setup::default()
    });
    let url = format!("http://{}/api/captive", p.captive);
    // curl reuses one connection for URLs given together; the pause between
    // them ages it past the portal's memory of answers.
    let aged = cordon_portal::cache::FACTS_TTL + Duration::from_millis(200);
    let a = curl(&[
        "--rate",
        &format!("{}/h", 3_600_000 / aged.as_millis().max(1)),
        "-w",
        "\n%{num_connects}\n",
        &url,
        &url,
    ]);
    let text = a.text();
    let lines: Vec<&str> = text.lines().collect();
    let docs: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with('{'))
        .collect();
    assert_eq!(docs.len(), 2, "{text}");
    assert!(lines[docs[0]].contains("\"captive\":true"), "{text}");
    assert!(lines[docs[1]].contains("\"captive\":false"), "{text}");
    // The second answer came on the first one's connection.
    assert_eq!(lines.get(docs[1] + 1), Some(&"0"), "{text}");
    assert_eq!(p.stand_in().seen().len(), 1, "{:?}", p.stand_in().seen());
}
