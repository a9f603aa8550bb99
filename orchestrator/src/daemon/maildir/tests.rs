#![allow(clippy::unwrap_used)]

use std::time::SystemTime;

use cordon_policy::ReportKind;

use super::*;

fn report(id: Option<&str>) -> Report {
    Report {
        address: "100.64.1.7".parse().unwrap(),
        at: SystemTime::UNIX_EPOCH,
        source: "feed".into(),
        kind: ReportKind::Spam,
        evidence: String::new(),
        message_id: id.map(str::to_owned),
        weight: 1,
    }
}

#[test]
fn reports_without_an_id_get_one_from_the_name_that_survives_the_move_to_cur() {
    let name = OsString::from("1700000000.M1P2.mx:2,");
    let mut reports = vec![report(None), report(Some("<own@x>")), report(None)];
    name_reports(&mut reports, &name);
    let ids: Vec<_> = reports
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "maildir:1700000000.M1P2.mx#1",
            "<own@x>",
            "maildir:1700000000.M1P2.mx#3"
        ]
    );
    // The same message read again (after a crash) gets the same ids.
    let mut again = vec![report(None), report(Some("<own@x>")), report(None)];
    name_reports(&mut again, &OsString::from("1700000000.M1P2.mx"));
    assert_eq!(again, reports);
    assert_eq!(cur_name(&name), OsString::from("1700000000.M1P2.mx:2,S"));
    assert_eq!(
        cur_name(&OsString::from("1700000000.M1P2.mx")),
        OsString::from("1700000000.M1P2.mx:2,S")
    );
}

#[test]
fn listing_skips_dot_files_is_bounded_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["3.c", "1.a", ".hidden", "2.b"] {
        std::fs::write(dir.path().join(name), "x").unwrap();
    }
    assert_eq!(list(dir.path(), 10).unwrap(), ["1.a", "2.b", "3.c"]);
    assert_eq!(list(dir.path(), 2).unwrap().len(), 2);
}

#[test]
fn reading_refuses_links_non_files_and_oversized_messages() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::write(&small, "Source-IP: 100.64.1.7\n").unwrap();
    assert_eq!(
        read_bounded(&small).unwrap().unwrap(),
        b"Source-IP: 100.64.1.7\n"
    );
    assert_eq!(read_bounded(&dir.path().join("gone")).unwrap(), None);
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&small, &link).unwrap();
    assert!(read_bounded(&link).unwrap_err().contains("symbolic link"));
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    assert!(read_bounded(&sub).unwrap_err().contains("regular file"));
    let big = dir.path().join("big");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(MAX_MESSAGE + 1).unwrap();
    assert!(read_bounded(&big).unwrap_err().contains("more than"));
}

#[tokio::test]
async fn moving_creates_the_folder_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("new")).unwrap();
    std::fs::write(dir.path().join("new/m1"), "x").unwrap();
    let name = OsString::from("m1");
    move_to(dir.path(), &name, "failed", &name).await.unwrap();
    assert!(dir.path().join("failed/m1").exists());
    assert!(!dir.path().join("new/m1").exists());
    let mode = std::fs::metadata(dir.path().join("failed"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}
