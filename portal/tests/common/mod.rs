//! The portal under test: the real binary on loopback ports, a stand-in for
//! `cordond`'s portal socket answering canned facts, and `curl` as the client.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use cordon_proto::portal::{HostState, HostStatus, Reason, Request, Response, SelfReleaseOutcome};
use cordon_proto::time::{Clock, SystemClock};
use cordon_runtime::frame::{framed, recv, send};
use cordon_testkit::{Fixture, poll_until};

/// What the stand-in answers; tests change it while the portal runs.
#[derive(Debug, Clone)]
pub struct Answers {
    /// `None`: answer with an error, as a confused daemon would.
    pub status: Option<HostStatus>,
    pub release: SelfReleaseOutcome,
    /// Requests seen.
    pub seen: Vec<Request>,
    /// How long a status answer takes (a busy daemon).
    pub status_delay: Duration,
}

/// A quarantined subscriber: 2 hours in, 412 attempts, the last 25 minutes
/// ago, quiet period 2 hours, ends in 3 days.
pub fn quarantined() -> HostStatus {
    let now = SystemClock.now();
    HostStatus {
        subscriber: None,
        acknowledged_until: None,
        address: "127.0.0.1".into(),
        state: HostState::Quarantined,
        reason: Some(Reason::Detection),
        since: Some(now - 2 * 3600),
        until: Some(now + 3 * 86_400),
        smtp_attempts: 412,
        last_smtp_attempt: Some(now - 25 * 60),
        quiet_period_s: 7_200,
        self_releases_left: 2,
    }
}

pub fn clean() -> HostStatus {
    HostStatus {
        subscriber: None,
        acknowledged_until: None,
        address: "127.0.0.1".into(),
        state: HostState::Clean,
        reason: None,
        since: None,
        until: None,
        smtp_attempts: 0,
        last_smtp_attempt: None,
        quiet_period_s: 7_200,
        self_releases_left: 2,
    }
}

/// Runs `task` to its end on a thread of its own, on a current-thread
/// tokio runtime: a server the test talks to as a client would.
pub fn in_background(task: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(task);
    });
}

/// The self-release form's token in a cleanup page.
pub fn csrf_token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// Serves the portal socket from a thread of its own.
pub struct StandIn {
    pub answers: Arc<Mutex<Answers>>,
    pub path: PathBuf,
}

impl StandIn {
    pub fn start(dir: &Path, status: Option<HostStatus>) -> StandIn {
        let path = dir.join("portal.sock");
        let answers = Arc::new(Mutex::new(Answers {
            status,
            release: SelfReleaseOutcome::Released,
            seen: Vec::new(),
            status_delay: Duration::ZERO,
        }));
        let (ready_tx, ready_rx) = mpsc::channel();
        let shared = Arc::clone(&answers);
        let sock = path.clone();
        in_background(async move {
            let listener = tokio::net::UnixListener::bind(&sock).unwrap();
            // The portal drops root to `cordon-portal` in these tests.
            std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
            ready_tx.send(()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let mut io = framed(stream);
                    while let Ok(Some(req)) = recv::<Request>(&mut io).await {
                        let delay = match req {
                            Request::Status { .. } => shared.lock().unwrap().status_delay,
                            _ => Duration::ZERO,
                        };
                        tokio::time::sleep(delay).await;
                        let answer = {
                            let mut a = shared.lock().unwrap();
                            a.seen.push(req.clone());
                            match req {
                                Request::Status { .. } => match &a.status {
                                    Some(s) => Response::Status(s.clone()),
                                    None => Response::Error {
                                        message: "stand-in says no".into(),
                                    },
                                },
                                Request::SelfRelease { .. } => {
                                    Response::SelfRelease(a.release.clone())
                                }
                                Request::Acknowledge { .. } => Response::Acknowledged {
                                    acknowledged: a.status.as_ref().is_some_and(|s| {
                                        s.state == cordon_proto::portal::HostState::Noticed
                                    }),
                                },
                            }
                        };
                        if send(&mut io, &answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        StandIn { answers, path }
    }

    pub fn set_status(&self, status: Option<HostStatus>) {
        self.answers.lock().unwrap().status = status;
    }

    pub fn set_status_delay(&self, delay: Duration) {
        self.answers.lock().unwrap().status_delay = delay;
    }

    pub fn set_release(&self, outcome: SelfReleaseOutcome) {
        self.answers.lock().unwrap().release = outcome;
    }

    pub fn seen(&self) -> Vec<Request> {
        self.answers.lock().unwrap().seen.clone()
    }
}

/// Options for one portal.
#[derive(Default)]
pub struct Setup {
    /// Facts the stand-in starts with; `None` answers errors.
    pub status: Option<HostStatus>,
    /// Do not start the stand-in at all (cordond down).
    pub no_cordond: bool,
    /// Files for the tools directory: (name, bytes).
    pub tools: Vec<(&'static str, Vec<u8>)>,
    /// Extra `portal.` entries: (key, YAML value).
    pub portal: Vec<(&'static str, String)>,
    /// `portal.support` as a YAML flow mapping; `None` gives a phone, an
    /// e-mail address and opening hours.
    pub support: Option<&'static str>,
}

/// A running `cordon-portal`, killed on drop.
pub struct Portal {
    child: Child,
    pub dir: tempfile::TempDir,
    pub portal: SocketAddr,
    pub redirect: SocketAddr,
    /// The captive listener (IPv4): where the kernel sends a quarantined
    /// host's own connections to the portal.
    pub captive: SocketAddr,
    /// The notice listener (IPv4).
    pub notice: SocketAddr,
    /// `portal.metrics_listen` as bound (`None` when turned off).
    pub metrics: Option<SocketAddr>,
    pub cordond: Option<StandIn>,
    pub tools_dir: PathBuf,
    pub stderr_path: PathBuf,
}

pub const PUBLIC_URL: &str = "http://portal.isp.test:8080/";

fn open_up(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Portal {
    pub fn start(setup: Setup) -> Portal {
        let dir = tempfile::tempdir().unwrap();
        open_up(dir.path());
        let tools_dir = dir.path().join("tools");
        std::fs::create_dir(&tools_dir).unwrap();
        open_up(&tools_dir);
        let mut list = String::from("tools:\n");
        for (name, bytes) in &setup.tools {
            std::fs::write(tools_dir.join(name), bytes).unwrap();
            list.push_str(&format!(
                "  - file: {name}\n    name: {{ en: \"Tool {name}\", es: \"Herramienta {name}\", da: \"Værktøj {name}\" }}\n    description: {{ en: \"Cleans Windows.\", es: \"Limpia Windows.\", da: \"Renser Windows.\" }}\n"
            ));
        }
        if setup.tools.is_empty() {
            list.push_str("  []\n");
            list = "tools: []\n".into();
        }
        std::fs::write(tools_dir.join("tools.yaml"), list).unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"not for subscribers").unwrap();

        let cordond = (!setup.no_cordond).then(|| StandIn::start(dir.path(), setup.status.clone()));
        let mut config = portal_fixture(&dir.path().join("portal.sock"), &tools_dir)
            .set("portal.listen", r#"["127.0.0.1:0"]"#)
            .set("portal.redirect_port", 0)
            .set("portal.notice_port", 0)
            .set("portal.captive_port", 0)
            .set(
                "portal.support",
                setup.support.unwrap_or(
                    "{ phone: \"+45 70 00 00 00\", email: support@isp.test, hours: \"8-22\" }",
                ),
            );
        if nix::unistd::geteuid().is_root() {
            config = config.set("portal.user", "cordon-portal");
        }
        // Metrics on a port of their own choosing: parallel portals must
        // not fight over 9465.
        if !setup.portal.iter().any(|(k, _)| *k == "metrics_listen") {
            config = config.set("portal.metrics_listen", r#""127.0.0.1:0""#);
        }
        for (key, value) in &setup.portal {
            config = config.set(&format!("portal.{key}"), value);
        }
        let config_path = config.write(dir.path());
        let stderr_path = dir.path().join("portal.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();

        let mut child = Command::new(env!("CARGO_BIN_EXE_cordon-portal"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "cordon_portal=debug,info")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        // One `listening on ADDR ROLE` line per socket, the notice
        // listener's last; the `metrics on` line comes after, when metrics
        // are served.
        let mut addrs: Vec<(SocketAddr, String)> = Vec::new();
        let mut metrics = None;
        let metrics_off = setup
            .portal
            .iter()
            .any(|(k, v)| *k == "metrics_listen" && v == "null");
        let deadline = Instant::now() + Duration::from_secs(30);
        let has = |addrs: &[(SocketAddr, String)], role: &str| addrs.iter().any(|(_, r)| r == role);
        while !has(&addrs, "notice") || (metrics.is_none() && !metrics_off) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        let (addr, role) = a.split_once(' ').unwrap();
                        addrs.push((addr.parse().unwrap(), role.to_owned()));
                    } else if let Some(a) = line.strip_prefix("metrics on ") {
                        metrics = Some(a.parse::<SocketAddr>().unwrap());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the portal did not print its listening lines: {}",
                        std::fs::read_to_string(&stderr_path).unwrap_or_default()
                    );
                }
            }
        }
        let port_of = |role: &str| {
            let (a, _) = addrs.iter().find(|(_, r)| r == role).unwrap();
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        };
        Portal {
            child,
            dir,
            portal: addrs[0].0,
            redirect: port_of("redirect"),
            captive: port_of("captive"),
            notice: port_of("notice"),
            metrics,
            cordond,
            tools_dir,
            stderr_path,
        }
    }

    /// Presses "I have cleaned my computer" as a browser's form does:
    /// POST /release with the page's `token` and the language `lang`.
    pub fn press(&self, token: &str, lang: &str) -> Answer {
        curl(&[
            "-X",
            "POST",
            "--data-urlencode",
            &format!("csrf={token}"),
            "-d",
            &format!("lang={lang}"),
            &self.url("/release"),
        ])
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.portal)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stand_in(&self) -> &StandIn {
        self.cordond.as_ref().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Still accepting and answering.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none() && curl(&[&self.url("/robots.txt")]).status == 200
    }

    /// Sends SIGTERM and waits for the exit, with a deadline.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        poll_until(
            Duration::from_secs(15),
            "the portal to stop on SIGTERM",
            || self.child.try_wait().unwrap(),
        )
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer as curl saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl with `args` (plus `-s -S -i`, a time limit and `--path-as-is`
/// so `..` reaches the server as written) and parses the last response.
pub fn curl(args: &[&str]) -> Answer {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-S", "-i", "--path-as-is", "--max-time", "20"])
        .args(args);
    parse_http(&cordon_testkit::command::checked(cmd, Duration::from_secs(30)).stdout)
}

/// Parses a raw HTTP/1.1 response (headers, blank line, body).
pub fn parse_http(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body,
    }
}

/// The config of a portal with its tools in `tools` and cordond's portal
/// socket at `socket`: the name and support lines the pages show.
pub fn portal_fixture(socket: &Path, tools: &Path) -> Fixture {
    Fixture::new()
        .prefixes("[100.64.0.0/16]")
        .set("interfaces.uplink", "[up0]")
        .set_path("control.portal_socket", socket)
        .set("portal.public_url", PUBLIC_URL)
        .set_path("portal.tools_dir", tools)
        .set("portal.isp_name", "Example Net")
        .set(
            "portal.support",
            r#"{ phone: "+45 70 00 00 00", email: support@isp.test }"#,
        )
}
