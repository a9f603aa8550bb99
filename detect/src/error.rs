//! The crate's one error type. Each variant says what went wrong and what
//! to do about it.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a detection source could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// The netlink socket could not be created or configured.
    /// Cordond needs CAP_NET_ADMIN; run it as the unit file says.
    #[error("cannot open the NFLOG netlink socket ({what}): {source}; cordond needs CAP_NET_ADMIN")]
    NflogSocket {
        /// Which step failed.
        what: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused to bind the NFLOG group, usually because another
    /// process (ulogd, a second cordond) already listens on it.
    #[error(
        "the kernel refused to bind NFLOG group {group} ({what}): {source}; is another process (ulogd, a second cordond) bound to it? Pick another detection.nflog_group or stop that process"
    )]
    NflogBind {
        /// The group.
        group: u16,
        /// Which configuration step failed.
        what: &'static str,
        /// The kernel's error.
        #[source]
        source: io::Error,
    },
    /// The netlink connection task ended before the group was configured.
    #[error(
        "the NFLOG netlink connection closed while binding group {group}; retry, and check the kernel log"
    )]
    NflogClosed {
        /// The group.
        group: u16,
    },
    /// A feed file could not be read.
    #[error("cannot read report feed {}: {source}; check the path and its permissions", path.display())]
    ReadFeed {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A feed file is in none of the formats Cordon reads.
    #[error(
        "{}: unsupported format: {what}; Cordon reads ARF, X-ARF, SpamCop, Shadowserver CSV, AbuseHUB CSV, Microsoft SNDS, IODEF, its own address,time,source,evidence CSV, and ZIPs of them",
        path.display()
    )]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What it was recognised as.
        what: String,
    },
    /// A feed being read (standard input, a file) broke off.
    #[error("cannot read the feed: {source}; nothing after the reports already read was taken")]
    ReadInput {
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A feed in a format that is read whole is larger than it may be.
    #[error(
        "the feed is {what}, which is read whole, and larger than {cap} bytes; nothing was taken. Split it"
    )]
    FeedTooLarge {
        /// The format.
        what: &'static str,
        /// The most bytes read.
        cap: u64,
    },
    /// A feed read from a stream is in none of the formats Cordon reads.
    #[error(
        "unsupported format: {what}; Cordon reads ARF, X-ARF, SpamCop, Shadowserver CSV, AbuseHUB CSV, Microsoft SNDS, IODEF, its own address,time,source,evidence CSV, and ZIPs of them"
    )]
    Unsupported {
        /// What it was recognised as.
        what: String,
    },
    /// DNSBL checking was asked for without any DNS server to ask.
    #[error(
        "no DNS server to ask the block lists: set detection.dnsbl.servers (or the walled garden's resolvers)"
    )]
    NoDnsblServer,
    /// A DNSBL server address cannot be used.
    #[error("cannot use DNS server {server} for block-list queries: {reason}")]
    DnsblServer {
        /// The server.
        server: SocketAddr,
        /// Why.
        reason: String,
    },
}
