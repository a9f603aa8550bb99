//! A machine of the lab (a subscriber, the gateway, the internet) and what a
//! test does from it: run a program, fetch a URL, send mail, try a TCP
//! connection, ask DNS. Everything runs inside that machine's namespace.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Output;
use std::time::Duration;

use crate::error::LabError;
use crate::internet::dns::{self, DnsOutcome, RecordType};
use crate::netns;
use crate::probe::{self, TcpOutcome};
use cordon_testkit::command::output_within;

/// How long [`Host::exec`] lets a program run.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

/// One namespace of the lab and its main addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    netns: String,
    ipv4: Ipv4Addr,
    ipv6: Ipv6Addr,
}

impl Host {
    pub(crate) fn new(netns: String, ipv4: Ipv4Addr, ipv6: Ipv6Addr) -> Self {
        Host { netns, ipv4, ipv6 }
    }

    /// Its namespace's name.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Its IPv4 address (a subscriber's own; the gateway's portal address;
    /// the internet's end of the uplink).
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }

    /// Its IPv6 address.
    pub fn ipv6(&self) -> Ipv6Addr {
        self.ipv6
    }

    /// Its address of the same family as `like`.
    pub fn addr_like(&self, like: IpAddr) -> IpAddr {
        if like.is_ipv4() {
            self.ipv4.into()
        } else {
            self.ipv6.into()
        }
    }

    /// Runs `program args` here and returns its output, whatever its exit
    /// status; killed after [`EXEC_TIMEOUT`].
    pub fn exec<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Result<Output, LabError> {
        self.exec_within(program, args, EXEC_TIMEOUT)
    }

    /// Like [`exec`](Self::exec) with a deadline of your own.
    pub fn exec_within<S: AsRef<OsStr>>(
        &self,
        program: &str,
        args: &[S],
        within: Duration,
    ) -> Result<Output, LabError> {
        let mut cmd = netns::command(&self.netns, program);
        cmd.args(args);
        Ok(output_within(cmd, within)?)
    }

    /// Runs `f` on a thread inside this namespace (sockets it opens are here).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        netns::in_netns(&self.netns, f)
    }

    /// Tries one TCP connection and says how it ended.
    pub fn tcp_connect(
        &self,
        addr: impl Into<IpAddr>,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpOutcome, LabError> {
        let to = SocketAddr::new(addr.into(), port);
        self.run(|| probe::tcp(to, timeout))
    }

    /// Tries one TCP connection to each target, all at once (a spam burst,
    /// a scan), and says how each ended, in the targets' order.
    pub fn tcp_connect_all(
        &self,
        targets: &[(IpAddr, u16)],
        timeout: Duration,
    ) -> Result<Vec<TcpOutcome>, LabError> {
        let targets: Vec<SocketAddr> = targets
            .iter()
            .map(|&(a, p)| SocketAddr::new(a, p))
            .collect();
        self.run(|| probe::tcp_many(&targets, timeout))?
    }

    /// What a spam zombie does: `attempts` new port-25 connections at once,
    /// to other networks' mail servers of `like`'s family (round robin over
    /// the 64, so up to 64 distinct destinations), each given a second.
    pub fn flood_smtp(&self, attempts: usize, like: IpAddr) -> Result<Vec<TcpOutcome>, LabError> {
        let servers: Vec<IpAddr> = crate::addresses::mail_servers()
            .into_iter()
            .filter(|a| a.is_ipv4() == like.is_ipv4())
            .collect();
        let targets: Vec<(IpAddr, u16)> = servers
            .iter()
            .cycle()
            .take(attempts)
            .map(|&a| (a, 25))
            .collect();
        self.tcp_connect_all(&targets, Duration::from_secs(1))
    }

    /// Fetches `url` with curl (5 s limit, no proxy, redirects not followed);
    /// `extra` goes before the URL (e.g. `["-H", "Accept-Language: es"]`).
    pub fn curl(&self, url: &str, extra: &[&str]) -> Result<CurlReply, LabError> {
        let marker = CurlReply::MARKER;
        let write_out = format!("\n{marker}%{{http_code}}");
        let mut args: Vec<&str> = vec![
            "-sS",
            "--noproxy",
            "*",
            "--max-time",
            "5",
            "-D",
            "-",
            "-w",
            &write_out,
        ];
        args.extend_from_slice(extra);
        args.push(url);
        let out = self.exec_within("curl", &args, Duration::from_secs(30))?;
        Ok(CurlReply::parse(&out))
    }

    /// Sends one mail with swaks (no TLS, no AUTH; 5 s timeout); `extra` is
    /// appended (e.g. `["--to", "x@y"]`).
    pub fn swaks(
        &self,
        server: impl Into<IpAddr>,
        port: u16,
        extra: &[&str],
    ) -> Result<SwaksReply, LabError> {
        let server = server.into().to_string();
        let port = port.to_string();
        let mut args: Vec<&str> = vec![
            "--server",
            &server,
            "--port",
            &port,
            "--from",
            "subscriber@lab.example",
            "--to",
            "someone@example.net",
            "--helo",
            "subscriber.lab.example",
            "--timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        let out = self.exec_within("swaks", &args, Duration::from_secs(30))?;
        Ok(SwaksReply {
            exit_code: out.status.code(),
            transcript: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }

    /// Asks `server` for `name` over UDP.
    pub fn dns(
        &self,
        server: impl Into<IpAddr>,
        name: &str,
        rtype: RecordType,
        timeout: Duration,
    ) -> Result<DnsOutcome, LabError> {
        let server = server.into();
        self.run(|| dns::ask(server, name, rtype, timeout))?
    }
}

/// A URL for `addr:port` (brackets for IPv6) and `path` (starting with `/`).
pub fn url(addr: impl Into<IpAddr>, port: u16, path: &str) -> String {
    let addr = addr.into();
    let host = match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    format!("http://{host}:{port}{path}")
}

/// What curl got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurlReply {
    /// curl's exit code: 0 done, 7 could not connect (refused/reset),
    /// 28 timed out, 52 empty reply, 56 reset while receiving.
    pub exit_code: Option<i32>,
    /// The HTTP status, when a response came.
    pub status: Option<u16>,
    /// Response headers (the last response's, names as sent).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
    /// curl's error message, if any.
    pub stderr: String,
}

impl CurlReply {
    const MARKER: &'static str = "__cordon_lab_http_code=";

    fn parse(out: &Output) -> Self {
        let text = String::from_utf8_lossy(&out.stdout);
        let (mut rest, code) = match text.rsplit_once(Self::MARKER) {
            Some((before, code)) => (before.strip_suffix('\n').unwrap_or(before), code.trim()),
            None => (text.as_ref(), ""),
        };
        let mut headers = Vec::new();
        // One header block per response (several with -L or a 100 Continue).
        while rest.starts_with("HTTP/") {
            let (head, body) = match rest.find("\r\n\r\n") {
                Some(i) => (&rest[..i], &rest[i + 4..]),
                None => (rest, ""),
            };
            headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            rest = body;
        }
        CurlReply {
            exit_code: out.status.code(),
            status: code.parse().ok().filter(|&c| c != 0),
            headers,
            body: rest.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when this came from the lab's real web server (not the portal).
    pub fn from_real_site(&self) -> bool {
        self.header(crate::internet::http::MARKER_HEADER)
            == Some(crate::internet::http::MARKER_VALUE)
            && self.body.starts_with(crate::internet::http::BODY_PREFIX)
    }

    /// True when the connection was refused or reset (curl 7, 35 or 56).
    pub fn was_reset(&self) -> bool {
        matches!(self.exit_code, Some(7 | 35 | 56)) && self.status.is_none()
    }

    /// True when nothing came back in time (curl 28).
    pub fn timed_out(&self) -> bool {
        self.exit_code == Some(28)
    }
}

/// What swaks did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwaksReply {
    /// swaks's exit code (0: delivered; 2: could not connect; others: the
    /// server refused a step).
    pub exit_code: Option<i32>,
    /// The SMTP conversation as swaks printed it.
    pub transcript: String,
}

impl SwaksReply {
    /// True when the message was accepted.
    pub fn delivered(&self) -> bool {
        self.exit_code == Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn out(code: i32, stdout: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn parses_headers_body_and_status() {
        let r = CurlReply::parse(&out(
            0,
            "HTTP/1.1 200 OK\r\nX-Cordon-Lab: real-site\r\nContent-Length: 10\r\n\r\nreal site\n\n__cordon_lab_http_code=200",
        ));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.header("x-cordon-lab"), Some("real-site"));
        assert_eq!(r.body, "real site\n");
        assert!(r.from_real_site());
    }

    #[test]
    fn a_refused_connection_has_no_status() {
        let r = CurlReply::parse(&out(7, "\n__cordon_lab_http_code=000"));
        assert_eq!(r.status, None);
        assert!(r.was_reset());
        assert!(!r.timed_out());
    }

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url(Ipv4Addr::new(192, 0, 2, 80), 80, "/"),
            "http://192.0.2.80:80/"
        );
        assert_eq!(
            url("2001:db8::1".parse::<IpAddr>().unwrap(), 443, "/x"),
            "http://[2001:db8::1]:443/x"
        );
    }
}
