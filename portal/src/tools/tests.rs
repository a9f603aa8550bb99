//! The tools' list, sums and serving.

#![allow(clippy::unwrap_used)]
use super::*;

fn write_list(dir: &Path, yaml: &str) {
    std::fs::write(dir.join(LIST_FILE), yaml).unwrap();
}

#[test]
fn lists_and_hashes() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.exe"), b"abc").unwrap();
    write_list(
        d.path(),
        "tools:\n  - file: a.exe\n    name: { en: Tool A, es: Herramienta A }\n    description: { en: Cleans. }\n",
    );
    let c = build(d.path(), &Catalog::default()).unwrap();
    assert_eq!(c.tools.len(), 1);
    let t = &c.tools[0];
    assert_eq!(t.size, 3);
    assert_eq!(
        t.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(pick(&t.names, "es", "en"), "Herramienta A");
    assert_eq!(pick(&t.names, "da", "en"), "Tool A");
    assert_eq!(pick(&t.descriptions, "es", "en"), "Cleans.");
}

#[test]
fn refuses_unknown_keys_and_bad_names() {
    let d = tempfile::tempdir().unwrap();
    write_list(
        d.path(),
        "tools:\n  - file: a\n    name: {en: A}\n    colour: red\n",
    );
    let e = build(d.path(), &Catalog::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("colour") && e.contains("line"), "{e}");
    for bad in [
        "../etc/passwd",
        "/etc/passwd",
        "sub/x",
        ".hidden",
        "..",
        "tools.yaml\\x",
    ] {
        write_list(
            d.path(),
            &format!("tools:\n  - file: {bad:?}\n    name: {{en: A}}\n"),
        );
        assert!(build(d.path(), &Catalog::default()).is_err(), "{bad}");
    }
}

#[test]
fn symlinks_out_of_the_directory_are_not_offered() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"x").unwrap();
    let d = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("link.exe")).unwrap();
    std::fs::write(d.path().join("real.exe"), b"y").unwrap();
    std::os::unix::fs::symlink(d.path().join("real.exe"), d.path().join("inside.exe")).unwrap();
    write_list(
        d.path(),
        "tools:\n  - file: link.exe\n    name: {en: L}\n  - file: inside.exe\n    name: {en: I}\n  - file: gone.exe\n    name: {en: G}\n",
    );
    let c = build(d.path(), &Catalog::default()).unwrap();
    let names: Vec<_> = c.tools.iter().map(|t| t.file.as_str()).collect();
    assert_eq!(names, ["inside.exe"]);
}

#[test]
fn sizes_and_names_read_well() {
    assert_eq!(human_size(999), "999 B");
    assert_eq!(human_size(1_500), "2 KB");
    assert_eq!(human_size(12_400_000), "12 MB");
    assert_eq!(human_size(2_500_000_000), "2.5 GB");
    assert_eq!(encode_path_segment("a b/ø.exe"), "a%20b%2F%C3%B8.exe");
    assert_eq!(
        content_disposition("ø x.exe").to_str().unwrap(),
        "attachment; filename=\"__x.exe\"; filename*=UTF-8''%C3%B8%20x.exe"
    );
}

/// A page asks for the list while another request is re-reading it (here:
/// holds the look, as a slow re-read does): it gets the list it has at
/// once instead of queueing behind the re-read, and every page after it
/// behind that one.
#[tokio::test]
async fn a_page_does_not_wait_for_another_requests_re_read() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.exe"), b"abc").unwrap();
    write_list(
        d.path(),
        "tools:\n  - file: a.exe\n    name: { en: Tool A }\n",
    );
    let tools = Tools::load(Some(d.path().to_owned()), "en").unwrap();
    let mut looking = tools.checked.lock().await;
    // Due for a look, and someone is already looking.
    *looking = Instant::now().checked_sub(CHECK_EVERY * 2).unwrap();
    let listed = tokio::time::timeout(Duration::from_secs(5), tools.list("en"))
        .await
        .expect("the list waited for the other request's re-read");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Tool A");
    drop(looking);
}

/// Each language's listing is made once, when the list is read, and every
/// page in that language shares it; a language no tool is named in gets
/// the fallback's names, as `pick` gives them.
#[tokio::test]
async fn listings_are_made_once_per_language_when_the_list_is_read() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a b.exe"), vec![0u8; 1_500]).unwrap();
    write_list(
        d.path(),
        "tools:\n  - file: a b.exe\n    name: { en: Tool A, es: Herramienta A }\n    description: { da: Renser. }\n",
    );
    let tools = Tools::load(Some(d.path().to_owned()), "en").unwrap();
    let es = tools.list("es").await;
    assert!(Arc::ptr_eq(&es, &tools.list("es").await), "made once");
    let expected = ToolView {
        file: "a b.exe".into(),
        href: "tools/a%20b.exe".into(),
        name: "Herramienta A".into(),
        description: "Renser.".into(),
        size: "2 KB".into(),
        sha256: es[0].sha256.clone(),
    };
    assert_eq!(*es, [expected]);
    let da = tools.list("da").await;
    assert_eq!(da[0].name, "Tool A");
    assert_eq!(da[0].description, "Renser.");
    for other in ["fr", "en"] {
        let listed = tools.list(other).await;
        assert_eq!(listed[0].name, "Tool A", "{other}");
        assert_eq!(listed[0].description, "Renser.", "{other}");
    }
    assert!(Tools::load(None, "en").unwrap().list("en").await.is_empty());
}
