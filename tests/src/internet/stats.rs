//! What the internet services saw, as counters that tests read (through the
//! stats socket) to tell "reached the real server" from "stopped on the way".

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Connections and what came through them, for one key (a port, a
/// destination or a source address).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// TCP connections accepted.
    pub connections: u64,
    /// HTTP requests answered, or mail messages accepted.
    pub messages: u64,
}

/// One TCP service port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStats {
    /// Connections accepted on this port.
    pub connections: u64,
    /// HTTP requests answered / mail messages accepted on this port.
    pub messages: u64,
    /// By the address the client connected to (a mail server, the relay).
    pub by_destination: BTreeMap<IpAddr, Counts>,
    /// By the client's address (which subscriber).
    pub by_source: BTreeMap<IpAddr, Counts>,
}

/// The DNS responder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsStats {
    /// Queries answered (UDP and TCP).
    pub queries: u64,
    /// By the client's address.
    pub by_source: BTreeMap<IpAddr, u64>,
}

/// Everything the internet namespace's services counted since they started
/// (or since the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternetStats {
    /// Web server, by port (80, 443).
    pub http: BTreeMap<u16, PortStats>,
    /// SMTP listener, by port (25, 587).
    pub smtp: BTreeMap<u16, PortStats>,
    /// DNS responder.
    pub dns: DnsStats,
}

impl InternetStats {
    /// HTTP requests answered on any port.
    pub fn http_requests(&self) -> u64 {
        self.http.values().map(|p| p.messages).sum()
    }

    /// HTTP requests from `source`.
    pub fn http_requests_from(&self, source: IpAddr) -> u64 {
        self.http
            .values()
            .filter_map(|p| p.by_source.get(&source))
            .map(|c| c.messages)
            .sum()
    }

    /// SMTP connections accepted on `port`.
    pub fn smtp_connections(&self, port: u16) -> u64 {
        self.smtp.get(&port).map_or(0, |p| p.connections)
    }

    /// Mail messages accepted on `port`.
    pub fn smtp_messages(&self, port: u16) -> u64 {
        self.smtp.get(&port).map_or(0, |p| p.messages)
    }

    /// Mail messages accepted on `port` from `source`.
    pub fn smtp_messages_from(&self, port: u16, source: IpAddr) -> u64 {
        self.smtp
            .get(&port)
            .and_then(|p| p.by_source.get(&source))
            .map_or(0, |c| c.messages)
    }

    /// SMTP connections on `port` from `source`.
    pub fn smtp_connections_from(&self, port: u16, source: IpAddr) -> u64 {
        self.smtp
            .get(&port)
            .and_then(|p| p.by_source.get(&source))
            .map_or(0, |c| c.connections)
    }

    /// DNS queries answered.
    pub fn dns_queries(&self) -> u64 {
        self.dns.queries
    }

    pub(crate) fn port(&mut self, service: Service, port: u16) -> &mut PortStats {
        match service {
            Service::Http => self.http.entry(port).or_default(),
            Service::Smtp => self.smtp.entry(port).or_default(),
        }
    }
}

/// Which TCP service a counter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Http,
    Smtp,
}

/// What a TCP event adds to the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Connection,
    Message,
}

impl PortStats {
    pub(crate) fn record(&mut self, event: Event, destination: IpAddr, source: IpAddr) {
        let bump = |c: &mut Counts| match event {
            Event::Connection => c.connections += 1,
            Event::Message => c.messages += 1,
        };
        let mut total = Counts {
            connections: self.connections,
            messages: self.messages,
        };
        bump(&mut total);
        self.connections = total.connections;
        self.messages = total.messages;
        bump(self.by_destination.entry(destination).or_default());
        bump(self.by_source.entry(source).or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_with_address_keys() {
        let mut s = InternetStats::default();
        let src: IpAddr = "100.64.1.2".parse().unwrap();
        let dst: IpAddr = "2001:db8:ffff::1".parse().unwrap();
        s.port(Service::Smtp, 25)
            .record(Event::Connection, dst, src);
        s.port(Service::Smtp, 25).record(Event::Message, dst, src);
        s.port(Service::Http, 80).record(Event::Message, dst, src);
        s.dns.queries = 2;
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            json.contains(r#""25":{"connections":1,"messages":1"#),
            "{json}"
        );
        let back: InternetStats = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.smtp_messages_from(25, src), 1);
        assert_eq!(back.smtp_connections(25), 1);
        assert_eq!(back.http_requests_from(src), 1);
        assert_eq!(back.smtp_messages(587), 0);
    }
}
