//! `wasi:http/outgoing-handler`: outbound HTTP for apps whose toolchain
//! speaks `wasi:http` (JavaScript's `fetch`, Python, Rust's `wasi` crate),
//! under the same grant as `keruj:plugin/http` ([`super::outbound`]).
//!
//! wasmtime-wasi-http implements the interface; this module is its
//! `send_request` hook. Every request the plugin sends is one call of the
//! grant: its host is checked before any DNS lookup or connection, it counts
//! against the event's calls, and its answer (head and body) must come
//! within the call's time limit and size limit. `wasi:http` follows no
//! redirects: a plugin that follows one sends a new request, checked anew.
//! A refusal is `error-code.HTTP-request-denied` to the plugin.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Limited};
use reqwest::Url;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use wasmtime::component::Linker;

use super::InstanceState;
use super::outbound::{Call, CallError, Grant, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Via};

/// What a `send_request` hook returns: the response, and a future for any
/// I/O still running after it (none here: reqwest drives its connections).
type Sent = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

/// Only `types` and `outgoing-handler`: the host never calls a plugin's
/// `incoming-handler` (some toolchains export one; it loads, unused).
pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    Ok(())
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.wasi_http,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

impl WasiHttpHooks for Grant {
    /// reqwest sets `host` from the URL the grant checked.
    fn set_host_header(&mut self) -> bool {
        false
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        // Admitted (counted, checked, logged if refused) now, before the
        // plugin can do anything else; sent in the returned future.
        let admitted = match Url::parse(&request.uri().to_string()) {
            Ok(url) => self
                .admit(Via::WasiHttp, request.method(), &url)
                .map(|call| (call, url)),
            Err(error) => {
                let error = CallError::InvalidUrl(request.uri().to_string(), error.to_string());
                self.unreadable(Via::WasiHttp, &error);
                Err(error)
            }
        };
        Box::new(respond(admitted, request))
    }
}

/// Sends an admitted request; the answer (or error code) for the plugin.
async fn respond(
    admitted: Result<(Call, Url), CallError>,
    request: http::Request<WasiBody>,
) -> Sent {
    let (call, url) = admitted.map_err(error_code)?;
    match send(&call, url.clone(), request).await {
        Ok(response) => {
            call.answered(&url, response.status().as_u16());
            let io: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response, io))
        }
        Err(error) => {
            call.failed(&error);
            Err(error_code(error))
        }
    }
}

async fn send(
    call: &Call,
    url: Url,
    request: http::Request<WasiBody>,
) -> Result<http::Response<WasiBody>, CallError> {
    let (parts, body) = request.into_parts();
    // The plugin may still be writing the body: wait for it within the call's time.
    let body = call
        .within(Limited::new(body, MAX_REQUEST_BYTES).collect())
        .await?
        .map_err(
            |error| match error.downcast::<http_body_util::LengthLimitError>() {
                Ok(_) => CallError::RequestTooLarge,
                Err(error) => CallError::Transport(format!("the request body failed: {error}")),
            },
        )?
        .to_bytes();
    let request = call
        .client()
        .request(parts.method, url)
        .headers(parts.headers)
        .body(body);
    let response: http::Response<reqwest::Body> = call.send(request).await?.into();
    Ok(response.map(|body| {
        Bounded::new(body, call.deadline().into(), call.timeout())
            .map_err(error_code)
            .boxed_unsync()
    }))
}

/// The `wasi:http` error code for a failed call.
fn error_code(error: CallError) -> wasmtime_wasi_http::Error {
    let code = match error {
        CallError::TooManyCalls | CallError::NotAllowed(_) => ErrorCode::HttpRequestDenied,
        CallError::InvalidUrl(..) => ErrorCode::HttpRequestUriInvalid,
        CallError::Method(_) => ErrorCode::HttpRequestMethodInvalid,
        CallError::Timeout(_) => ErrorCode::HttpResponseTimeout,
        CallError::RequestTooLarge => ErrorCode::HttpRequestBodySize(None),
        CallError::ResponseTooLarge => {
            ErrorCode::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES as u64))
        }
        CallError::Connect => ErrorCode::ConnectionRefused,
        CallError::Invalid(detail) | CallError::Transport(detail) => {
            ErrorCode::InternalError(Some(detail))
        }
    };
    code.into()
}

/// A response body held to the call's limits while the plugin reads it:
/// at most [`MAX_RESPONSE_BYTES`], and nothing after the deadline.
struct Bounded<B> {
    inner: B,
    read: usize,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    done: bool,
}

impl<B> Bounded<B> {
    fn new(inner: B, deadline: tokio::time::Instant, timeout: Duration) -> Self {
        Bounded {
            inner,
            read: 0,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            timeout,
            done: false,
        }
    }

    fn fail(&mut self, error: CallError) -> Poll<Option<Result<Frame<Bytes>, CallError>>> {
        self.done = true;
        Poll::Ready(Some(Err(error)))
    }
}

impl<B> Body for Bounded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = CallError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, CallError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return this.fail(CallError::Timeout(this.timeout));
        }
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                this.read += frame.data_ref().map_or(0, Bytes::len);
                if this.read > MAX_RESPONSE_BYTES {
                    return this.fail(CallError::ResponseTooLarge);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(error)) => this.fail(CallError::Transport(error.to_string())),
            None => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A body that yields `chunks`, then ends, or else never ends.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        then_wait: bool,
    }

    impl Chunks {
        fn of(sizes: &[usize]) -> Chunks {
            Chunks {
                chunks: sizes.iter().map(|&n| Bytes::from(vec![b'x'; n])).collect(),
                then_wait: false,
            }
        }
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.chunks.pop_front() {
                Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                None if self.then_wait => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn bounded(body: Chunks, timeout: Duration) -> Bounded<Chunks> {
        Bounded::new(body, tokio::time::Instant::now() + timeout, timeout)
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_limit_fails_and_ends() {
        let half = MAX_RESPONSE_BYTES / 2;
        let body = bounded(Chunks::of(&[half, half, 1, 10]), Duration::from_secs(60));
        let mut body = std::pin::pin!(body);
        let mut read = 0;
        let error = loop {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.into_data().unwrap().len(),
                Some(Err(error)) => break error,
                None => panic!("the body ended without an error after {read} bytes"),
            }
        };
        assert_eq!(error, CallError::ResponseTooLarge);
        assert_eq!(read, MAX_RESPONSE_BYTES);
        assert!(body.frame().await.is_none(), "frames after the error");
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_whole() {
        let body = bounded(
            Chunks::of(&[MAX_RESPONSE_BYTES - 1, 1]),
            Duration::from_secs(60),
        );
        let collected = body.collect().await.expect("within the limit").to_bytes();
        assert_eq!(collected.len(), MAX_RESPONSE_BYTES);
    }

    #[tokio::test]
    async fn a_body_still_coming_at_the_deadline_fails() {
        let mut stalled = Chunks::of(&[10]);
        stalled.then_wait = true;
        let timeout = Duration::from_millis(50);
        let error = bounded(stalled, timeout)
            .collect()
            .await
            .expect_err("the deadline passed");
        assert_eq!(error, CallError::Timeout(timeout));
    }
}
