//! The `store` section: the backends, their keys, and what is refused.

use std::path::Path;

use cordon_config::{SqliteStore, Store};

use super::{MINIMAL, load, one_error};

/// `store` is one variant per backend; `backend` defaults to `sqlite`, so
/// configs written before it (`store: { path: ... }`) read as they did.
#[test]
fn the_store_backend_defaults_to_sqlite() {
    let sqlite = |path: &str| Store::Sqlite(SqliteStore { path: path.into() });
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.store, sqlite("/var/lib/cordon/cordon.db"));
    assert_eq!(
        c.store.sqlite_path(),
        Some(Path::new("/var/lib/cordon/cordon.db"))
    );
    assert_eq!(c.store.location(), "/var/lib/cordon/cordon.db");
    for store in [
        "store: { path: /srv/cordon.db }\n",
        "store:\n  backend: sqlite\n  path: /srv/cordon.db\n",
        "store:\n  path: /srv/cordon.db\n  backend: sqlite\n",
    ] {
        let c = load(&format!("{MINIMAL}{store}")).unwrap();
        assert_eq!(c.store, sqlite("/srv/cordon.db"), "{store}");
    }
    let c = load(&format!("{MINIMAL}store: {{ backend: sqlite }}\n")).unwrap();
    assert_eq!(c.store, sqlite("/var/lib/cordon/cordon.db"));
}

/// Keys of one backend given with the other are refused naming the backend
/// they belong to; unknown backends and keys are refused as before.
#[test]
fn misplaced_or_unknown_store_backends_and_keys_are_refused() {
    let e = one_error(&format!(
        "{MINIMAL}store:\n  backend: sqlite\n  url: \"postgres://db/cordon\"\n"
    ));
    // At the misplaced key's own line and column, not the section's.
    assert!(
        e.starts_with(
            "12:8: store.url: a key of the postgres backend, but store.backend is sqlite"
        ),
        "{e}"
    );
    let e = one_error(&format!(
        "{MINIMAL}store:\n  backend: postgres\n  url: \"host=/run/postgresql\"\n  path: /srv/c.db\n"
    ));
    assert!(
        e.contains("store.path: a key of the sqlite backend, but store.backend is postgres"),
        "{e}"
    );
    let e = one_error(&format!("{MINIMAL}store:\n  backend: mysql\n"));
    assert!(e.starts_with("11:12: store.backend: "), "{e}");
    assert!(
        e.contains("unknown variant `mysql`, expected `sqlite` or `postgres`"),
        "{e}"
    );
    let e = one_error(&format!(
        "{MINIMAL}store:\n  path: /srv/c.db\n  colour: red\n"
    ));
    assert!(e.starts_with("12:3: store: "), "{e}");
    assert!(e.contains("unknown field `colour`"), "{e}");
}

/// The postgres backend: its URL is parsed at load by the client's own
/// parser, its other keys get documented defaults, and what it cannot use
/// is refused at its own line with the remedy.
#[test]
fn the_postgres_backend_reads_its_keys() {
    let c = load(&format!(
        "{MINIMAL}store:\n  backend: postgres\n  url: \"postgresql://cordon@db.example/fleet\"\n"
    ))
    .unwrap();
    let Store::Postgres(p) = &c.store else {
        panic!("{:?}", c.store)
    };
    assert_eq!(p.url.config().get_dbname(), Some("fleet"));
    assert_eq!(p.gateway, None);
    assert_eq!(p.pool_size.get(), 8);
    assert_eq!(p.connect_timeout, std::time::Duration::from_secs(5));
    assert_eq!(p.tls.mode, cordon_config::TlsMode::Disable);
    assert_eq!(c.store.sqlite_path(), None);
    assert_eq!(
        c.store.location(),
        "postgresql://cordon@db.example:5432/fleet"
    );
    let c = load(&format!(
        "{MINIMAL}store:\n  backend: postgres\n  url: \"host=/run/postgresql dbname=cordon\"\n  gateway: bng-7.north\n  pool_size: 32\n  connect_timeout: 2s\n  tls: {{ mode: verify-full, ca_file: /etc/cordon/ca.pem }}\n  password_file: /etc/cordon/db-password\n  outbox: /srv/cordon/outbox.db\n"
    ))
    .unwrap();
    let Store::Postgres(p) = &c.store else {
        panic!("{:?}", c.store)
    };
    assert_eq!(p.gateway.as_ref().map(|g| g.as_str()), Some("bng-7.north"));
    assert_eq!(p.pool_size.get(), 32);
    assert_eq!(p.connect_timeout, std::time::Duration::from_secs(2));
    assert_eq!(p.tls.mode, cordon_config::TlsMode::VerifyFull);
    assert_eq!(
        p.password_file.as_deref(),
        Some(Path::new("/etc/cordon/db-password"))
    );
    assert_eq!(p.outbox, Path::new("/srv/cordon/outbox.db"));
    assert_eq!(
        c.store.location(),
        "postgresql://[/run/postgresql]:5432/cordon"
    );
    let pg = |rest: &str| {
        one_error(&format!(
            "{MINIMAL}store:\n  backend: postgres\n  url: \"host=/run/postgresql\"\n{rest}"
        ))
    };
    for (rest, at, needle) in [
        (
            "  gateway: \"bng 7\"\n",
            ": store.gateway: ",
            "not a gateway name",
        ),
        (
            "  gateway: \"a\\u001b[2J\"\n",
            ": store.gateway: ",
            "\\u{1b}",
        ),
        ("  pool_size: 0\n", ": store.pool_size: ", "give 1 to 256"),
        (
            "  pool_size: 1000\n",
            ": store.pool_size: ",
            "give 1 to 256",
        ),
        ("  connect_timeout: soon\n", ": store.connect_timeout: ", ""),
        (
            "  connect_timeout: 0s\n",
            ": store.connect_timeout: ",
            "give 100ms to 5m",
        ),
        (
            "  connect_timeout: 1h\n",
            ": store.connect_timeout: ",
            "give 100ms to 5m",
        ),
        (
            "  tls: { mode: require, ca_file: /x }\n",
            ": store.tls.mode: ",
            "unknown variant `require`",
        ),
        (
            "  tls: { mode: prefer }\n",
            ": store: ",
            "store.tls.ca_file is missing",
        ),
        (
            "  tls: { mode: disable, sni: x }\n",
            ": store.tls: ",
            "unknown field `sni`",
        ),
    ] {
        let e = pg(rest);
        assert!(e.contains(at), "{rest}: {e}");
        assert!(e.contains(needle), "{rest}: {e}");
    }
    let url = |u: &str| {
        one_error(&format!(
            "{MINIMAL}store:\n  backend: postgres\n  url: \"{u}\"\n"
        ))
    };
    let e = url("postgresql://cordon:s3cret@db.example/cordon");
    assert!(e.starts_with("12:8: store.url: "), "{e}");
    assert!(
        e.contains("holds a password") && e.contains("store.password_file"),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "the password is not echoed: {e}");
    let e = url("host=/run/postgresql password=hunter2");
    assert!(e.contains("holds a password"), "{e}");
    let e = url("mysql://db/x");
    assert!(e.starts_with("12:8: store.url: "), "{e}");
    assert!(e.contains("not a PostgreSQL connection string"), "{e}");
    let e = url("dbname=cordon");
    assert!(e.contains("names no server"), "{e}");
    // TLS is store.tls's: an sslmode in the string would be overridden by
    // it (plain TCP under the default `disable`), so it is refused.
    for u in [
        "postgresql://cordon@db.example/cordon?sslmode=require",
        "host=db.example dbname=cordon sslmode=verify-full",
        "host=db.example dbname=cordon SSLMODE=disable",
    ] {
        let e = url(u);
        assert!(e.starts_with("12:8: store.url: "), "{u}: {e}");
        assert!(e.contains("sslmode") && e.contains("store.tls"), "{u}: {e}");
    }
}
