//! Reading a form's body (the self-release and notice buttons), bounded in
//! size and time, shared by both.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::{App, header_str};
use crate::respond::Body;

impl App {
    /// A form's body, bounded in size and time; a refusal page when it is
    /// too large or too slow.
    pub(super) async fn read_form<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
    ) -> Result<Bytes, Response<Body>>
    where
        B: hyper::body::Body + Send,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let fallback = self.translations.fallback().to_owned();
        let max = self.limits.max_body_bytes;
        let declared =
            header_str(parts, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(self.problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                &fallback,
                "problem-bad-request",
            ));
        }
        let read = tokio::time::timeout(
            self.limits.body_read_timeout,
            Limited::new(body, max).collect(),
        )
        .await;
        match read {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(_)) => Err(self.problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                &fallback,
                "problem-bad-request",
            )),
            Err(_) => Err(self.problem(
                StatusCode::REQUEST_TIMEOUT,
                &fallback,
                "problem-bad-request",
            )),
        }
    }
}
