//! The HTTP front that the benchmark's native baseline and its Extism peer
//! share: a plain hyper HTTP/1 server that, like keruj-host, answers only
//! `POST /apps/hello/events`, checks the app's token (one header, no more)
//! and reads the body, then hands the body to the target's own handler.
//! Included with `#[path]` by `host/benches/e2e/native.rs` and by
//! `bench/peers/extism-host` (its own workspace).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

/// The header that carries the app's token, as Keruj sends it.
pub const TOKEN_HEADER: &str = "x-keruj-app-token";

/// Serves on `listener` until the process ends. `authorized` judges the
/// token a request presents; `handle` answers the body of an authorized one.
pub async fn serve<A, H, F>(listener: tokio::net::TcpListener, authorized: A, handle: H)
where
    A: Fn(&[u8]) -> bool + Send + Sync + 'static,
    H: Fn(Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send,
{
    let target = Arc::new((authorized, handle));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let target = target.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let target = target.clone();
                async move {
                    let (authorized, handle) = &*target;
                    Ok::<_, Infallible>(answer(authorized, handle, request).await)
                }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer<F: Future<Output = Response<Full<Bytes>>>>(
    authorized: impl Fn(&[u8]) -> bool,
    handle: impl Fn(Bytes) -> F,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::POST || request.uri().path() != "/apps/hello/events" {
        return reply(StatusCode::NOT_FOUND, r#"{"error":"no such route"}"#.into());
    }
    let mut presented = request.headers().get_all(TOKEN_HEADER).iter();
    let allowed = match (presented.next(), presented.next()) {
        (Some(value), None) => authorized(value.as_bytes()),
        _ => false,
    };
    if !allowed {
        return reply(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"wrong token"}"#.into(),
        );
    }
    match request.into_body().collect().await {
        Ok(body) => handle(body.to_bytes()).await,
        Err(_) => reply(StatusCode::BAD_REQUEST, r#"{"error":"unreadable"}"#.into()),
    }
}

/// An answer: `body` as JSON, or empty.
pub fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let json = !body.is_empty();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if json {
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
    }
    response
}
