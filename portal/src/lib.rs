//! `cordon-portal`: what a quarantined subscriber sees.
//!
//! The kernel sends a quarantined host's `http://` traffic to the redirect
//! listener, which points the browser at the portal's public URL; there the
//! subscriber reads, in their own language, what happened, the facts about
//! their connection (asked from `cordond`), how to clean each kind of device,
//! where the tools are, and presses "I have cleaned my computer". The OS
//! captive-portal probes and the RFC 8908 API bring phones and laptops to the
//! same page.
//!
//! Map of the crate:
//!
//! | module | owns |
//! |---|---|
//! | [`app`] | the routes of both listeners and the shared state |
//! | [`facts`] | the caller's facts and self-release answers, from `cordond`'s reply and the clock (pure) |
//! | [`probes`] | the OS captive-portal probe URLs and their "success" answers |
//! | [`templates`] | minijinja pages, built in and overridable, `t()` and `dur()` |
//! | [`i18n`] | Fluent messages per language, `Accept-Language` negotiation |
//! | [`tools`] | the downloadable cleanup tools: list, sums, safe serving |
//! | [`csrf`] | tokens for the self-release form |
//! | [`cordond`] | the portal-socket client, its kept connections |
//! | [`cache`] | `cordond`'s answers and rendered pages, kept for a second |
//! | [`inflight`] | one question to `cordond` per caller at a time |
//! | [`server`] | accepting, caps, timeouts, graceful shutdown |
//! | [`connlimit`] | connection counts overall and per subscriber, refusals |
//! | [`stall`] | the write timeout for responses |
//! | [`closing`] | ending a connection with `close(2)` alone |
//! | [`listen`] | opening the sockets |
//! | [`metrics`] | Prometheus metrics on `portal.metrics_listen` |
//! | `percent` | strict percent-decoding of path segments |
//! | [`privileges`] | leaving root behind |
//! | [`respond`] | response bodies and the headers every answer carries |

#![forbid(unsafe_code)]

pub mod app;
pub mod cache;
pub mod closing;
pub mod connlimit;
pub mod cordond;
pub mod csrf;
pub mod error;
pub mod facts;
#[cfg(test)]
mod fixtures;
pub mod i18n;
pub mod inflight;
pub mod listen;
pub mod metrics;
mod percent;
pub mod privileges;
pub mod probes;
pub mod respond;
pub mod server;
pub mod stall;
pub mod templates;
pub mod tools;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cordon_config::Config;
use cordon_proto::time::SystemClock;
use tokio_util::sync::CancellationToken;

pub use app::{App, RequestLimits, Role};
pub use error::{Error, Result};
pub use server::ConnLimits;

/// How long the portal waits for `cordond` per question before showing
/// general advice instead of the caller's facts.
const CORDOND_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a button press (self-release, "I understand") waits for
/// `cordond`, which answers once the change is recorded and in the kernel:
/// a subscriber who pressed waits a few seconds rather than see the press
/// fail while it is carried out.
const CORDOND_PRESS_TIMEOUT: Duration = Duration::from_secs(10);

/// A portal with its sockets open and everything loaded, not yet serving.
#[derive(Debug)]
pub struct Portal {
    app: Arc<App>,
    /// Each runtime's handles on the listening sockets, the same sockets in
    /// each.
    listeners: Vec<Vec<(Role, std::net::TcpListener)>>,
    /// `portal.metrics_listen`, apart from the subscribers' listeners.
    metrics_listener: Option<std::net::TcpListener>,
    limits: ConnLimits,
}

impl Portal {
    /// Opens the sockets, leaves root (see [`privileges`]), then loads the
    /// translations, templates and tools as the unprivileged user, so that
    /// they need not be readable by root only.
    pub fn new(config: &Config) -> Result<Portal> {
        let p = &config.portal;
        let nofile = match cordon_runtime::limits::raise_nofile() {
            Ok(limit) => {
                tracing::info!(
                    was = limit.was,
                    now = limit.now,
                    "descriptor limit (RLIMIT_NOFILE)"
                );
                limit.usable()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the descriptor limit; assuming 1024");
                1024
            }
        };
        let limits = ConnLimits::for_nofile(nofile, config.subscribers.ipv6_quarantine_prefix);
        tracing::info!(
            max_connections = limits.max_connections,
            per_subscriber = limits.max_connections_per_client,
            "connection caps"
        );
        let listeners = listen::bind_all(
            &p.listen,
            p.redirect_port,
            p.captive_port,
            p.notice_port,
            runtimes(),
        )?;
        let metrics_listener = p
            .metrics_listen
            .map(|addr| listen::bind(addr).map_err(|source| Error::Bind { addr, source }))
            .transpose()?;
        privileges::drop_root(p.user.as_deref())?;

        let app = App::load(config)?;
        Ok(Portal {
            app: Arc::new(app),
            listeners,
            metrics_listener,
            limits,
        })
    }

    /// Where each listener is: portal listeners in config order, then the
    /// redirect listener's IPv4 and IPv6 sockets, then the notice
    /// listener's.
    pub fn local_addrs(&self) -> Vec<(Role, SocketAddr)> {
        self.listeners
            .first()
            .into_iter()
            .flatten()
            .filter_map(|(role, l)| l.local_addr().ok().map(|a| (*role, a)))
            .collect()
    }

    /// Where the metrics are served, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until SIGTERM or SIGINT, then drains open connections.
    ///
    /// One single-threaded runtime per core, each on a thread of its own
    /// taking connections from the same listening sockets (see
    /// [`listen::bind_all`]), as nginx runs one worker per core. With one
    /// multi-threaded runtime the
    /// two worker threads kept handing connections and wake-ups to each
    /// other: under an outbreak with keep-alive the portal spent as much
    /// CPU per request as nginx but its requests waited four times as long
    /// (BENCHMARKS.md). The caps, the caches, the one question per caller
    /// and the form key stay shared by all runtimes. The metrics and the
    /// signals are served on the calling thread.
    pub fn run(self) -> Result<()> {
        let shutdown = CancellationToken::new();
        let metrics = self.limits.metrics(self.app.cordond.waits());
        let mut threads = Vec::with_capacity(self.listeners.len());
        for (i, listeners) in self.listeners.into_iter().enumerate() {
            let (app, limits, metrics) = (
                Arc::clone(&self.app),
                self.limits.clone(),
                Arc::clone(&metrics),
            );
            let shutdown = shutdown.clone();
            let thread = std::thread::Builder::new()
                .name(format!("portal-{i}"))
                .spawn(move || {
                    let served = single_runtime().and_then(|rt| {
                        rt.block_on(async {
                            let mut tokio_listeners = Vec::with_capacity(listeners.len());
                            for (role, l) in listeners {
                                tokio_listeners.push((role, to_tokio(l)?));
                            }
                            server::serve(app, tokio_listeners, limits, metrics, shutdown.clone())
                                .await;
                            Ok(())
                        })
                    });
                    // A runtime that cannot serve stops the others: a
                    // portal serving a share of its connections would
                    // look up while dropping the rest.
                    if served.is_err() {
                        shutdown.cancel();
                    }
                    served
                })
                .map_err(Error::Runtime)?;
            threads.push(thread);
        }
        let main = single_runtime()?;
        let metrics_listener = self.metrics_listener;
        let signals = main.block_on(async {
            if let Some(l) = metrics_listener {
                let l = to_tokio(l)?;
                tokio::spawn(cordon_runtime::metrics::serve(
                    l,
                    Arc::new(move || metrics.encode()),
                    shutdown.clone(),
                ));
            }
            cancel_on_signal(shutdown.clone()).await;
            Ok(())
        });
        let mut result = signals;
        for t in threads {
            let served = t.join().unwrap_or_else(|_| {
                Err(Error::Runtime(std::io::Error::other(
                    "a runtime thread panicked",
                )))
            });
            result = result.and(served);
        }
        result
    }
}

/// How many runtimes serve: one per core this process may run on.
fn runtimes() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A single-threaded runtime with I/O and timers. Its blocking threads
/// (file reads for tool downloads) are a share of the 512 one runtime used
/// to have, so that all of them together stay under the unit's
/// `TasksMax=1024` on a machine with many cores.
fn single_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads((512 / runtimes()).max(16))
        .build()
        .map_err(Error::Runtime)
}

/// A listener bound before the runtime started, handed to tokio (the
/// error names its address).
fn to_tokio(l: std::net::TcpListener) -> Result<tokio::net::TcpListener> {
    let addr = l.local_addr().map_err(|source| Error::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    tokio::net::TcpListener::from_std(l).map_err(|source| Error::Bind { addr, source })
}

impl App {
    /// Loads what the pages need (translations, templates, tools) for the
    /// portal of `config`. Runs
    /// after [`privileges::drop_root`] in [`Portal::new`]; on its own, it
    /// lets a test serve the portal in its own process.
    pub fn load(config: &Config) -> Result<App> {
        let p = &config.portal;
        let translations = Arc::new(i18n::Translations::load(
            &p.languages,
            p.translations_dir.as_deref(),
        )?);
        for (lang, key) in translations.missing_keys() {
            tracing::warn!(lang, key, "message missing; shown in the fallback language");
        }
        let pages = templates::Pages::new(p.templates_dir.clone(), Arc::clone(&translations))?;
        let tools = tools::Tools::load(p.tools_dir.clone(), translations.fallback())?;
        let csrf = csrf::Csrf::random()
            .map_err(|e| Error::Config(format!("cannot get random bytes for form tokens: {e}")))?;
        Ok(App {
            home: respond::Home::new(p.public_url.as_str(), p.public_url.header_value()),
            public_url: p.public_url.clone(),
            isp_name: p.isp_name.clone(),
            support: p.support.clone(),
            translations,
            pages,
            tools,
            cordond: cordond::Cordond::new(config.control.portal_socket.clone(), CORDOND_TIMEOUT)
                .presses_within(CORDOND_PRESS_TIMEOUT),
            facts_cache: cache::FactsCache::new(cache::FACTS_TTL, cache::FACTS_CAPACITY),
            in_flight: inflight::InFlight::default(),
            page_cache: cache::PageCache::new(cache::PAGE_CAPACITY),
            shells: cache::ShellCache::default(),
            csrf,
            limits: RequestLimits {
                max_body_bytes: 8 * 1024,
                body_read_timeout: Duration::from_secs(10),
            },
            clock: Arc::new(SystemClock),
        })
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C), then cancels `token`.
pub async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop the portal with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
        () = token.cancelled() => {}
    }
    token.cancel();
}
