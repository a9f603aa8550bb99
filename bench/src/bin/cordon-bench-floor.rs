//! `cordon-bench-floor PORT URL`: the floor of the portal's stack, for the
//! portal-outbreak benchmark. hyper alone answers every request with the
//! portal's redirect to `URL`, made by the portal's own code
//! (`cordon_portal::respond`), so the bytes are the portal's. It runs as the
//! portal does (one single-threaded tokio runtime per core, each taking
//! connections from one shared listening socket, mimalloc) and does nothing
//! else: no connection caps, timeouts, metrics, logging spans or shutdown.
//! What the portal spends beyond it is what Cordon adds to hyper; what it
//! spends beyond nginx is hyper's and tokio's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use cordon_portal::respond::{Home, finish};
use http::StatusCode;
use http::header::HeaderValue;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: cordon-bench-floor PORT URL";
    let port: u16 = args.next().context(usage)?.parse().context(usage)?;
    let url = args.next().context(usage)?;
    let location = HeaderValue::from_str(&url).context("URL")?;
    let home = Arc::new(Home::new(&url, &location));
    let listener = cordon_portal::listen::bind(SocketAddr::from(([0, 0, 0, 0], port)))?;
    let runtimes = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut threads = Vec::new();
    for _ in 0..runtimes {
        let (listener, home) = (listener.try_clone()?, Arc::clone(&home));
        threads.push(std::thread::spawn(move || serve(listener, &home)));
    }
    drop(listener);
    println!("listening on {port}");
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a runtime panicked"))??;
    }
    Ok(())
}

/// One runtime: every connection a task, every request the redirect.
fn serve(listener: std::net::TcpListener, home: &Arc<Home>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            // The benchmark's client holds 64 connections at most: no
            // descriptor shortage to back off from.
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let home = Arc::clone(home);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let answer = finish(home.redirect(StatusCode::FOUND));
                    std::future::ready(Ok::<_, Infallible>(answer))
                });
                // A client's resets are its own business here.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
