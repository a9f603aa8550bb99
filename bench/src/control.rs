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
    if requests.is_empty() {
        return Ok(Duration::ZERO);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for chunk in requests.chunks(requests.len().div_ceil(connections.max(1))) {
            let chunk = chunk.to_vec();
            let socket = socket.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut io = framed(tokio::net::UnixStream::connect(&socket).await?);
                for req in chunk {
                    if let Response::Error { message, .. } =
                        call::<_, Response>(&mut io, &req).await?
                    {
                        bail!("refused: {message}");
                    }
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(t.elapsed())
    })
}
