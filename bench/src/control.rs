//! Talking to cordond's control socket directly (`cordon_proto`), for loads
//! the CLI would spend its time starting processes on.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use cordon_proto::control::{Request, Response};
use cordon_runtime::frame::{call, framed};

/// Quarantines `hosts` through `connections` parallel control connections
/// (reason `bench`, default hold) and returns how long that took.
pub fn bulk_quarantine(socket: &Path, hosts: &[String], connections: usize) -> Result<Duration> {
    let requests = hosts
        .iter()
        .map(|address| Request::Quarantine {
            address: Some(address.clone()),
            subscriber: None,
            reason: "bench".into(),
            hold_s: None,
        })
        .collect();
    bulk(socket, requests, connections)
}

/// Sends `requests` through `connections` parallel control connections,
/// each connection's share in order, and returns how long that took. Any
/// refusal is an error.
pub fn bulk(socket: &Path, requests: Vec<Request>, connections: usize) -> Result<Duration> {
    let t = Instant::now();
    bulk_timed(socket, requests, connections)?;
    Ok(t.elapsed())
}

/// Like [`bulk`], returning when each request's answer arrived, in the
/// order of `requests`.
pub fn bulk_timed(
    socket: &Path,
    requests: Vec<Request>,
    connections: usize,
) -> Result<Vec<Instant>> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for chunk in requests.chunks(requests.len().div_ceil(connections.max(1))) {
            let chunk = chunk.to_vec();
            let socket = socket.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut io = framed(tokio::net::UnixStream::connect(&socket).await?);
                let mut answered = Vec::with_capacity(chunk.len());
                for req in chunk {
                    if let Response::Error { message, .. } =
                        call::<_, Response>(&mut io, &req).await?
                    {
                        bail!("refused: {message}");
                    }
                    answered.push(Instant::now());
                }
                anyhow::Ok(answered)
            }));
        }
        let mut all = Vec::with_capacity(requests.len());
        for t in tasks {
            all.extend(t.await??);
        }
        Ok(all)
    })
}

/// One control connection kept open, for timing single requests without
/// a connect or a runtime start in each.
pub struct Client {
    rt: tokio::runtime::Runtime,
    io: cordon_runtime::frame::Framed,
}

impl Client {
    /// Connects to the control socket at `socket`.
    pub fn connect(socket: &Path) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let io = rt.block_on(async {
            anyhow::Ok(framed(tokio::net::UnixStream::connect(socket).await?))
        })?;
        Ok(Client { rt, io })
    }

    /// Sends `request` and waits for its answer; a refusal is an error.
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        let io = &mut self.io;
        let answer = self
            .rt
            .block_on(async { call::<_, Response>(io, request).await })?;
        if let Response::Error { message, .. } = &answer {
            bail!("refused: {message}");
        }
        Ok(answer)
    }
}
