//! A real PostgreSQL server for a test: Debian's `postgresql` binaries
//! (`/usr/lib/postgresql/*/bin`, the highest version; never `PATH`, where a
//! hand-installed one may sit), a fresh data directory in a temporary
//! directory, listening on a Unix socket only (no TCP port to collide or
//! to leak: network namespaces share the file system, so every gateway of
//! a lab reaches it). PostgreSQL refuses to run as root, so under root it
//! runs as the `postgres` user the package creates, owning the directory
//! (under another user, as that user). Clients connect as the database
//! user `postgres` (trust authentication on the socket).
//!
//! [`PgServer::start`] waits until the server answers; [`PgServer::database`]
//! makes a fresh database; dropping the guard stops the server (immediate
//! shutdown, then SIGKILL) and removes the directory, even when the test
//! panicked. Each test starts its own server (about a second): a server
//! shared by a test binary would outlive its last test, because statics
//! are never dropped, and leave its directory behind. The server also gets
//! SIGQUIT if the thread that started it dies (`setpriv --pdeathsig`), so
//! a test process killed outright leaves no server running.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::command::checked;
use crate::poll_until;

/// The user the server runs as (Debian's `postgresql` package creates it).
pub const USER: &str = "postgres";

/// The server's settings beyond its data directory and socket directory:
/// no TCP at all, and room for the connections of several gateways'
/// pools. Shared with the lab's own server.
pub const SETTINGS: &[&str] = &["-c", "listen_addresses=", "-c", "max_connections=200"];

/// A running server and its directory, both gone on drop.
#[derive(Debug)]
pub struct PgServer {
    root: PathBuf,
    child: Option<Child>,
    bin: PathBuf,
    /// The port: the Unix socket's name (`.s.PGSQL.PORT`), and the TCP
    /// port when [`Self::tls`] is set.
    port: u16,
    /// Whether it listens on TCP 127.0.0.1 with TLS (and nothing else on
    /// TCP), with these certificates.
    tls: Option<crate::tls::Issued>,
}

/// The port PostgreSQL uses when told none.
const DEFAULT_PORT: u16 = 5432;

/// Why PostgreSQL cannot be run here.
#[derive(Debug, thiserror::Error)]
pub enum PgMissing {
    /// No `/usr/lib/postgresql/*/bin/postgres`.
    #[error(
        "no /usr/lib/postgresql/*/bin/postgres: install Debian's postgresql (scripts/install-deps test)"
    )]
    NoServer,
    /// No `postgres` user to run it as (root may not).
    #[error("no `postgres` user: install Debian's postgresql, which creates it")]
    NoUser,
    /// The user database or a directory could not be read or changed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// The directory of the highest installed PostgreSQL's binaries.
pub fn find_bin_dir() -> Result<PathBuf, PgMissing> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| PgMissing::NoServer)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or(PgMissing::NoServer)
}

/// [`find_bin_dir`] for a test: panics naming the remedy.
pub fn bin_dir() -> PathBuf {
    find_bin_dir().unwrap_or_else(|e| panic!("{e}"))
}

/// Gives `dir` to the `postgres` user when running as root (the server
/// writes its data and socket there); does nothing otherwise.
pub fn give_to_postgres(dir: &Path) -> Result<(), PgMissing> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let io = |what: String| {
        move |e: nix::Error| PgMissing::Io {
            what,
            source: std::io::Error::from(e),
        }
    };
    let pw = nix::unistd::User::from_name(USER)
        .map_err(io("reading the user database".into()))?
        .ok_or(PgMissing::NoUser)?;
    nix::unistd::chown(dir, Some(pw.uid), Some(pw.gid))
        .map_err(io(format!("giving {} to {USER}", dir.display())))
}

/// The command line that runs a server program (`initdb`, `postgres`) in
/// a clean environment as the `postgres` user without supplementary groups
/// when running as root (PostgreSQL refuses root), as the current user
/// otherwise. With `dies_with_thread`, it gets SIGQUIT when the thread
/// that starts it ends (a test's fixture); without, it outlives its
/// starter (the lab's server, which `cordon-lab down` ends). Every program
/// on it execs the next, so the pid of the child is the server's own.
pub fn server_argv(program: &Path, dies_with_thread: bool) -> Vec<OsString> {
    let mut v: Vec<OsString> = ["env", "-i", "LC_ALL=C", "setpriv"]
        .into_iter()
        .map(OsString::from)
        .collect();
    if nix::unistd::geteuid().is_root() {
        v.extend(
            ["--reuid", USER, "--regid", USER, "--clear-groups"]
                .into_iter()
                .map(OsString::from),
        );
    }
    if dies_with_thread {
        v.extend(["--pdeathsig", "QUIT"].into_iter().map(OsString::from));
    }
    v.push("--".into());
    v.push(program.into());
    v
}

/// True when a server answers on the socket in `socket_dir`
/// (`pg_isready`, at most a second).
pub fn is_ready(bin: &Path, socket_dir: &Path) -> bool {
    is_ready_on(bin, socket_dir, DEFAULT_PORT)
}

/// [`is_ready`] for a server on `port`.
fn is_ready_on(bin: &Path, socket_dir: &Path, port: u16) -> bool {
    Command::new(bin.join("pg_isready"))
        .arg("-h")
        .arg(socket_dir)
        .args(["-p", &port.to_string(), "-U", USER, "-t", "1", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command of the server's, dying with the thread that starts it.
fn as_postgres(program: &Path) -> Command {
    let argv = server_argv(program, true);
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

impl PgServer {
    /// Initialises a data directory and starts a server on a Unix socket in
    /// it, returning once it accepts connections.
    pub fn start() -> PgServer {
        let mut server = PgServer::init();
        server.run();
        server
    }

    /// [`Self::start`], and the server also listens on TCP 127.0.0.1 (a
    /// free port) for TLS connections only (`ssl = on`, every TCP line of
    /// `pg_hba.conf` made `hostssl`): its certificate, for `127.0.0.1`
    /// and `localhost`, is signed by a CA of the test's
    /// ([`Self::tls_ca_pem`]). [`Self::url`] is then the TCP one. The
    /// socket stays (trusted, plain) for the test's own tools.
    pub fn start_tls() -> PgServer {
        let mut server = PgServer::init();
        let issued = crate::tls::Issued::new("cordon test CA", &["127.0.0.1", "localhost"]);
        let data = server.root.join("data");
        for (file, pem) in [
            ("server.crt", &issued.cert_pem),
            ("server.key", &issued.key_pem),
        ] {
            let path = data.join(file);
            std::fs::write(&path, pem).expect("write the server's certificate");
            // PostgreSQL refuses a key others may read.
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("make the key private");
            give_to_postgres(&path).unwrap_or_else(|e| panic!("{e}"));
        }
        let hba = data.join("pg_hba.conf");
        let text = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        let ssl_only: String = text
            .lines()
            .map(|l| match l.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&hba, ssl_only).expect("write pg_hba.conf");
        server.port = free_port();
        server.tls = Some(issued);
        server.run();
        server
    }

    /// The CA that signed the server's certificate (after
    /// [`Self::start_tls`]).
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// The TCP port, when the server listens on one ([`Self::start_tls`]).
    pub fn tcp_port(&self) -> Option<u16> {
        self.tls.as_ref().map(|_| self.port)
    }

    /// A fresh data directory, the server not started.
    fn init() -> PgServer {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir();
        let root = std::env::temp_dir().join(format!(
            "cordon-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&root).expect("create the server's directory");
        let server = PgServer {
            root,
            child: None,
            bin,
            port: DEFAULT_PORT,
            tls: None,
        };
        give_to_postgres(&server.root).unwrap_or_else(|e| panic!("{e}"));
        let data = server.root.join("data");
        let mut initdb = as_postgres(&server.bin.join("initdb"));
        initdb
            .args(["--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"])
            .args(["--username", USER, "-D"])
            .arg(&data);
        checked(initdb, Duration::from_secs(60));
        server
    }

    /// Runs the server on the data directory (again, after [`PgServer::kill`])
    /// and returns once it accepts connections.
    fn run(&mut self) {
        let mut postgres = as_postgres(&self.bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-k")
            .arg(&self.root)
            .args(SETTINGS)
            .args(["-c", &format!("port={}", self.port)]);
        if self.tls.is_some() {
            postgres.args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "ssl=on",
                "-c",
                "ssl_cert_file=server.crt",
                "-c",
                "ssl_key_file=server.key",
            ]);
        }
        postgres.stdin(Stdio::null()).stdout(Stdio::null()).stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.root.join("log"))
                .expect("open the log"),
        );
        self.child = Some(postgres.spawn().expect("start postgres"));
        let started = Instant::now();
        let (bin, root, port) = (self.bin.clone(), self.root.clone(), self.port);
        let child = &mut self.child;
        poll_until(
            Duration::from_secs(30),
            "PostgreSQL to accept connections",
            || {
                if let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait) {
                    panic!(
                        "postgres exited ({status}) after {:?}: {}",
                        started.elapsed(),
                        std::fs::read_to_string(root.join("log")).unwrap_or_default()
                    );
                }
                is_ready_on(&bin, &root, port).then_some(())
            },
        );
    }

    /// Starts the server again on its data after [`PgServer::kill`] (as an
    /// operator restarts a crashed database), returning once it accepts
    /// connections; does nothing while it runs.
    pub fn restart(&mut self) {
        if self.child.is_none() {
            self.run();
        }
    }

    /// The directory of the server's socket (libpq's `host`).
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// A key=value connection string for `dbname` on this server: its
    /// socket, or TCP 127.0.0.1 after [`Self::start_tls`].
    pub fn url(&self, dbname: &str) -> String {
        match self.tls {
            None => self.socket_url(USER, dbname),
            Some(_) => format!(
                "host=127.0.0.1 port={} user={USER} dbname={dbname}",
                self.port
            ),
        }
    }

    /// A client program of the server's (`createdb`, `psql`) on its
    /// socket, as `user`.
    fn client(&self, program: &str, user: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.arg("-h")
            .arg(&self.root)
            .args(["-p", &self.port.to_string(), "-U", user]);
        c
    }

    /// Creates a database named `name` (a plain identifier) and returns
    /// its connection string.
    pub fn database(&self, name: &str) -> String {
        let mut c = self.client("createdb", USER);
        c.arg(name);
        checked(c, Duration::from_secs(30));
        self.url(name)
    }

    /// Makes a login role `user` that must give `password`
    /// (SCRAM-SHA-256 on the socket, while every other role stays trusted),
    /// owning database `dbname` (created here); returns its connection
    /// string, without the password.
    pub fn password_role(&self, user: &str, password: &str, dbname: &str) -> String {
        let hba = self.root.join("data/pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        std::fs::write(&hba, format!("local all {user} scram-sha-256\n{old}"))
            .expect("write pg_hba.conf");
        let mut c = self.client("psql", USER);
        c.args(["-d", "postgres", "-v", "ON_ERROR_STOP=1"])
            // One statement per -c: psql runs a -c of several statements
            // as one transaction, and CREATE DATABASE refuses that.
            .arg("-c")
            .arg(format!(
                "CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'"
            ))
            .arg("-c")
            .arg(format!("CREATE DATABASE \"{dbname}\" OWNER \"{user}\""))
            .args(["-c", "SELECT pg_reload_conf()"]);
        checked(c, Duration::from_secs(30));
        // The reload is a signal to the server: wait until it asks this
        // role for the password.
        poll_until(
            Duration::from_secs(10),
            "pg_hba.conf to be reloaded",
            || {
                let trusted = self
                    .client("psql", user)
                    .args(["-w", "-d", dbname, "-c", "SELECT 1"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                (!trusted).then_some(())
            },
        );
        self.socket_url(user, dbname)
    }

    /// A connection string for `dbname` as `user` on the server's socket.
    fn socket_url(&self, user: &str, dbname: &str) -> String {
        let url = format!("host={} user={user} dbname={dbname}", self.root.display());
        match self.port {
            DEFAULT_PORT => url,
            port => format!("{url} port={port}"),
        }
    }

    /// Stops the server at once (as a crash would), keeping its data, so a
    /// test can show what a client sees when the server is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid =
                nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid fits an i32"));
            // SIGQUIT: immediate shutdown, the postmaster takes its
            // backends down with it; SIGKILL if it lingers.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP port on 127.0.0.1 that is free now (the kernel's pick; another
/// program could take it before the server binds, which then fails
/// loudly rather than silently).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free TCP port on 127.0.0.1")
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests;
