//! The fixture against the real server: it starts on its socket only, is
//! gone after its guard, and with TLS takes only encrypted connections on
//! TCP.

use super::*;

/// The server answers on its socket only, and dropping the guard stops
/// it and removes its directory.
#[test]
fn a_server_starts_on_its_socket_and_is_gone_after_drop() {
    let server = PgServer::start();
    let dir = server.socket_dir().to_owned();
    assert!(dir.join(".s.PGSQL.5432").exists());
    let url = server.database("t1");
    assert!(url.contains("dbname=t1"), "{url}");
    let pid = std::fs::read_to_string(dir.join("data/postmaster.pid"))
        .expect("postmaster.pid")
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
        .expect("a pid");
    let mut psql = Command::new(server.bin.join("psql"));
    psql.arg("-h")
        .arg(&dir)
        .args(["-U", USER, "-d", "t1", "-Atc", "SHOW listen_addresses"]);
    let out = checked(psql, Duration::from_secs(30));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "no TCP");
    drop(server);
    assert!(!dir.exists(), "{} removed", dir.display());
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(!alive, "postgres {pid} stopped");
}

/// With TLS, TCP takes encrypted connections only; the socket stays.
#[test]
fn a_tls_server_takes_only_encrypted_connections_on_tcp() {
    let server = PgServer::start_tls();
    let url = server.database("t1");
    let port = server.tcp_port().expect("a TCP port");
    assert!(
        url.starts_with(&format!("host=127.0.0.1 port={port} ")),
        "{url}"
    );
    assert!(server.tls_ca_pem().is_some());
    let psql = |sslmode: &str| {
        Command::new(server.bin.join("psql"))
            .arg(format!("{url} sslmode={sslmode}"))
            .args([
                "-w",
                "-Atc",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ])
            .output()
            .expect("run psql")
    };
    let tls = psql("require");
    assert!(tls.status.success(), "{tls:?}");
    assert_eq!(String::from_utf8_lossy(&tls.stdout).trim(), "t");
    let plain = psql("disable");
    assert!(!plain.status.success(), "{plain:?}");
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("no encryption"),
        "{plain:?}"
    );
    let mut socket = server.client("psql", USER);
    socket.args(["-d", "t1", "-Atc", "SELECT 1"]);
    assert_eq!(
        String::from_utf8_lossy(&checked(socket, Duration::from_secs(30)).stdout).trim(),
        "1"
    );
}
