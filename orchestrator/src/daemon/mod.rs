//! `cordond`: loads the config, opens the store, installs the table from it,
//! serves the control and portal sockets and the metrics endpoint, and runs
//! the core until SIGTERM. SIGHUP reloads the config (a bad one is refused
//! and the running one kept).
//!
//! Readiness: once the table is installed and both sockets listen, `cordond`
//! prints the line `cordond ready` on stdout and sends systemd `READY=1`.

mod answers;
mod conns;
mod control;
mod exposure;
pub mod fleet;
mod maildir;
mod portal;
mod radius;
mod reports;
mod seen;
mod sessions;
mod shared;
mod sockets;
mod table_watch;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cordon_config::{Config, ConfigErrors, SocketMode};
use cordon_proto::time::{Clock, SystemClock};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::core::{Built, Core, CoreHandle};
use crate::kernel::KernelError;
use crate::store::{Store, StoreError};

pub use self::control::handle as handle_control;
pub use self::reports::submission;
pub use self::shared::Shared;

/// How `cordond` was started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config file.
    pub config: PathBuf,
    /// How often the kernel is compared with the store.
    pub reconcile_every: Duration,
}

/// Why `cordond` could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The config is invalid (errors name file, line and column).
    #[error("invalid config:\n{0}\nfix it and check with `cordon check-config PATH`")]
    Config(#[from] ConfigErrors),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The table could not be installed.
    #[error(
        "cannot install the nftables table: {0}; cordond needs CAP_NET_ADMIN (run it as root or give it the capability)"
    )]
    Kernel(#[from] KernelError),
    /// `portal.user` names an account this machine does not have, so the
    /// portal socket could not be limited to it.
    #[error(
        "portal.user {user:?} does not exist on this machine: create it (systemd-sysusers deploy/sysusers.d/cordon.conf, or scripts/install-deps) or fix portal.user"
    )]
    PortalUser {
        /// The configured name.
        user: String,
    },
    /// A RADIUS client's secret file could not be used.
    #[error(transparent)]
    RadiusSecret(#[from] cordon_config::SecretError),
    /// A webhook's key or TLS roots could not be used.
    #[error(transparent)]
    Webhook(#[from] crate::webhook::HookError),
    /// A socket or the metrics address could not be bound.
    #[error("cannot listen on {what}: {source}")]
    Listen {
        /// Which.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

/// This gateway's name in a fleet when `store.gateway` is not given: the
/// host name, kept to the characters a gateway name may hold.
fn host_name() -> String {
    // The kernel's UTS name (at most 64 bytes), as `hostname` prints it.
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(63)
        .collect();
    if name.is_empty() {
        "gateway".into()
    } else {
        name
    }
}

/// Runs `cordond` until SIGTERM or SIGINT.
pub async fn run(options: Options) -> Result<(), DaemonError> {
    let config = Arc::new(cordon_config::load_file(&options.config)?);
    crate::logging::init(config.logging.format);
    if let Some(warning) = exposure::config_warning(&options.config) {
        warn!("{warning}");
    }
    let (control_caps, portal_caps) = socket_caps();
    // Read before anything starts: a hook whose key is missing stops the
    // start with the file named, not the first delivery later.
    let hooks = crate::webhook::hooks(&config)?;
    let crate::store::Opened {
        store,
        loaded,
        fleet,
    } = Store::open_configured(&config, host_name).await?;
    let gateway = match &config.store {
        cordon_config::Store::Postgres(p) => p
            .gateway
            .as_ref()
            .map_or_else(host_name, |g| g.as_str().to_owned()),
        cordon_config::Store::Sqlite(_) => host_name(),
    };
    let webhook_wake = Arc::new(tokio::sync::Notify::new());
    let records = loaded.hosts.len();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let Built {
        mut core,
        config: config_rx,
        rejected,
        reports,
    } = Core::builder(config.clone(), store.clone())
        .clock(clock.clone())
        .webhooks(gateway.clone(), webhook_wake.clone())
        .build(loaded);
    if fleet.is_some() {
        // A shared store holds every gateway's records: those outside this
        // gateway's prefixes are the other gateways' to enforce.
        if !rejected.is_empty() {
            info!(
                records = rejected.len(),
                "records and sessions outside this gateway's subscriber prefixes are left to the gateways that serve them"
            );
        }
    } else {
        for (address, why) in rejected {
            error!(subscriber = %address, why, "a stored record is no longer a valid subscriber address under this config; it is kept in the store but not enforced");
        }
    }
    info!(store = %store.location(), records, reports, "store opened; report ledger rebuilt");
    let (kernel, metrics) = (core.kernel(), core.metrics());
    core.install().await?;

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let core = crate::core::spawn(core, options.reconcile_every, cancel.clone(), &tracker);
    if let Some(f) = &fleet {
        fleet::spawn(
            f,
            &core,
            &config_rx,
            &metrics,
            clock.clone(),
            &cancel,
            &tracker,
        );
    }
    table_watch::spawn(core.clone(), &config.table, cancel.clone(), &tracker);
    crate::webhook::spawn(
        hooks,
        crate::webhook::Context {
            store: store.clone(),
            gateway,
            wake: webhook_wake,
            metrics: metrics.clone(),
            clock: clock.clone(),
        },
        config_rx.clone(),
        cancel.clone(),
        &tracker,
    );
    // Listen for crossings before saying ready: a crossing logged before
    // the group is bound is lost, and the kernel repeats it only after 10 s.
    let nflog = crate::detection::open_nflog(config.detection.nflog_group).await;
    crate::detection::spawn(
        crate::detection::Detector {
            core: core.clone(),
            kernel: kernel.clone(),
            metrics: metrics.clone(),
            config: config_rx.clone(),
            dnsbl: None,
            clock: clock.clone(),
        },
        nflog,
        cancel.clone(),
        &tracker,
    );
    let shared = Shared {
        core: core.clone(),
        config: config_rx,
        kernel,
        store,
        started: clock.now(),
        clock,
        seen: seen::SeenCache::default(),
        fleet: fleet.as_ref().map(|f| f.feed.clone()),
    };
    let listen = |what: &std::path::Path| {
        let what = what.display().to_string();
        move |source| DaemonError::Listen { what, source }
    };
    let c = &config.control;
    let control = sockets::bind(&c.socket, c.mode.bits(), c.group.as_deref(), None)
        .await
        .map_err(listen(&c.socket))?;
    // The portal's own user owns its socket when one is configured (mode
    // 0600 then); otherwise it is treated like the control socket.
    let portal_user = config.portal.user.as_deref();
    let portal_uid = portal_user
        .map(|user| match nix::unistd::User::from_name(user) {
            Ok(Some(u)) => Ok(u.uid.as_raw()),
            _ => Err(DaemonError::PortalUser { user: user.into() }),
        })
        .transpose()?;
    let portal_mode = if portal_user.is_some() {
        SocketMode::OWNER_ONLY
    } else {
        c.mode
    };
    let portal = sockets::bind(
        &c.portal_socket,
        portal_mode.bits(),
        c.group.as_deref(),
        portal_user,
    )
    .await
    .map_err(listen(&c.portal_socket))?;
    tracker.spawn(maildir::run(
        shared.clone(),
        metrics.clone(),
        cancel.clone(),
    ));
    tracker.spawn(control::serve(
        control,
        conns::ConnTable::new(control_caps),
        shared.clone(),
        cancel.clone(),
    ));
    tracker.spawn(portal::serve(
        portal,
        conns::ConnTable::new(portal_caps),
        portal_uid,
        shared.clone(),
        cancel.clone(),
    ));
    if let Some(r) = &config.sessions.radius {
        let clients = radius::clients_of(r)?;
        let socket = radius::bind(r)
            .await
            .map_err(|source| DaemonError::Listen {
                what: format!("sessions.radius.listen {}", r.listen),
                source,
            })?;
        info!(listen = %r.listen, clients = r.clients.len(), "RADIUS accounting listener");
        tracker.spawn(radius::serve(
            socket,
            clients,
            shared.clone(),
            metrics.clone(),
            cancel.clone(),
        ));
    }
    if let Some(addr) = config.metrics.listen {
        let listener = crate::metrics::bind(addr)
            .await
            .map_err(|source| DaemonError::Listen {
                what: format!("metrics.listen {addr}"),
                source,
            })?;
        tracker.spawn(crate::metrics::serve(listener, metrics, cancel.clone()));
    }
    if let Some(interval) = sd_notify::watchdog_enabled() {
        tracker.spawn(watchdog(core.clone(), interval, cancel.clone()));
    }
    tracker.close();

    ready();
    info!(control = %c.socket.display(), portal = %c.portal_socket.display(), "cordond ready");
    signals(&options, &core, &cancel).await;
    info!("stopping; the table stays in the kernel so quarantined hosts stay quarantined");
    cancel.cancel();
    drop(core);
    drop(shared);
    tracker.wait().await;
    let _ = std::fs::remove_file(&config.control.socket);
    let _ = std::fs::remove_file(&config.control.portal_socket);
    Ok(())
}

/// Raises the descriptor limit to the hard limit and sizes the sockets'
/// caps from the limit in force, so that a flood of connections meets the
/// caps before it meets `EMFILE`.
fn socket_caps() -> (conns::Caps, conns::Caps) {
    let nofile = match cordon_runtime::limits::raise_nofile() {
        Ok(limit) => {
            info!(
                was = limit.was,
                now = limit.now,
                "descriptor limit (RLIMIT_NOFILE)"
            );
            limit.usable()
        }
        Err(e) => {
            warn!(error = %e, "cannot read the descriptor limit; assuming 1024");
            1024
        }
    };
    let (control, portal) = conns::caps_for(nofile);
    info!(
        control = control.total,
        control_per_uid = control.per_uid,
        portal = portal.total,
        "socket connection caps"
    );
    (control, portal)
}

/// Tells supervisors: one line on stdout (the lab waits for it) and systemd's
/// `READY=1` when run under systemd.
fn ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "cordond ready");
    let _ = out.flush();
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

/// Pings systemd's watchdog at half its interval, but only while the core
/// answers: a core stuck on the store or the kernel stops the pings, and
/// systemd restarts cordond (the table stays; the restart reconciles).
async fn watchdog(core: CoreHandle, interval: std::time::Duration, cancel: CancellationToken) {
    let period = interval / 2;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        match tokio::time::timeout(period, core.counts()).await {
            Ok(Some(_)) => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            Ok(None) => return,
            Err(_) => warn!("the core did not answer within {period:?}; not pinging the watchdog"),
        }
    }
}

/// Waits for SIGTERM/SIGINT; handles SIGHUP (reload) meanwhile.
async fn signals(options: &Options, core: &CoreHandle, cancel: &CancellationToken) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        error!("cannot install signal handlers; stopping");
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = int.recv() => return,
            _ = cancel.cancelled() => return,
            _ = hup.recv() => reload(options, core).await,
        }
    }
}

async fn reload(options: &Options, core: &CoreHandle) {
    let path = options.config.clone();
    let loaded: Result<Config, ConfigErrors> = cordon_config::load_file(&path);
    match loaded {
        Err(errors) => {
            for e in &errors.0 {
                error!(error = %e, "SIGHUP: the new config is invalid; keeping the running one");
            }
        }
        Ok(config) => match core.reload(Arc::new(config)).await {
            Some(Ok(())) => info!(config = %path.display(), "SIGHUP: config reloaded"),
            Some(Err(e)) => {
                warn!(error = %e, "SIGHUP: the new config was not applied; keeping the running one")
            }
            None => {}
        },
    }
}
