//! Carrying out one command and choosing the exit code.

use std::io::Write as _;
use std::path::Path;

use cordon_config::{Config, ConfigErrors};
use cordon_proto::control::{ErrorClass, ReportSubmission, Request, Response};
use cordon_proto::portal::HostState;
use cordon_proto::text::{MAX_EVIDENCE, MAX_REASON, MAX_SOURCE, bounded};
use cordon_proto::time::{Clock, SystemClock};

use super::args::{Change, Cli, Command, DEFAULT_CONFIG, Whom};
use super::conn::{AskError, ask};
use super::out::{Exit, Out, emit, for_people};
use super::output;

fn config_errors(e: &ConfigErrors) -> String {
    format!("the config is invalid:\n{e}")
}

/// Runs the command; returns the exit code.
pub async fn run(cli: Cli) -> Exit {
    let out = Out { json: cli.json };
    match &cli.command {
        Command::CheckConfig { path } => return check_config(&out, path),
        Command::Rules { config } => return rules(&out, config),
        _ => {}
    }
    // The config lets us check input locally and find the socket. An
    // explicitly named config must be valid; the default one is optional.
    let config = match &cli.config {
        Some(path) => match cordon_config::load_file(path) {
            Ok(c) => Some(c),
            Err(e) => return out.fail(Exit::BadInput, &config_errors(&e)),
        },
        None => cordon_config::load_file(Path::new(DEFAULT_CONFIG)).ok(),
    };
    let socket = cli
        .socket
        .clone()
        .or_else(|| config.as_ref().map(|c| c.control.socket.clone()))
        .unwrap_or_else(|| cordon_config::Control::default().socket);
    if let Command::Import { files } = &cli.command {
        return super::import::run(&out, files, config.as_ref(), &socket).await;
    }
    let request = match request(&cli.command, config.as_ref()) {
        Ok(r) => r,
        Err(message) => return out.fail(Exit::BadInput, &message),
    };
    let response = match ask(&socket, &request).await {
        Ok(r) => r,
        Err(e) => return out.fail(Exit::Failed, &maybe_applied(&cli.command, e)),
    };
    let now = SystemClock.now();
    match response {
        Response::Error { class, message } => out.fail(
            match class {
                ErrorClass::BadInput => Exit::BadInput,
                ErrorClass::Failed => Exit::Failed,
            },
            &message,
        ),
        Response::Status(s) => out.doc(&s, || output::status(&s, now)),
        Response::List { hosts, .. } => out.doc(&serde_json::json!({ "hosts": hosts }), || output::list(&hosts, now)),
        Response::Host(h) => out.doc(&h, || {
            let head = match &cli.command {
                Command::Quarantine { .. } => format!("{} is quarantined.\n", output::whom(&h)),
                Command::Notice { .. } => format!("{} is {}.\n", output::whom(&h), h.state),
                Command::Release { .. } if h.state == HostState::Clean => {
                    format!("{} is released (its notice withdrawn).\n", output::whom(&h))
                }
                Command::Release { .. } => format!("{} is released (on probation).\n", output::whom(&h)),
                _ => String::new(),
            };
            head + &output::show(&h, now)
        }),
        Response::History { entries, .. } => out.doc(&serde_json::json!({ "entries": entries }), || output::history(&entries, now)),
        Response::Session(s) => out.doc(&s, || super::sessions::changed(&s)),
        Response::Sessions { sessions, .. } => out.doc(&serde_json::json!({ "sessions": sessions }), || super::sessions::listing(&sessions, now)),
        Response::Reported { outcomes } => match outcomes.iter().find_map(|o| o.error.clone()) {
            Some(error) => out.fail(Exit::BadInput, &error),
            None => out.doc(&serde_json::json!({ "outcomes": outcomes }), || output::reported(&outcomes)),
        },
        _ => out.fail(Exit::Failed, "cordond answered with something this cordon does not know; are cordon and cordond the same version?"),
    }
}

/// The request for a command, with every check that needs no daemon.
fn request(command: &Command, config: Option<&Config>) -> Result<Request, String> {
    let check = |addr: &str| -> Result<String, String> {
        match config {
            Some(c) => c
                .subscriber_addr(addr)
                .map(|a| a.to_string())
                .map_err(|e| e.to_string()),
            None => Ok(addr.to_owned()),
        }
    };
    let reason = |r: &str| -> Result<String, String> {
        if r.trim().is_empty() {
            Err("the reason is empty; say why, e.g. --reason \"abuse ticket 4711\"".into())
        } else {
            bounded("--reason", r.trim(), MAX_REASON)?;
            Ok(r.trim().to_owned())
        }
    };
    // Whom, checked: the address against the config, the subscriber's id.
    let whom = |w: &Whom| -> Result<(Option<String>, Option<String>), String> {
        Ok((
            w.address.as_deref().map(check).transpose()?,
            w.subscriber
                .as_deref()
                .map(super::sessions::id)
                .transpose()?,
        ))
    };
    // A change's whom and reason, checked.
    let change = |c: &Change| -> Result<(Option<String>, Option<String>, String), String> {
        let (address, subscriber) = whom(&c.whom)?;
        Ok((address, subscriber, reason(&c.reason)?))
    };
    Ok(match command {
        Command::Status => Request::Status,
        Command::List => Request::List,
        Command::Show(w) => {
            let (address, subscriber) = whom(w)?;
            Request::Show {
                address,
                subscriber,
            }
        }
        Command::Quarantine { change: c, hold } => {
            let (address, subscriber, reason) = change(c)?;
            let hold_s = match hold {
                None => None,
                Some(text) => {
                    let d = cordon_config::duration::parse(text)
                        .map_err(|e| format!("--hold {text}: {e}"))?;
                    if d.is_zero() {
                        return Err(
                            "--hold 0 would end the quarantine at once; give a duration like 2h"
                                .into(),
                        );
                    }
                    Some(d.as_secs().max(1))
                }
            };
            Request::Quarantine {
                address,
                subscriber,
                reason,
                hold_s,
            }
        }
        Command::Notice(c) => {
            let (address, subscriber, reason) = change(c)?;
            Request::Notice {
                address,
                subscriber,
                reason,
            }
        }
        Command::Release(c) => {
            let (address, subscriber, reason) = change(c)?;
            Request::Release {
                address,
                subscriber,
                reason,
            }
        }
        Command::History {
            address,
            subscriber,
            limit,
        } => Request::History {
            address: address.as_deref().map(check).transpose()?,
            subscriber: subscriber.as_deref().map(super::sessions::id).transpose()?,
            limit: *limit,
        },
        Command::Session { action } => super::sessions::request(action, config)?,
        Command::Sessions { subscriber, limit } => Request::Sessions {
            subscriber: subscriber.as_deref().map(super::sessions::id).transpose()?,
            limit: *limit,
        },
        Command::Report {
            address,
            source,
            evidence,
            kind,
            weight,
            message_id,
            at,
        } => {
            if source.trim().is_empty() {
                return Err("--source is empty; name who reported it".into());
            }
            bounded("--source", source.trim(), MAX_SOURCE)?;
            bounded("--evidence", evidence.trim(), MAX_EVIDENCE)?;
            if let Some(m) = message_id {
                bounded("--message-id", m.trim(), MAX_SOURCE)?;
            }
            let at = match at {
                None => SystemClock.now(),
                Some(text) => cordon_detect::reports::parse_time(text)
                    .map(cordon_proto::time::unix)
                    .map_err(|e| format!("--at {text}: {e}"))?,
            };
            let address = match (config, address.trim().parse::<std::net::IpAddr>()) {
                (_, Err(_)) => {
                    return Err(format!(
                        "`{address}` is not an IP address; a report names one address, like 100.64.1.7"
                    ));
                }
                (Some(c), Ok(ip)) => {
                    c.subscriber_of(ip).map_err(|e| e.to_string())?;
                    ip.to_string()
                }
                (None, Ok(ip)) => ip.to_string(),
            };
            Request::Report {
                reports: vec![ReportSubmission {
                    address,
                    at,
                    source: source.trim().to_owned(),
                    evidence: evidence.clone(),
                    message_id: message_id.clone(),
                    kind: Some(kind.clone()),
                    weight: *weight,
                }],
            }
        }
        Command::CheckConfig { .. } | Command::Rules { .. } | Command::Import { .. } => {
            Request::Status
        }
    })
}

/// For a change whose answer was lost: say that it may have been applied
/// and how to find out, rather than let the operator believe it was not.
fn maybe_applied(command: &Command, e: AskError) -> String {
    match (command, e) {
        (
            Command::Quarantine { change: c, .. } | Command::Release(c) | Command::Notice(c),
            AskError::Lost(m),
        ) => {
            let target = match (&c.whom.address, &c.whom.subscriber) {
                (Some(a), _) => a.clone(),
                (None, Some(s)) => format!("--subscriber {s}"),
                (None, None) => String::new(),
            };
            format!(
                "{m}.\nThe request reached cordond, so it may have been applied. Check with `cordon show {target}` before you try again"
            )
        }
        (_, e) => e.message().to_owned(),
    }
}

fn check_config(out: &Out, path: &Path) -> Exit {
    match cordon_config::load_file(path) {
        Ok(_) => out.doc(
            &serde_json::json!({ "ok": true, "file": path.display().to_string() }),
            || format!("{}: ok\n", path.display()),
        ),
        Err(errors) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}",
                for_people(&errors.to_string())
            );
            if out.json {
                let list: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                emit(&format!(
                    "{}\n",
                    serde_json::json!({ "ok": false, "file": path.display().to_string(), "errors": list })
                ));
            }
            Exit::BadInput
        }
    }
}

fn rules(out: &Out, path: &Path) -> Exit {
    let config = match cordon_config::load_file(path) {
        Ok(c) => c,
        Err(e) => return out.fail(Exit::BadInput, &config_errors(&e)),
    };
    match cordon_rules::render(&config, &cordon_rules::Carried::default()) {
        Ok(text) => emit(&text),
        Err(e) => out.fail(Exit::Failed, &e.to_string()),
    }
}
