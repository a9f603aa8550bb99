//! The cleanup tools directory: listing with size and checksum, ranges and
//! ETags, nothing outside the directory, new tools without a restart.

use std::time::Duration;

use cordon_testkit::eventually;

use super::common::{Portal, Setup, curl, quarantined};

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
    // minijinja escapes "/" in attributes; browsers read it back. The
    // link is absolute (the notice page shares it, shown elsewhere).
    assert!(html.contains(
        "href=\"http:&#x2f;&#x2f;portal.isp.test:8080&#x2f;tools&#x2f;small%20tool.bin\""
    ));
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
