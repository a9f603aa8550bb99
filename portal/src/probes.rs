//! The operating systems' captive-portal probes.
//!
//! Each OS fetches a known URL and compares the answer with what it expects;
//! anything else makes it show its "sign in to network" sheet. So a
//! quarantined caller gets a redirect to the cleanup page (every OS opens the
//! sheet on it and Android takes the portal URL from `Location`), and anyone
//! else gets exactly the expected answer, so a released subscriber's device
//! stops showing the sheet.

use http::{Response, StatusCode};

use crate::respond::{self, Body};

/// One probe URL and the answer that means "the Internet works".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Apple (`captive.apple.com/hotspot-detect.html` and the older
    /// `/library/test/success.html`).
    Apple,
    /// Android and ChromeOS (`connectivitycheck.gstatic.com/generate_204`, `/gen_204`).
    Android,
    /// Windows 10 and later (`www.msftconnecttest.com/connecttest.txt`).
    WindowsConnectTest,
    /// Older Windows (`www.msftncsi.com/ncsi.txt`).
    WindowsNcsi,
    /// Firefox (`detectportal.firefox.com/canonical.html`).
    FirefoxCanonical,
    /// Firefox (`detectportal.firefox.com/success.txt`).
    FirefoxSuccess,
}

impl Probe {
    /// The probe a request path is, if any.
    pub fn from_path(path: &str) -> Option<Probe> {
        Some(match path {
            "/hotspot-detect.html" | "/library/test/success.html" => Probe::Apple,
            "/generate_204" | "/gen_204" => Probe::Android,
            "/connecttest.txt" => Probe::WindowsConnectTest,
            "/ncsi.txt" => Probe::WindowsNcsi,
            "/canonical.html" => Probe::FirefoxCanonical,
            "/success.txt" => Probe::FirefoxSuccess,
            _ => return None,
        })
    }

    /// The answer each OS takes as "not captive", byte for byte.
    pub fn success(self) -> Response<Body> {
        let html = |body: &'static str| {
            let mut r = respond::text(StatusCode::OK, body);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/html"),
            );
            r
        };
        match self {
            Probe::Apple => {
                html("<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>")
            }
            Probe::Android => respond::status(StatusCode::NO_CONTENT),
            Probe::WindowsConnectTest => respond::text(StatusCode::OK, "Microsoft Connect Test"),
            Probe::WindowsNcsi => respond::text(StatusCode::OK, "Microsoft NCSI"),
            Probe::FirefoxCanonical => html(
                "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>",
            ),
            Probe::FirefoxSuccess => respond::text(StatusCode::OK, "success\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_path_is_known() {
        for (path, probe) in [
            ("/hotspot-detect.html", Probe::Apple),
            ("/generate_204", Probe::Android),
            ("/gen_204", Probe::Android),
            ("/connecttest.txt", Probe::WindowsConnectTest),
            ("/ncsi.txt", Probe::WindowsNcsi),
            ("/canonical.html", Probe::FirefoxCanonical),
            ("/success.txt", Probe::FirefoxSuccess),
        ] {
            assert_eq!(Probe::from_path(path), Some(probe));
        }
        assert_eq!(Probe::from_path("/"), None);
        assert_eq!(Probe::Android.success().status(), StatusCode::NO_CONTENT);
    }
}
