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
    if hosts.is_empty() {
        return Ok(Duration::ZERO);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for chunk in hosts.chunks(hosts.len().div_ceil(connections.max(1))) {
            let chunk = chunk.to_vec();
            let socket = socket.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut io = framed(tokio::net::UnixStream::connect(&socket).await?);
                for address in chunk {
                    let req = Request::Quarantine {
                        address: Some(address),
                        subscriber: None,
                        reason: "bench".into(),
                        hold_s: None,
                    };
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
