//! Set elements: how Cordon's values become nftables elements and back.

use std::net::IpAddr;
use std::time::Duration;

use cordon_config::SubscriberAddr;
use ipnet::IpNet;
use nftables::expr::{Expression, NamedExpression, Prefix};

/// What a replaced table keeps from before: the quarantines (from the store,
/// which is the truth), walled-garden addresses resolved from names, and the
/// kernel's own memory of recent SMTP attempts (read back from the old table).
#[derive(Debug, Clone, Default)]
pub struct Carried {
    /// Every current quarantine.
    pub quarantined: Vec<SubscriberAddr>,
    /// Addresses of walled-garden DNS names, as last resolved.
    pub garden: Vec<IpNet>,
    /// Recent SMTP attempts, so a reload does not make a sender look quiet.
    pub smtp_recent: Vec<SmtpSeen>,
}

/// One host's recent SMTP activity, as the kernel's `smtp_recent` set knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpSeen {
    /// The host (IPv4) or its prefix's first address (IPv6).
    pub key: IpAddr,
    /// Time left before the host counts as quiet.
    pub expires: Duration,
    /// Attempts counted since the element was created.
    pub attempts: u64,
}

impl SmtpSeen {
    /// How long ago the last attempt was, given the set's timeout (the
    /// quiet period): each attempt resets the element's timer.
    pub fn since_last(&self, quiet_period: Duration) -> Duration {
        quiet_period.saturating_sub(self.expires)
    }
}

/// A prefix as nft syntax: single hosts bare, ranges with their length.
pub(crate) fn nft_text(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.trunc().to_string()
    }
}

/// A prefix as a JSON element.
pub(crate) fn to_expr(net: &IpNet) -> Expression<'static> {
    let addr = Expression::String(net.addr().to_string().into());
    if net.prefix_len() == net.max_prefix_len() {
        addr
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr),
            len: u32::from(net.prefix_len()),
        }))
    }
}

/// A JSON element of an address set back to a prefix. Ranges (which only
/// appear when someone merged elements by hand) are skipped: Cordon never
/// writes them.
pub(crate) fn from_expr(e: &Expression<'_>) -> Option<IpNet> {
    match e {
        Expression::String(s) => s.parse::<IpAddr>().ok().map(IpNet::from),
        Expression::Named(NamedExpression::Prefix(p)) => match p.addr.as_ref() {
            Expression::String(s) => {
                let addr: IpAddr = s.parse().ok()?;
                IpNet::new(addr, u8::try_from(p.len).ok()?).ok()
            }
            _ => None,
        },
        Expression::Named(NamedExpression::Elem(el)) => from_expr(&el.val),
        _ => None,
    }
}

/// A JSON element of the `smtp_recent` set.
pub(crate) fn seen_from_expr(e: &Expression<'_>) -> Option<SmtpSeen> {
    let Expression::Named(NamedExpression::Elem(el)) = e else {
        return None;
    };
    let Expression::String(s) = el.val.as_ref() else {
        return None;
    };
    let attempts = match &el.counter {
        Some(nftables::stmt::Counter::Anonymous(Some(c))) => c.packets.unwrap_or(0) as u64,
        _ => 0,
    };
    Some(SmtpSeen {
        key: s.parse().ok()?,
        expires: Duration::from_secs(u64::from(el.expires.unwrap_or(0))),
        attempts,
    })
}

/// The element line of `nft get element` (`elements = { 100.64.1.2 counter
/// packets 3 bytes 180 expires 1h59m58s }`) read into an [`SmtpSeen`].
pub(crate) fn seen_from_text(key: IpAddr, text: &str) -> Option<SmtpSeen> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("elements = {"))?;
    let mut words = line.split_whitespace();
    let mut expires = None;
    let mut attempts = 0;
    while let Some(w) = words.next() {
        match w {
            "expires" => expires = words.next().and_then(|d| humantime::parse_duration(d).ok()),
            "packets" => attempts = words.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            _ => {}
        }
    }
    Some(SmtpSeen {
        key,
        expires: expires?,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip_through_json_elements() {
        for text in [
            "100.64.1.2/32",
            "100.64.1.0/24",
            "2001:db8:100:1::/64",
            "2001:db8::1/128",
        ] {
            let net: IpNet = text.parse().unwrap();
            assert_eq!(from_expr(&to_expr(&net)), Some(net), "{text}");
        }
        assert_eq!(nft_text(&"100.64.1.2/32".parse().unwrap()), "100.64.1.2");
        assert_eq!(
            nft_text(&"2001:db8:100:1::/64".parse().unwrap()),
            "2001:db8:100:1::/64"
        );
    }

    #[test]
    fn recent_smtp_elements_read_from_nft_text() {
        let text = "table inet cordon {\n\tset smtp_recent_v4 {\n\t\telements = { 100.64.1.2 counter packets 3 bytes 180 expires 1h59m58s988ms }\n\t}\n}\n";
        let key: IpAddr = "100.64.1.2".parse().unwrap();
        let seen = seen_from_text(key, text).unwrap();
        assert_eq!(seen.attempts, 3);
        assert_eq!(seen.expires, Duration::from_millis(7_198_988));
        assert_eq!(seen_from_text(key, "table inet cordon {\n}\n"), None);
    }

    #[test]
    fn recent_smtp_elements_read_from_nft_json() {
        let json = r#"{"elem": {"val": "100.64.1.2", "timeout": 7200, "expires": 7000, "counter": {"packets": 12, "bytes": 720}}}"#;
        let e: Expression = serde_json::from_str(json).unwrap();
        let seen = seen_from_expr(&e).unwrap();
        assert_eq!(seen.key, "100.64.1.2".parse::<IpAddr>().unwrap());
        assert_eq!(seen.attempts, 12);
        assert_eq!(
            seen.since_last(Duration::from_secs(7200)),
            Duration::from_secs(200)
        );
    }
}
