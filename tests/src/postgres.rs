//! The lab's own PostgreSQL, shared by its gateways (a fleet): Debian's
//! server, its data and its Unix socket in the run directory
//! (`RUN_DIR/pg/`, no TCP), running inside the internet namespace as a
//! `LabProcess`. It is not the test kit's fixture, whose server dies with
//! the thread that started it: a lab built by `cordon-lab up` outlives the
//! process that built it, and its server must too. The lab's teardown ends
//! it with every other process of the lab's namespaces and removes its
//! directory with the run directory.
//!
//! Gateways reach it by its socket (namespaces share the file system) as
//! the database user `postgres` (trust on the socket) in the database
//! [`DATABASE`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cordon_testkit::command::run_ok;
use cordon_testkit::pg;
use nix::sys::signal::Signal;

use crate::error::LabError;
use crate::netns;
use crate::process::LabProcess;

/// The database the gateways share.
pub const DATABASE: &str = "cordon";

/// What the lab's server runs as, for `LabProcess::what`.
pub const LABEL: &str = "postgres";

/// How long `initdb` and `createdb` may take.
const SETUP_WITHIN: Duration = Duration::from_secs(60);

/// How long the server gets to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// Where the lab's server lives and how to start it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPostgres {
    /// Its directory: the socket directory, with `data/` and `postgres.log`.
    dir: PathBuf,
    /// PostgreSQL's binaries.
    bin: PathBuf,
    /// The namespace it runs in (the lab's internet).
    netns: String,
}

/// The socket directory of a lab whose run directory is `run_dir`.
pub fn socket_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("pg")
}

/// The `store.url` of a gateway of the lab whose server's socket is in
/// `socket_dir` (a libpq key=value string).
pub fn url(socket_dir: &Path) -> String {
    format!(
        "host={} dbname={DATABASE} user={}",
        socket_dir.display(),
        pg::USER
    )
}

impl LabPostgres {
    /// Finds the binaries (before anything of the lab exists, so a
    /// machine without PostgreSQL fails the lab at once).
    pub fn find(run_dir: &Path, netns: &str) -> Result<Self, LabError> {
        let bin = pg::find_bin_dir()?;
        Ok(LabPostgres {
            dir: socket_dir(run_dir),
            bin,
            netns: netns.to_owned(),
        })
    }

    /// The socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the data directory (`initdb` as the `postgres` user, in the
    /// lab's namespace), starts the server and creates [`DATABASE`].
    pub fn init(&self) -> Result<LabProcess, LabError> {
        std::fs::create_dir(&self.dir)
            .map_err(LabError::io(format!("creating {}", self.dir.display())))?;
        pg::give_to_postgres(&self.dir)?;
        let mut initdb = self.command(&self.bin.join("initdb"));
        initdb
            .args(["--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"])
            .args(["--username", pg::USER, "-D"])
            .arg(self.data());
        run_ok(initdb, SETUP_WITHIN)?;
        let server = self.start()?;
        let mut createdb = Command::new(self.bin.join("createdb"));
        createdb
            .arg("-h")
            .arg(&self.dir)
            .args(["-U", pg::USER, DATABASE]);
        run_ok(createdb, SETUP_WITHIN)?;
        Ok(server)
    }

    /// Starts the server on the data directory [`Self::init`] made and
    /// returns once it accepts connections.
    pub fn start(&self) -> Result<LabProcess, LabError> {
        let postgres = self.bin.join("postgres");
        let mut argv: Vec<String> = pg::server_argv(&postgres, false)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        argv.extend(["-D".to_owned(), self.data().display().to_string()]);
        argv.extend(["-k".to_owned(), self.dir.display().to_string()]);
        argv.extend(pg::SETTINGS.iter().map(|s| (*s).to_owned()));
        // A killed server loses nothing without fsync (what it wrote is in
        // the kernel's page cache; only the machine's crash would lose it,
        // and no lab outlives that), and a restart after a kill then skips
        // syncing its whole data directory, which takes seconds.
        argv.extend(["-c".to_owned(), "fsync=off".to_owned()]);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let mut p = LabProcess::spawn(
            LABEL,
            &self.netns,
            Path::new(&argv[0]),
            &args,
            self.dir.join("postgres.log"),
        )?
        .stopped_by(Signal::SIGINT);
        p.wait_ready(
            READY_WITHIN,
            |_| false,
            || pg::is_ready(&self.bin, &self.dir),
        )?;
        Ok(p)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server program run once in the lab's namespace, as `postgres`.
    fn command(&self, program: &Path) -> Command {
        let argv = pg::server_argv(program, false);
        let mut c = netns::command(&self.netns, &argv[0].to_string_lossy());
        c.args(&argv[1..]);
        c
    }
}

impl crate::Lab {
    /// Kills the lab's PostgreSQL as a crash would (SIGQUIT: an immediate
    /// shutdown, its backends with it, no checkpoint), keeping its data;
    /// [`Self::start_postgres`] brings it back.
    pub fn kill_postgres(&mut self) -> Result<(), LabError> {
        let i = self
            .processes
            .iter()
            .position(|p| p.what() == LABEL)
            .ok_or_else(|| {
                LabError::InvalidOption("this lab's PostgreSQL is not running".into())
            })?;
        let mut server = self.processes.remove(i);
        server.end_with(Signal::SIGQUIT);
        Ok(())
    }

    /// Starts the lab's PostgreSQL again on its data after
    /// [`Self::kill_postgres`], returning once it accepts connections; the
    /// killed run's log is kept as `postgres.killed-N.log`.
    pub fn start_postgres(&mut self) -> Result<(), LabError> {
        let pg = self.postgres.clone().ok_or_else(|| {
            LabError::InvalidOption("this lab runs no PostgreSQL (one gateway on SQLite)".into())
        })?;
        if self.processes.iter().any(|p| p.what() == LABEL) {
            return Err(LabError::InvalidOption(
                "this lab's PostgreSQL is running already".into(),
            ));
        }
        let n = (1..)
            .find(|n| !pg.dir.join(format!("postgres.killed-{n}.log")).exists())
            .unwrap_or(1);
        let kept = pg.dir.join(format!("postgres.killed-{n}.log"));
        std::fs::rename(pg.dir.join("postgres.log"), &kept)
            .map_err(LabError::io(format!("keeping {}", kept.display())))?;
        let server = pg.start()?;
        self.processes.push(server);
        Ok(())
    }
}
