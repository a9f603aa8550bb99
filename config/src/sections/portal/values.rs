//! Values of the `portal` section that the portal used to check again by its
//! own rules: parsed once here, into the types the portal uses as they are.

use std::fmt;
use std::str::FromStr;

use http::HeaderValue;

use crate::types::serde_via_str;

/// The portal's public base URL: an absolute `http://` or `https://` URL with
/// a host, usable as it is in a `Location` header (every redirect points
/// here), so the portal never refuses at start what `check-config` passed.
/// Its path always ends in `/` (one is added when missing) and it has no
/// query or fragment, because the pages' links are this URL joined with a
/// path (`{{ home }}acknowledge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    text: String,
    header: HeaderValue,
}

impl PublicUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The URL as a header value, for `Location` and the pages' links.
    pub fn header_value(&self) -> &HeaderValue {
        &self.header
    }
}

impl FromStr for PublicUrl {
    type Err = String;
    fn from_str(url: &str) -> Result<Self, String> {
        const GIVE: &str =
            "give the portal's absolute address, e.g. http://portal.isp.example:8080/";
        super::super::http_url::checked(url, GIVE)?;
        let bad = |why: &str| super::super::http_url::bad(url, why, GIVE);
        // The pages join paths onto this URL (`acknowledge`, `tools/…`,
        // `?lang=`): a query or fragment would swallow them.
        if url.contains(['?', '#']) {
            return Err(bad(
                "has a query or fragment, and the portal's links are joined onto it; give the address without `?…` or `#…`",
            ));
        }
        // `http://portal.isp.example` is what people write: it is the
        // directory `http://portal.isp.example/`, not a page beside
        // `acknowledge`.
        let text = if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        };
        let header = HeaderValue::from_str(&text)
            .map_err(|_| bad("has characters a header cannot carry"))?;
        Ok(PublicUrl { text, header })
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The account the portal switches to when started as root: a valid user
/// name, and never a shared or privileged one.
///
/// cordond trusts the portal socket's peer by this account's uid, so the
/// account must belong to the portal alone: `nobody` is shared by many
/// daemons, any of which could then ask about any subscriber and press their
/// release button; `root` (uid 0 by any name) would keep every privilege in
/// the process that faces every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalUser(String);

/// Accounts refused: root and its numeric and BSD aliases, and the shared
/// unprivileged accounts (by name and by their usual uid 65534).
const SHARED_OR_ROOT: &[&str] = &[
    "root",
    "toor",
    "0",
    "nobody",
    "nfsnobody",
    "nogroup",
    "65534",
];

impl PortalUser {
    /// The account name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PortalUser {
    type Err = String;
    fn from_str(name: &str) -> Result<Self, String> {
        let remedy = "use a dedicated account such as `cordon-portal` (deploy/sysusers.d/cordon.conf creates it)";
        if SHARED_OR_ROOT.contains(&name) || name.bytes().all(|b| b == b'0') {
            let why = if matches!(name, "nobody" | "nfsnobody" | "nogroup" | "65534") {
                "is shared by many daemons, and cordond trusts the portal socket's peer by this account: any process running as it could ask about any subscriber and press their release button"
            } else {
                "is root, and the portal faces every subscriber: it must not keep root's privileges"
            };
            return Err(format!("`{name}` {why}; {remedy}"));
        }
        // What useradd accepts by default: a letter or `_` first, then
        // letters, digits, `_` and `-`, at most 32 bytes.
        let valid = !name.is_empty()
            && name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "`{}` is not a user name (lower-case letters, digits, `_` and `-`, at most 32 bytes); {remedy}",
                name.escape_debug()
            ));
        }
        Ok(PortalUser(name.to_owned()))
    }
}

/// Reads as the name, so `Option<PortalUser>::as_deref()` gives `Option<&str>`.
impl std::ops::Deref for PortalUser {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PortalUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_via_str!(
    PublicUrl,
    "an absolute http:// or https:// URL such as http://portal.isp.example:8080/"
);
serde_via_str!(PortalUser, "a user name such as cordon-portal");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_url_is_checked_once_here() {
        let u: PublicUrl = "http://portal.isp.example:8080/".parse().unwrap();
        assert_eq!(u.header_value(), "http://portal.isp.example:8080/");
        assert!("https://10.0.0.1/".parse::<PublicUrl>().is_ok());
        for bad in [
            "portal.isp.example",
            "/relative",
            "ftp://x/",
            "http://",
            "http://a b/",
            "http://portal.example/\r\nSet-Cookie: x=1",
            "http://portal.example/\r\n",
            "http://portal.exämple/",
        ] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad:?}");
        }
        let e = "http://p/\r\n".parse::<PublicUrl>().unwrap_err();
        assert!(
            e.contains(r"`http://p/\r\n`"),
            "control characters escaped: {e}"
        );
        assert!(e.contains("control characters"), "{e}");
        let long = format!(
            "http://p/{}",
            "a".repeat(crate::sections::http_url::URL_MAX)
        );
        assert!(long.parse::<PublicUrl>().is_err());
    }

    /// `http://portal.isp.example` is what people write; the pages join
    /// `acknowledge` and `tools/…` onto the URL, so it gains the `/` that
    /// makes those land below it rather than on `…exampleacknowledge`.
    #[test]
    fn public_url_without_a_trailing_slash_gains_one() {
        for (given, kept) in [
            ("http://portal.isp.example", "http://portal.isp.example/"),
            (
                "http://portal.isp.example:8080",
                "http://portal.isp.example:8080/",
            ),
            ("https://isp.example/portal", "https://isp.example/portal/"),
            ("http://[2001:db8::1]:8080", "http://[2001:db8::1]:8080/"),
            ("http://portal.isp.example/", "http://portal.isp.example/"),
            ("https://isp.example/portal/", "https://isp.example/portal/"),
        ] {
            let u: PublicUrl = given.parse().unwrap();
            assert_eq!(u.as_str(), kept, "{given}");
            assert_eq!(u.header_value(), kept, "{given}");
            assert_eq!(u.to_string(), kept, "{given}");
        }
    }

    /// A query or fragment cannot be a base the pages join paths onto
    /// (`…/?a=1acknowledge`): refused, naming the fix.
    #[test]
    fn public_url_with_a_query_or_fragment_is_refused() {
        for bad in [
            "http://portal.isp.example/?a=1",
            "http://portal.isp.example?a=1",
            "http://portal.isp.example/#top",
            "http://portal.isp.example/?",
        ] {
            let e = bad.parse::<PublicUrl>().unwrap_err();
            assert!(e.contains("query or fragment"), "{bad}: {e}");
            assert!(e.contains("http://portal.isp.example:8080/"), "{bad}: {e}");
        }
    }

    #[test]
    fn portal_user_is_dedicated() {
        assert_eq!(
            "cordon-portal".parse::<PortalUser>().unwrap().as_str(),
            "cordon-portal"
        );
        for shared in ["nobody", "nfsnobody", "65534"] {
            let e = shared.parse::<PortalUser>().unwrap_err();
            assert!(e.contains("shared by many daemons"), "{e}");
            assert!(e.contains("cordon-portal"), "{e}");
        }
        for root in ["root", "toor", "0", "000"] {
            let e = root.parse::<PortalUser>().unwrap_err();
            assert!(e.contains("is root"), "{e}");
        }
        for bad in ["", "Portal", "a b", "x\u{1b}[2J", &"a".repeat(33)] {
            assert!(bad.parse::<PortalUser>().is_err(), "{bad:?}");
        }
    }
}
