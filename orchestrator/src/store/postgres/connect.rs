//! Connecting: the pool, TLS, the password file, and telling a server that
//! cannot be reached ([`StoreError::Unreachable`]: refused, timed out,
//! gone) from one that answered with an error, because the outbox queues
//! decisions on the first and not on the second.

use std::path::Path;

use cordon_config::{PostgresStore, TlsMode};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_postgres::config::SslMode;

use crate::store::StoreError;

/// The largest password file read (a password is a line, not a file).
const MAX_PASSWORD: u64 = 4096;

/// The pool over the configured server: `pool_size` connections, each
/// attempt bounded by `connect_timeout`, and so is the wait for a free one.
pub(super) fn pool(settings: &PostgresStore, location: &Path) -> Result<Pool, StoreError> {
    let pg = client_config(settings, location)?;
    let manager_config = ManagerConfig {
        // Fast: a connection that broke is found at its next use, and
        // its error is classified there; checking each one costs a round
        // trip per commit.
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match connector(settings, location)? {
        None => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
        Some(tls) => Manager::from_config(pg, tls, manager_config),
    };
    Pool::builder(manager)
        .max_size(settings.pool_size.get())
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.connect_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .build()
        .map_err(|e| StoreError::unreadable(location, e))
}

/// What every connection is opened with: the URL's settings, the
/// connection timeout, the password file, and the TLS mode.
fn client_config(
    settings: &PostgresStore,
    location: &Path,
) -> Result<tokio_postgres::Config, StoreError> {
    let mut pg = settings.url.config().clone();
    pg.connect_timeout(settings.connect_timeout);
    pg.application_name("cordond");
    if let Some(file) = &settings.password_file {
        pg.password(read_password(file, location)?);
    }
    pg.ssl_mode(match settings.tls.mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    Ok(pg)
}

/// The TLS connector the mode asks for; `None` for `disable`.
fn connector(
    settings: &PostgresStore,
    location: &Path,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, StoreError> {
    match settings.tls.mode {
        TlsMode::Disable => Ok(None),
        _ => tls(settings, location).map(Some),
    }
}

/// What a listening connection hears: notifications, notices, or the
/// error that ended it (then nothing more).
pub(super) type Heard = mpsc::UnboundedReceiver<Result<AsyncMessage, tokio_postgres::Error>>;

/// One connection of its own, outside the pool, for `LISTEN`: the pool's
/// connections drop what the server sends unasked. Returns the client
/// (the connection lives as long as it) and what the connection hears.
pub(super) async fn listener(
    settings: &PostgresStore,
    location: &Path,
) -> Result<(tokio_postgres::Client, Heard), StoreError> {
    let mut pg = client_config(settings, location)?;
    // A link that dies silently is noticed within a minute, not hours.
    pg.keepalives_idle(std::time::Duration::from_secs(30));
    let (tx, rx) = mpsc::unbounded_channel();
    let client = match connector(settings, location)? {
        None => {
            let (client, conn) = pg
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| classify(location, e))?;
            forward(conn, tx);
            client
        }
        Some(tls) => {
            let (client, conn) = pg.connect(tls).await.map_err(|e| classify(location, e))?;
            forward(conn, tx);
            client
        }
    };
    Ok((client, rx))
}

/// Drives a connection, handing on everything it hears until it ends.
fn forward<S, T>(
    mut conn: tokio_postgres::Connection<S, T>,
    tx: mpsc::UnboundedSender<Result<AsyncMessage, tokio_postgres::Error>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut heard = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = futures::StreamExt::next(&mut heard).await {
            let end = m.is_err();
            if tx.send(m).is_err() || end {
                return;
            }
        }
    });
}

/// The password: the file's first line, from a file of bounded size.
fn read_password(file: &Path, location: &Path) -> Result<String, StoreError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_PASSWORD).read_to_string(&mut text))
        .map_err(|e| {
            StoreError::unreadable(
                location,
                format!(
                    "cannot read store.password_file {}: {e}; create it (mode 0600) with the password on its first line",
                    file.display()
                ),
            )
        })?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// A rustls connector that trusts only the configured CA file and checks
/// the server's name (libpq's `verify-full`).
fn tls(
    settings: &PostgresStore,
    location: &Path,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let bad = |what: String| StoreError::unreadable(location, what);
    let Some(ca_file) = &settings.tls.ca_file else {
        return Err(bad("store.tls.ca_file is missing".into()));
    };
    let roots = crate::tls::roots(ca_file, "store.tls.ca_file").map_err(bad)?;
    let config = crate::tls::client_config(roots).map_err(bad)?;
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// SQLSTATE classes and codes that mean the server is away rather than
/// refusing what was asked: connection exceptions (08), the server
/// shutting down or starting (57P01..57P03), too many connections (53300).
fn away(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// SQLSTATE classes that mean the statement's own data broke a rule: a
/// data exception (22: a value the column cannot hold, such as a NUL in a
/// text) or an integrity constraint violation (23). Sending the same data
/// again fails the same way, whatever the server's state; every other
/// error (permissions, a full disk, a read-only standby, a deadlock) may
/// pass and is retried.
fn refuses_data(code: &str) -> bool {
    code.starts_with("22") || code.starts_with("23")
}

/// A client error as a store error: [`StoreError::Unreachable`] when the
/// server could not be reached or went away, [`StoreError::Refused`] when
/// it refused the data itself, [`StoreError::Io`] for any other error.
pub(super) fn classify(location: &Path, e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error()
        && refuses_data(db.code().code())
    {
        // The server's own words (`ERROR: invalid byte sequence ...`),
        // not the client's `db error` around them.
        let text = db.to_string();
        return StoreError::Refused {
            location: location.display().to_string(),
            source: e.into_source().unwrap_or_else(|| text.into()),
        };
    }
    let unreachable = match e.as_db_error() {
        Some(db) => away(db.code().code()),
        // The connection closed, or its socket failed (refused, reset,
        // timed out: tokio-postgres reports each as an I/O error).
        None => {
            e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        }
    };
    if unreachable {
        unreachable_because(location, e)
    } else {
        StoreError::io(location, e)
    }
}

/// A pool error as a store error: failing to get a connection at all is
/// unreachable, whatever the reason (refused, timed out, TLS, credentials):
/// nothing of this call was sent, and the decision must wait for the database
/// without holding up enforcement (the source says which it was).
pub(super) fn classify_pool(location: &Path, e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(_) | PoolError::Timeout(_) => unreachable_because(location, e),
        PoolError::Closed => StoreError::Stopped,
        other => StoreError::io(location, other),
    }
}

/// TLS with the server failed: said first, with what to check, ahead of
/// the client's own words (`error performing TLS handshake`), which name
/// neither the cause nor the key to fix.
#[derive(Debug, thiserror::Error)]
#[error(
    "TLS with the database server failed ({why}): check that store.tls.ca_file holds the CA that signed the server's certificate, that the certificate names store.url's host (verify-full checks the name, or the address), and that it has not expired"
)]
struct TlsFailed {
    /// rustls' reason (`invalid peer certificate: UnknownIssuer`).
    why: rustls::Error,
    /// The error it came in.
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// [`StoreError::Unreachable`] for `e`, saying so first when TLS is why.
fn unreachable_because(
    location: &Path,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    let source: Box<dyn std::error::Error + Send + Sync> =
        match crate::tls::rustls_cause(&e).cloned() {
            Some(why) => Box::new(TlsFailed {
                why,
                source: Box::new(e),
            }),
            None => Box::new(e),
        };
    StoreError::Unreachable {
        location: location.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use cordon_config::{PgTls, PoolSize, PostgresStore, TlsMode};

    use super::*;

    fn settings(tls: PgTls, password_file: Option<std::path::PathBuf>) -> PostgresStore {
        PostgresStore {
            url: "host=db.example dbname=cordon".parse().unwrap(),
            gateway: None,
            pool_size: PoolSize::default(),
            connect_timeout: Duration::from_secs(1),
            tls,
            password_file,
            outbox: cordon_config::default_outbox_path(),
        }
    }

    /// What TLS cannot be built from is refused at start, naming the key
    /// and the file, rather than connecting without verification.
    #[tokio::test]
    async fn a_ca_file_that_holds_no_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.path().join("missing.pem");
        for (file, needle) in [
            (&empty, "holds no certificate"),
            (&junk, "is not PEM certificates"),
            (&missing, "cannot read store.tls.ca_file"),
        ] {
            let tls = PgTls {
                mode: TlsMode::VerifyFull,
                ca_file: Some(file.clone()),
            };
            let err = pool(&settings(tls, None), Path::new("db")).unwrap_err();
            assert!(matches!(err, StoreError::Unreadable { .. }), "{err:?}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    /// The password comes from the first line of `password_file`; a file
    /// that cannot be read is refused naming the key.
    #[test]
    fn the_password_is_the_files_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        assert_eq!(read_password(&file, Path::new("db")).unwrap(), "s3cret");
        let err = read_password(&dir.path().join("none"), Path::new("db")).unwrap_err();
        assert!(err.to_string().contains("store.password_file"), "{err}");
    }
}
