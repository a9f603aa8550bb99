//! Stand-ins for the portal's listeners on a lab gateway, for tests of
//! the kernel's rules without the portal.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use cordon_lab::addresses::{PORTAL_V4, PORTAL_V6};
use cordon_lab::config::PORTAL_PORT;
use cordon_lab::{Host, Lab, url};

const SHORT: Duration = Duration::from_secs(2);

/// Stands in for one of the portal's kernel-fed listeners on the gateway
/// (the redirect port, the notice port), so these tests see where the
/// kernel sends `http` without the portal: its answers carry an
/// `X-Stand-In` header naming the port.
pub struct StandIn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The stand-in for the redirect port, where quarantined `http` lands.
pub fn redirect_stand_in(lab: &Lab) -> StandIn {
    StandIn::start(lab, lab.config().portal.redirect_port, "redirect-port")
}

/// Stand-ins for the portal's own listener (on its own port) and for the
/// captive port, where the kernel sends a quarantined host's own
/// connections to the portal.
pub fn portal_stand_ins(lab: &Lab) -> [StandIn; 2] {
    [
        StandIn::start(lab, PORTAL_PORT, "portal"),
        StandIn::start(lab, lab.config().portal.captive_port, "captive-port"),
    ]
}

/// Which stand-in `host`'s request to the portal's own address (IPv4 or
/// IPv6) reached.
pub fn portal_lands(host: &Host, v4: bool) -> String {
    let to: IpAddr = if v4 {
        PORTAL_V4.into()
    } else {
        PORTAL_V6.into()
    };
    let page = host
        .curl(&url(to, PORTAL_PORT, "/api/captive"), &[])
        .unwrap();
    page.header("X-Stand-In").unwrap_or_default().to_owned()
}

impl StandIn {
    pub fn start(lab: &Lab, port: u16, tag: &'static str) -> StandIn {
        let listener = lab
            .gateway()
            .run(move || TcpListener::bind(("::", port)))
            .unwrap()
            .unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(SHORT)).unwrap();
                        let mut buf = [0u8; 2048];
                        let _ = conn.read(&mut buf);
                        let _ = conn.write_all(
                            format!("HTTP/1.1 200 OK\r\nX-Stand-In: {tag}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").as_bytes(),
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("stand-in listener: {e}"),
                }
            }
        });
        StandIn {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
