//! Asking `cordond` about the caller, over the portal socket.
//!
//! One short connection per question: the portal asks at most a few times per
//! page view, `cordond` answers from memory, and a fresh connection means a
//! restarted `cordond` is picked up without any reconnect logic. Every call
//! has a deadline, so a stuck daemon slows a page by that much at most and the
//! page then renders general advice.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use cordon_proto::frame::{call, framed};
use cordon_proto::portal::{HostStatus, Request, Response, SelfReleaseOutcome};
use tokio::net::UnixStream;

use crate::error::{Error, Result};

/// A client for `control.portal_socket`.
#[derive(Debug, Clone)]
pub struct Cordond {
    socket: PathBuf,
    timeout: Duration,
}

impl Cordond {
    /// A client for `socket`, each call bounded by `timeout`.
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Cordond { socket, timeout }
    }

    /// The caller's state and facts.
    pub async fn status(&self, address: IpAddr) -> Result<HostStatus> {
        match self.ask(Request::Status { address }).await? {
            Response::Status(status) => Ok(status),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Asks for the caller's self-release.
    pub async fn self_release(&self, address: IpAddr) -> Result<SelfReleaseOutcome> {
        match self.ask(Request::SelfRelease { address }).await? {
            Response::SelfRelease(outcome) => Ok(outcome),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn ask(&self, request: Request) -> Result<Response> {
        let exchange = async {
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| self.error(format!("cannot connect: {e}")))?;
            let mut io = framed(stream);
            call::<_, Response>(&mut io, &request)
                .await
                .map_err(|e| self.error(e.to_string()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.error(format!("no answer within {:?}", self.timeout)))?
    }

    fn unexpected(&self, answer: &Response) -> Error {
        match answer {
            Response::Error { message } => self.error(format!("cordond refused: {message}")),
            other => self.error(format!("answer of the wrong kind: {other:?}")),
        }
    }

    fn error(&self, reason: String) -> Error {
        Error::Cordond {
            socket: self.socket.clone(),
            reason,
        }
    }
}
