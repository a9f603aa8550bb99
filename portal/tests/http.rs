//! Every route of the real `cordon-portal` binary, through `curl`, with a
//! stand-in `cordond` answering canned facts for 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{PUBLIC_URL, Portal, Setup, clean, csrf_token, curl, quarantined};
use cordon_proto::portal::{HostState, SelfReleaseOutcome};
use cordon_proto::time::{Clock, SystemClock};
use cordon_testkit::eventually;

fn quarantined_portal() -> Portal {
    Portal::start(Setup {
        status: Some(quarantined()),
        ..Setup::default()
    })
}

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

#[test]
fn the_callers_facts_are_kept_for_about_a_second() {
    let p = quarantined_portal();
    let asked = || {
        p.stand_in()
            .seen()
            .iter()
            .filter(|r| matches!(r, cordon_proto::portal::Request::Status { .. }))
            .count()
    };
    // A page view and what a browser asks beside it, twice over.
    let started = std::time::Instant::now();
    for path in ["/", "/api/captive", "/generate_204", "/", "/api/captive"] {
        curl(&[&p.url(path)]);
    }
    if started.elapsed() < Duration::from_millis(900) {
        assert_eq!(asked(), 1, "one question to cordond");
    }
    assert!(asked() < 5, "the answer was reused");
    // A change shows within about a second without any press.
    p.stand_in().set_status(Some(clean()));
    eventually(Duration::from_secs(5), "the page to follow cordond", || {
        curl(&[&p.url("/")])
            .text()
            .contains("Your internet works normally")
    });
}

#[test]
fn a_self_release_shows_on_the_very_next_page() {
    let p = quarantined_portal();
    let page = curl(&[&p.url("/")]).text();
    assert!(page.contains("I have cleaned my computer"));
    let token = csrf_token(&page);
    // cordond releases the host; the portal still holds the old answer.
    let mut released = quarantined();
    released.state = HostState::Probation;
    p.stand_in().set_status(Some(released));
    let a = curl(&[
        "-X",
        "POST",
        "--data-urlencode",
        &format!("csrf={token}"),
        &p.url("/release"),
    ]);
    assert!(a.text().contains("Your internet works again"));
    let after = curl(&[&p.url("/")]).text();
    assert!(
        after.contains("<h1>Your internet works again</h1>"),
        "{after}"
    );
    assert!(!after.contains("I have cleaned my computer"), "{after}");
    let doc: serde_json::Value =
        serde_json::from_slice(&curl(&[&p.url("/api/captive")]).body).unwrap();
    assert_eq!(doc["captive"], false);
}

#[test]
fn cleanup_page_shows_the_callers_own_facts() {
    let p = quarantined_portal();
    let a = curl(&[&p.url("/")]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert!(
        a.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = a.text();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("limited for 2 hours"), "since");
    assert!(html.contains("412 times"), "attempts");
    assert!(
        html.contains("The last try was 25 minutes ago"),
        "last attempt"
    );
    assert!(
        html.contains("sent no mail for 2 hours. So far they have been quiet for 25 minutes"),
        "quiet period"
    );
    assert!(html.contains("Example Net"));
    assert!(html.contains("tel:+4570000000"));
    for os in [
        "Windows computer",
        "Mac",
        "Android phone or tablet",
        "iPhone or iPad",
        "Linux computer",
    ] {
        assert!(html.contains(os), "{os}");
    }
    assert!(html.contains("I have cleaned my computer"));
    assert!(html.contains("name=\"csrf\""));
    assert!(html.contains("How to keep it from happening again"));
    // Nothing from outside the portal: no external scripts, styles, images.
    for bad in [
        "<script",
        "src=\"http",
        "href=\"http://",
        "<link",
        "@import",
        "url(",
    ] {
        assert!(!html.contains(bad), "{bad}");
    }
    assert!(html.len() < 50_000, "{} bytes", html.len());
    // The stand-in was asked about the caller and nobody else.
    assert!(p.stand_in().seen().iter().all(|r| matches!(
        r,
        cordon_proto::portal::Request::Status { address } if address.to_string() == "127.0.0.1"
    )));
}

#[test]
fn the_page_opens_the_callers_system_first() {
    let p = quarantined_portal();
    let html = curl(&[
        "-A",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        &p.url("/"),
    ])
    .text();
    let windows = html.find("<details open>").unwrap();
    assert!(html[windows..].starts_with("<details open>\n    <summary>Windows computer"));
    assert_eq!(html.matches("<details open>").count(), 1);
}

#[test]
fn without_cordond_the_page_still_helps() {
    let p = Portal::start(Setup {
        no_cordond: true,
        ..Setup::default()
    });
    let a = curl(&[&p.url("/")]);
    assert_eq!(a.status, 200);
    let html = a.text();
    assert!(html.contains("We could not look up your connection right now"));
    assert!(html.contains("Windows computer"));
    assert!(!html.contains("name=\"csrf\""), "no button without facts");
    // Probes and the API do not trap everybody when the daemon is down.
    assert_eq!(curl(&[&p.url("/generate_204")]).status, 204);
    let doc: serde_json::Value =
        serde_json::from_slice(&curl(&[&p.url("/api/captive")]).body).unwrap();
    assert_eq!(doc["captive"], false);
    // An error answer from the daemon reads the same.
    let p = Portal::start(Setup::default());
    assert!(curl(&[&p.url("/")]).text().contains("We could not look up"));
}

#[test]
fn languages_by_accept_language_and_links() {
    let p = quarantined_portal();
    let page = |args: &[&str]| {
        let mut all = args.to_vec();
        let url = p.url("/");
        all.push(&url);
        curl(&all).text()
    };
    let es = page(&["-H", "Accept-Language: es-MX,es;q=0.9,en;q=0.5"]);
    assert!(es.contains("<html lang=\"es\">"));
    assert!(es.contains("He limpiado mi equipo"));
    assert!(es.contains("Tu conexión lleva limitada 2 horas"));
    let da = page(&["-H", "Accept-Language: en;q=0.2, da;q=0.8, es;q=0.5"]);
    assert!(da.contains("<html lang=\"da\">"));
    assert!(da.contains("Jeg har renset min computer"));
    assert!(da.contains("412 gange"));
    let en = page(&["-H", "Accept-Language: fr-FR, de;q=0.9"]);
    assert!(en.contains("<html lang=\"en\">"));
    // A link wins over the header, and the switcher offers the others.
    let linked = curl(&["-H", "Accept-Language: es", &p.url("/?lang=da")]).text();
    assert!(linked.contains("<html lang=\"da\">"));
    assert!(linked.contains("href=\"?lang=es\""));
    assert!(linked.contains("href=\"?lang=en\""));
    assert!(linked.contains("<span aria-current=\"page\" lang=\"da\">Dansk</span>"));
}

#[test]
fn self_release_answers_in_plain_words() {
    let p = quarantined_portal();
    let token = csrf_token(&curl(&[&p.url("/")]).text());
    let press = |lang: &str| {
        curl(&[
            "-X",
            "POST",
            "--data-urlencode",
            &format!("csrf={token}"),
            "-d",
            &format!("lang={lang}"),
            &p.url("/release"),
        ])
    };
    let a = press("en");
    assert_eq!(a.status, 200);
    assert!(a.text().contains("Your internet works again"));
    assert_eq!(a.header("cache-control"), Some("no-store"));

    p.stand_in().set_release(SelfReleaseOutcome::StillSending {
        last_attempt_s_ago: 120,
        quiet_needed_s: 7_080,
    });
    let text = press("en").text();
    assert!(text.contains("Not yet"), "{text}");
    assert!(text.contains("still tried to send mail 2 minutes ago"));
    assert!(text.contains("quiet for 118 minutes more"));
    let es = press("es").text();
    assert!(
        es.contains("Todavía no") && es.contains("hace 2 minutos"),
        "{es}"
    );

    p.stand_in().set_release(SelfReleaseOutcome::NoneLeft);
    let da = press("da").text();
    assert!(da.contains("Kontakt os venligst"), "{da}");
    assert!(da.contains("+45 70 00 00 00"));

    p.stand_in()
        .set_release(SelfReleaseOutcome::TooEarly { remaining_s: 600 });
    assert!(press("en").text().contains("try again in 10 minutes"));
    p.stand_in().set_release(SelfReleaseOutcome::NotQuarantined);
    assert!(press("en").text().contains("Your internet is not limited"));

    let releases = p
        .stand_in()
        .seen()
        .into_iter()
        .filter(|r| matches!(r, cordon_proto::portal::Request::SelfRelease { .. }))
        .count();
    assert_eq!(releases, 6);
}

#[test]
fn self_release_without_a_valid_token_is_refused() {
    let p = quarantined_portal();
    for body in [
        "",
        "csrf=",
        "csrf=123.abc",
        "lang=en",
        &format!("csrf={}.{}", SystemClock.now(), "0".repeat(64)),
    ] {
        let a = curl(&["-X", "POST", "-d", body, &p.url("/release")]);
        assert_eq!(a.status, 403, "{body}");
        // The refusal offers a fresh form, so pressing once more works.
        let token = csrf_token(&a.text());
        let again = curl(&[
            "-X",
            "POST",
            "--data-urlencode",
            &format!("csrf={token}"),
            &p.url("/release"),
        ]);
        assert_eq!(again.status, 200);
    }
    assert!(
        p.stand_in()
            .seen()
            .iter()
            .filter(|r| matches!(r, cordon_proto::portal::Request::SelfRelease { .. }))
            .count()
            == 5,
        "only the valid presses reached cordond"
    );
    // Other methods and a GET of the answer page.
    assert_eq!(curl(&["-X", "PUT", &p.url("/release")]).status, 405);
    assert_eq!(curl(&[&p.url("/release")]).status, 303);
    let switched = curl(&[&p.url("/release?lang=es")]);
    assert_eq!(
        switched.header("location"),
        Some(&*format!("{PUBLIC_URL}?lang=es"))
    );
    let unknown = curl(&[&p.url("/release?lang=%0d%0aX:1")]);
    assert_eq!(unknown.header("location"), Some(PUBLIC_URL));
}

#[test]
fn self_release_body_is_capped() {
    let p = quarantined_portal();
    let big = format!("csrf={}", "a".repeat(64 * 1024));
    let a = curl(&["-X", "POST", "-d", &big, &p.url("/release")]);
    assert_eq!(a.status, 413);
}

fn tools_portal() -> Portal {
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    Portal::start(Setup {
        status: Some(quarantined()),
        tools: vec![
            ("cleaner.exe", blob),
            ("small tool.bin", b"0123456789".to_vec()),
        ],
        ..Setup::default()
    })
}

#[test]
fn tools_are_listed_with_size_and_checksum() {
    let p = tools_portal();
    let html = curl(&["-H", "Accept-Language: es", &p.url("/")]).text();
    assert!(html.contains("Herramienta cleaner.exe"));
    assert!(html.contains("Limpia Windows."));
    // minijinja escapes "/" in attributes; browsers read it back.
    assert!(html.contains("href=\"tools&#x2f;small%20tool.bin\""));
    assert!(html.contains("(100 KB)"));
    // sha256("0123456789")
    assert!(html.contains("84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"));
}

#[test]
fn tool_downloads_support_range_and_etag() {
    let p = tools_portal();
    let url = p.url("/tools/small%20tool.bin");
    let full = curl(&[&url]);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, b"0123456789");
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert!(full.header("last-modified").is_some());
    assert_eq!(
        full.header("content-disposition"),
        Some("attachment; filename=\"small_tool.bin\"; filename*=UTF-8''small%20tool.bin")
    );
    let etag = full.header("etag").unwrap().to_owned();

    let part = curl(&["-H", "Range: bytes=2-5", &url]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"2345");
    assert_eq!(part.header("content-range"), Some("bytes 2-5/10"));
    let tail = curl(&["-H", "Range: bytes=-3", &url]);
    assert_eq!((tail.status, tail.body.as_slice()), (206, &b"789"[..]));
    let open = curl(&["-H", "Range: bytes=7-", &url]);
    assert_eq!((open.status, open.body.as_slice()), (206, &b"789"[..]));
    let beyond = curl(&["-H", "Range: bytes=50-60", &url]);
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */10"));
    let same = curl(&["-H", &format!("If-None-Match: {etag}"), &url]);
    assert_eq!(same.status, 304);
    let head = curl(&["-I", &url]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("10"));

    // A big file streams whole.
    let big = curl(&[&p.url("/tools/cleaner.exe")]);
    assert_eq!(big.body.len(), 100_000);
}

#[test]
fn nothing_outside_the_tools_directory_is_served() {
    let p = tools_portal();
    // A symlink out of the directory, listed in tools.yaml all the same.
    std::os::unix::fs::symlink(
        p.dir.path().join("secret.txt"),
        p.tools_dir.join("link.exe"),
    )
    .unwrap();
    let list = std::fs::read_to_string(p.tools_dir.join("tools.yaml")).unwrap();
    std::fs::write(
        p.tools_dir.join("tools.yaml"),
        format!("{list}  - file: link.exe\n    name: {{ en: Link }}\n"),
    )
    .unwrap();
    for path in [
        "/tools/../secret.txt",
        "/tools/..%2fsecret.txt",
        "/tools/%2e%2e/secret.txt",
        "/tools/%2e%2e%2fsecret.txt",
        "/tools/%2E%2E%2Fcordon.yaml",
        "/tools//etc/passwd",
        "/tools/%2fetc%2fpasswd",
        "/tools/tools.yaml",
        "/tools/link.exe",
        "/tools/",
        "/tools/small%20tool.bin/../../secret.txt",
        "/tools/%00",
        "/tools/%ff",
    ] {
        let a = curl(&[&p.url(path)]);
        assert!(!a.text().contains("not for subscribers"), "{path} leaked");
        assert!(
            !a.text().contains("portal_socket"),
            "{path} leaked the config"
        );
        assert!(a.status == 404 || a.status == 400, "{path}: {}", a.status);
    }
    // The list was re-read (the link is refused, the others still there).
    eventually(
        Duration::from_secs(10),
        "the changed list is re-read",
        || {
            curl(&[&p.url("/")]);
            p.log().contains("leads out of the tools directory")
        },
    );
    assert_eq!(curl(&[&p.url("/tools/link.exe")]).status, 404);
    assert_eq!(curl(&[&p.url("/tools/cleaner.exe")]).status, 200);
}

#[test]
fn a_new_tool_appears_without_a_restart() {
    let p = tools_portal();
    std::fs::write(p.tools_dir.join("new.exe"), b"fresh").unwrap();
    let list = std::fs::read_to_string(p.tools_dir.join("tools.yaml")).unwrap();
    std::fs::write(
        p.tools_dir.join("tools.yaml"),
        format!("{list}  - file: new.exe\n    name: {{ en: Brand new }}\n"),
    )
    .unwrap();
    eventually(Duration::from_secs(10), "the new tool is listed", || {
        curl(&[&p.url("/")]).text().contains("Brand new")
    });
    assert_eq!(curl(&[&p.url("/tools/new.exe")]).body, b"fresh");
}

#[test]
fn huge_headers_get_431() {
    let mut p = quarantined_portal();
    let big = format!("X-Junk: {}", "a".repeat(40 * 1024));
    let a = curl(&["-H", &big, &p.url("/")]);
    assert_eq!(a.status, 431);
    let many: Vec<String> = (0..200).map(|i| format!("X-H{i}: v")).collect();
    let mut args: Vec<&str> = Vec::new();
    for h in &many {
        args.extend(["-H", h.as_str()]);
    }
    let url = p.url("/");
    args.push(&url);
    let a = curl(&args);
    assert!(a.status == 431 || a.status == 400, "{}", a.status);
    assert!(p.alive());
}

/// Writes raw bytes and reads what comes back.
fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn junk_gets_a_4xx_and_the_portal_stays_up() {
    let mut p = quarantined_portal();
    let junk: Vec<Vec<u8>> = vec![
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), // a TLS hello
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        b"GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
        (0..4096u32).map(|i| (i * 7 % 256) as u8).collect(),
    ];
    for addr in [p.portal, p.redirect] {
        for j in &junk {
            let answer = raw(addr, j);
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
                "{:?} -> {answer:?}",
                String::from_utf8_lossy(j)
            );
        }
    }
    // Odd but valid requests get a 4xx page, not a crash.
    assert_eq!(curl(&["-X", "DELETE", &p.url("/")]).status, 405);
    assert_eq!(curl(&["-X", "BREW", &p.url("/")]).status, 405);
    assert_eq!(curl(&[&p.url("/no/such/page?x=%zz")]).status, 404);
    assert_eq!(curl(&[&p.url("/%ff%fe")]).status, 404);
    assert!(p.alive());
}

#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    let mut p = quarantined_portal();
    // A client that sends half a request head and stops.
    let mut slow = TcpStream::connect(p.portal).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(p.alive(), "others are served meanwhile");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the header timeout closes it"
    );
}

#[test]
fn connections_per_client_are_capped() {
    let mut p = quarantined_portal();
    // Hold more idle connections than one client may have.
    let held: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(p.portal).unwrap())
        .collect();
    eventually(Duration::from_secs(10), "the cap is logged", || {
        p.log().contains("cap reached")
    });
    drop(held);
    eventually(
        Duration::from_secs(10),
        "a fresh connection is served",
        || p.alive(),
    );
}

#[test]
fn sigterm_stops_it_cleanly() {
    let mut p = quarantined_portal();
    assert!(p.alive());
    let status = p.terminate();
    assert!(status.success(), "{status:?}");
    assert!(p.log().contains("shutting down"));
}

#[test]
fn not_found_and_robots() {
    let p = quarantined_portal();
    let a = curl(&["-H", "Accept-Language: da", &p.url("/nope")]);
    assert_eq!(a.status, 404);
    assert!(a.text().contains("Denne side findes ikke."));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert!(
        curl(&[&p.url("/robots.txt")])
            .text()
            .contains("Disallow: /")
    );
}

#[test]
fn it_never_serves_as_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: nothing to drop");
        return;
    }
    // Started as root with portal.user, it switches before serving.
    let p = quarantined_portal();
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u != "0"),
        "still root: {uid_line}"
    );
    assert!(p.log().contains("switched to an unprivileged user"));

    // Without portal.user it refuses, saying what to do.
    let config = std::fs::read_to_string(p.dir.path().join("cordon.yaml"))
        .unwrap()
        .replace("  user: cordon-portal\n", "");
    let path = p.dir.path().join("root.yaml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cordon-portal"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to run as root: set portal.user")
    );
    assert!(out.stdout.is_empty(), "no listening lines");
}

#[test]
fn a_bad_config_exits_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "portal:\n  public_url: x\n  colour: red\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cordon-portal"))
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
}

#[test]
fn an_operator_adds_a_language_with_one_file_and_rebrands() {
    let extra = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        extra.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let tr = extra.path().join("tr");
    let tpl = extra.path().join("tpl");
    std::fs::create_dir(&tr).unwrap();
    std::fs::create_dir(&tpl).unwrap();
    // A partial French file: what it lacks is shown in English.
    std::fs::write(
        tr.join("fr.ftl"),
        "language-name = Français\nquarantined-title = Votre internet est en pause\n",
    )
    .unwrap();
    std::fs::write(
        tpl.join("style.css"),
        "body{background:#fafafa} /* branded */",
    )
    .unwrap();
    let p = Portal::start(Setup {
        status: Some(quarantined()),
        portal: vec![
            ("languages", "[en, es, da, fr]".into()),
            ("translations_dir", tr.display().to_string()),
            ("templates_dir", tpl.display().to_string()),
        ],
        ..Setup::default()
    });
    let html = curl(&["-H", "Accept-Language: fr-CA", &p.url("/")]).text();
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains("Votre internet est en pause"));
    assert!(
        html.contains("I have cleaned my computer"),
        "falls back to English"
    );
    assert!(html.contains("/* branded */"));
    assert!(html.contains(">Français<"));
    assert!(p.log().contains("message missing"), "the gap is reported");
}
