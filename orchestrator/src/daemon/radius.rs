//! The RADIUS accounting listener (RFC 2866): a BNG or FreeRADIUS sends a
//! copy of its accounting, and cordond learns who holds which address.
//!
//! Each datagram is checked against its client's shared secret
//! (`cordon-radius`); a request from an unknown client, with a wrong
//! authenticator or malformed, is logged and gets no answer. A new request
//! becomes a session event for the core, and its Accounting-Response goes
//! out only once the core has stored it and the kernel follows it: a
//! quarantined subscriber's new address is in the walled garden before the
//! BNG hears back. Clients retransmit with the same identifier and
//! authenticator: a retransmission of an answered request is answered again
//! from the replay cache and applied once; one that arrives while the first
//! copy is being applied is dropped (that answer is on its way).
//!
//! Requests are applied concurrently (up to [`IN_FLIGHT`]), so a login
//! storm after a BNG restart is batched by the core like everything else:
//! one store commit and one kernel transaction per batch.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use cordon_config::{Config, RadiusAccounting, SecretError, SubscriberAddr};
use cordon_policy::sessions::SessionEvent;
use cordon_proto::subscriber::{SessionSource, SubscriberId};
use cordon_radius::{Accounting, Clients, MAX_PACKET, Replay, ReplayKey, Replays, Status};
use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::shared::Shared;
use crate::metrics::Metrics;

/// Requests applied at once; more are dropped (the client retransmits).
/// Far above one core batch, so a login storm keeps the core's batches
/// full.
const IN_FLIGHT: usize = 8192;

/// The receive buffer asked for: a BNG that restarts sends thousands of
/// Starts at once, and the default buffer (about 200 KiB, some 170
/// requests) dropped three in four of a 1024-request burst, each then
/// waiting for the client's retransmission (seconds). Measured in the
/// login-storm benchmark: 4 MiB drops none.
const RECEIVE_BUFFER: usize = 4 << 20;

/// Binds the listener, with a receive buffer for a login storm. Without
/// CAP_NET_ADMIN the kernel caps the buffer at `net.core.rmem_max`; a
/// smaller one than asked is logged with the remedy.
pub async fn bind(config: &RadiusAccounting) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(config.listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // cordond holds CAP_NET_ADMIN, which lets it pass `net.core.rmem_max`
    // (whose default is a twentieth of this); without it, ask within it.
    let forced = nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::RcvBufForce,
        &RECEIVE_BUFFER,
    );
    if forced.is_err()
        && let Err(e) = socket.set_recv_buffer_size(RECEIVE_BUFFER)
    {
        warn!(error = %e, "cannot size the RADIUS receive buffer; a login storm may lose requests to retransmission");
    }
    // Linux reports twice what it grants (the other half is bookkeeping).
    let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
    if granted < RECEIVE_BUFFER {
        warn!(
            granted,
            wanted = RECEIVE_BUFFER,
            "the RADIUS receive buffer is smaller than asked; raise net.core.rmem_max to at least {RECEIVE_BUFFER} so a login storm is not dropped and retransmitted"
        );
    }
    socket.set_nonblocking(true)?;
    socket.bind(&config.listen.into())?;
    UdpSocket::from_std(socket.into())
}

/// The clients and their secrets (read from their files), narrowest range
/// first (the first that matches a sender is the most specific).
pub fn clients_of(config: &RadiusAccounting) -> Result<Clients, SecretError> {
    let mut list: Vec<_> = config.clients.iter().collect();
    list.sort_by_key(|c| std::cmp::Reverse(c.address.net().prefix_len()));
    let mut clients = Clients::new();
    for c in list {
        let secret = c.read_secret()?;
        // The config refuses duplicates and short secrets, so this cannot
        // fail for a loaded config.
        if let Err(e) = clients.add(c.address.net(), secret.into_bytes()) {
            warn!(error = %e, "a RADIUS client is not used");
        }
    }
    Ok(clients)
}

/// How often one sender's refused requests are logged: a misconfigured or
/// hostile client sending thousands a second must not flood the log. The
/// metric counts every one.
const REFUSAL_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The refusals logged per sender: when last, and how many since then went
/// unlogged.
#[derive(Default)]
struct Refusals(std::collections::HashMap<IpAddr, (Instant, u64)>);

impl Refusals {
    /// Whether to log this refusal now, and how many were held back since
    /// the last line.
    fn log(&mut self, from: IpAddr, now: Instant) -> Option<u64> {
        // Bounded: forget senders not heard from for a while.
        if self.0.len() > 4096 {
            self.0
                .retain(|_, (at, _)| now.duration_since(*at) < REFUSAL_LOG_EVERY);
        }
        match self.0.get_mut(&from) {
            Some((at, held)) if now.duration_since(*at) < REFUSAL_LOG_EVERY => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let n = *held;
                *at = now;
                *held = 0;
                Some(n)
            }
            None => {
                self.0.insert(from, (now, 0));
                Some(0)
            }
        }
    }
}

/// What a finished request leaves for the replay cache.
struct Done {
    key: ReplayKey,
    answer: Option<Vec<u8>>,
}

/// Serves accounting requests from `clients` until cancelled; a reload
/// brings new clients and secrets (a secret file that cannot be read then
/// keeps the clients in force, with an error in the log).
pub async fn serve(
    socket: UdpSocket,
    mut clients: Clients,
    shared: Shared,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    let socket = Arc::new(socket);
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut replays = Replays::default();
    let mut refusals = Refusals::default();
    let mut config = shared.config.borrow().clone();
    let mut buf = vec![0u8; MAX_PACKET + 1];
    loop {
        let (n, from) = tokio::select! {
            _ = cancel.cancelled() => return,
            Some(done) = done_rx.recv() => {
                match done.answer {
                    Some(answer) => replays.remember(done.key, answer, Instant::now()),
                    None => replays.forget(&done.key),
                }
                continue;
            }
            got = socket.recv_from(&mut buf) => match got {
                Ok(got) => got,
                Err(e) => {
                    warn!(error = %e, "RADIUS accounting socket error");
                    continue;
                }
            },
        };
        // A reload may have changed the clients or their secrets.
        let now_config = shared.config.borrow().clone();
        if !Arc::ptr_eq(&now_config, &config) {
            config = now_config;
            match config.sessions.radius.as_ref().map(clients_of) {
                Some(Ok(c)) => clients = c,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "RADIUS clients not reloaded; the ones in force stay");
                }
                None => clients = Clients::new(),
            }
        }
        let (request, client_secret) = match clients.decode(from, &buf[..n]) {
            Ok((a, c)) => (a, c.secret.clone()),
            Err(e) => {
                metrics.radius("refused");
                if let Some(held_back) = refusals.log(from.ip(), Instant::now()) {
                    warn!(client = %from, error = %e, held_back, "RADIUS accounting request refused");
                }
                continue;
            }
        };
        let key = ReplayKey {
            client: from,
            identifier: request.identifier,
            authenticator: request.authenticator,
        };
        match replays.admit(key, Instant::now()) {
            Replay::Answered(answer) => {
                metrics.radius("replayed");
                let _ = socket.send_to(answer, from).await;
                continue;
            }
            Replay::InFlight => continue,
            Replay::New => {}
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            replays.forget(&key);
            metrics.radius("failed");
            debug!(client = %from, "too many accounting requests in flight; dropped (the client retransmits)");
            continue;
        };
        let event = event_of(&config, &request, from.ip());
        let (shared, socket, done_tx, metrics) = (
            shared.clone(),
            socket.clone(),
            done_tx.clone(),
            metrics.clone(),
        );
        let span = info_span!(
            "accounting",
            subscriber = request.user_name.as_deref().unwrap_or("-"),
            status = ?request.status,
            client = %from
        );
        tokio::spawn(
            async move {
                let _permit = permit;
                let applied = match event {
                    Ok(Some(event)) => match shared.core.session(event).await {
                        Ok(_) => true,
                        Err(e) => {
                            warn!(error = %e, "accounting not applied; no answer, so the client retransmits");
                            false
                        }
                    },
                    Ok(None) => true,
                    Err(why) => {
                        warn!(why, "accounting request carries nothing usable; answered, not applied");
                        true
                    }
                };
                let answer = applied.then(|| request.response(&client_secret));
                if let Some(a) = &answer {
                    metrics.radius("applied");
                    if let Err(e) = socket.send_to(a, from).await {
                        warn!(error = %e, "cannot answer the accounting request");
                    }
                } else {
                    metrics.radius("failed");
                }
                let _ = done_tx.send(Done { key, answer });
            }
            .instrument(span),
        );
    }
}

/// The session event an accounting request stands for: `Ok(None)` when it
/// asks nothing (a status cordond has no use for), `Err` when it cannot be
/// used (no user name, no address of ours).
pub fn event_of(
    config: &Config,
    a: &Accounting,
    client: IpAddr,
) -> Result<Option<SessionEvent>, String> {
    let nas = a
        .nas_identifier
        .clone()
        .or_else(|| a.nas_ip.map(|ip| ip.to_string()))
        .unwrap_or_else(|| client.to_canonical().to_string());
    let subscriber = || -> Result<SubscriberId, String> {
        a.user_name
            .as_deref()
            .ok_or_else(|| "no User-Name".to_owned())?
            .parse()
            .map_err(|e: cordon_proto::subscriber::BadSubscriberId| e.to_string())
    };
    Ok(Some(match a.status {
        Status::Start | Status::InterimUpdate => {
            let addrs = addresses(config, a);
            if addrs.is_empty() {
                return Err("no address inside the subscriber prefixes".into());
            }
            SessionEvent::Start {
                subscriber: subscriber()?,
                addrs,
                source: SessionSource::Radius,
                session_id: a.acct_session_id.clone(),
                nas: Some(nas),
                calling_station: a.calling_station_id.clone(),
            }
        }
        Status::Stop => {
            let addrs = addresses(config, a);
            SessionEvent::Stop {
                subscriber: subscriber()?,
                addrs: (!addrs.is_empty()).then_some(addrs),
            }
        }
        Status::AccountingOn | Status::AccountingOff => SessionEvent::NasRestarted { nas },
        Status::Other(_) => return Ok(None),
    }))
}

/// The request's addresses that are subscribers' (RFC 2865's special
/// Framed-IP-Address values and addresses outside the subscriber prefixes
/// are not).
fn addresses(config: &Config, a: &Accounting) -> Vec<SubscriberAddr> {
    let special = |ip: &Ipv4Addr| {
        ip.is_unspecified() || *ip == Ipv4Addr::new(255, 255, 255, 254) || ip.is_broadcast()
    };
    let v4 = a
        .framed_ip
        .filter(|ip| !special(ip))
        .map(|ip| ip.to_string());
    let v6 = a
        .framed_ipv6_prefix
        .iter()
        .chain(&a.delegated_ipv6_prefix)
        .map(|p| p.to_string());
    let mut addrs = Vec::new();
    for text in v4.into_iter().chain(v6) {
        match config.session_addr(&text) {
            Ok(addr) if !addrs.contains(&addr) => addrs.push(addr),
            Ok(_) => {}
            Err(e) => debug!(address = %text, error = %e, "accounting address not taken"),
        }
    }
    addrs
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[test]
    fn refusals_are_logged_once_per_sender_per_period_and_say_how_many_were_held_back() {
        let mut r = Refusals::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        assert_eq!(r.log(a, t0), Some(0));
        assert_eq!(r.log(b, t0), Some(0));
        for _ in 0..5 {
            assert_eq!(r.log(a, t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(r.log(a, t0 + REFUSAL_LOG_EVERY), Some(5));
        assert_eq!(r.log(a, t0 + REFUSAL_LOG_EVERY), None);
    }

    fn config() -> Config {
        cordon_testkit::Fixture::new()
            .prefixes(r#"[100.64.0.0/16, "2001:db8::/32"]"#)
            .set("never_quarantine", "[100.64.0.1]")
            .load()
    }

    #[test]
    fn accounting_becomes_session_events() {
        let c = config();
        let mut a = Accounting::new(Status::Start, 7);
        a.user_name = Some("alice".into());
        a.framed_ip = Some("100.64.1.2".parse().unwrap());
        a.delegated_ipv6_prefix = vec!["2001:db8:1:100::/56".parse().unwrap()];
        a.nas_identifier = Some("bng1".into());
        let client: IpAddr = "192.0.2.9".parse().unwrap();
        let Some(SessionEvent::Start {
            subscriber,
            addrs,
            nas,
            ..
        }) = event_of(&c, &a, client).unwrap()
        else {
            panic!("not a start")
        };
        assert_eq!(subscriber.as_str(), "alice");
        let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        assert_eq!(addrs, ["100.64.1.2", "2001:db8:1:100::/56"]);
        assert_eq!(nas.as_deref(), Some("bng1"));
        // RFC 2865's special values and addresses not ours are no address.
        a.framed_ip = Some("255.255.255.254".parse().unwrap());
        a.delegated_ipv6_prefix.clear();
        assert!(event_of(&c, &a, client).is_err());
        a.framed_ip = Some("100.64.0.1".parse().unwrap());
        assert!(event_of(&c, &a, client).is_err());
        // No user name: nothing to key the session by.
        a.framed_ip = Some("100.64.1.2".parse().unwrap());
        a.user_name = None;
        assert!(event_of(&c, &a, client).is_err());
        // A NAS restart names the NAS, or the sender when it gives no name.
        let on = Accounting::new(Status::AccountingOn, 1);
        assert_eq!(
            event_of(&c, &on, client).unwrap(),
            Some(SessionEvent::NasRestarted {
                nas: "192.0.2.9".into()
            })
        );
        let stop = Accounting {
            user_name: Some("alice".into()),
            ..Accounting::new(Status::Stop, 2)
        };
        assert_eq!(
            event_of(&c, &stop, client).unwrap(),
            Some(SessionEvent::Stop {
                subscriber: "alice".parse().unwrap(),
                addrs: None
            })
        );
    }
}
