//! The admin listener: `GET /metrics` for the operator's Prometheus, on its
//! own address (loopback by default), never on the public port where Keruj's
//! requests arrive.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;

use super::accept::{self, Limits};
use crate::host::Host;

/// The admin listener's default address: loopback, off the public port.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// What `/metrics` answers with (Prometheus reads OpenMetrics text).
const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` (anything else: 404) until
/// `shutdown` completes.
pub async fn serve(host: Host, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let limits = Limits {
        max_connections: super::default_max_connections(),
        header_timeout: host.config().header_timeout,
        drain_timeout: Duration::from_secs(1),
    };
    let handler = move |request: hyper::Request<hyper::body::Incoming>| {
        let host = host.clone();
        async move { answer(&host, request.method(), request.uri().path()) }
    };
    accept::accept(listener, limits, handler, || (), shutdown).await
}

fn answer(host: &Host, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let mut response = match (method, path) {
        (&Method::GET, "/metrics") => {
            let mut response = Response::new(Full::new(Bytes::from(host.metrics().encode())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_OPENMETRICS),
            );
            response
        }
        _ => {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"not found: the admin listener serves GET /metrics\n",
            )));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}
