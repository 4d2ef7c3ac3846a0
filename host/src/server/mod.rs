//! The HTTP front: routes, the token check, body limits, and error JSON.
//!
//! `POST /apps/<app>/events` is checked in the contract's order: unknown app
//! (404), token (401), body size (413), body shape (400), then the lifecycle
//! in [`dispatch`](crate::dispatch). Nothing is stored and no plugin runs
//! before the token matched.
//!
//! [`accept`] is the loop every listener of the host serves its connections
//! with; [`admin`] the operator's listener (`GET /metrics`).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use tokio::net::TcpListener;

pub mod accept;
pub mod admin;

pub use accept::{default_max_connections, raise_descriptor_limit};

use crate::dispatch::{DispatchError, Reply, new_request_id};
use crate::host::Host;
use crate::settings::is_app_name;

/// The header Keruj puts the app's secret token in.
pub const TOKEN_HEADER: &str = "x-keruj-app-token";
/// The header every answer carries its request id in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// What a busy app's 503 tells the client to wait, in seconds.
pub const RETRY_AFTER_SECS: u32 = 1;
/// How far past the limit a refused body is still read (see [`read_body`]).
const DRAIN_FACTOR: u64 = 8;
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

type Body = Full<Bytes>;

/// Serves `host` on `listener` until `shutdown` completes; then stops
/// accepting, lets requests in flight finish, and flushes the database.
pub async fn serve(
    host: Host,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let config = host.config();
    let limits = accept::Limits {
        max_connections: config
            .max_connections
            .unwrap_or_else(default_max_connections),
        header_timeout: config.header_timeout,
        drain_timeout: DRAIN_TIMEOUT,
    };
    tracing::info!(
        max_connections = limits.max_connections,
        "accepting connections"
    );
    let serving = host.clone();
    let handler = move |request| {
        let host = serving.clone();
        async move { handle(&host, request).await }
    };
    let counted = host.clone();
    accept::accept(
        listener,
        limits,
        handler,
        move || counted.metrics().connection(),
        async {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
        },
    )
    .await;
    host.flush().await?;
    tracing::info!("database flushed; stopped");
    Ok(())
}

/// The host's routes as a hyper service, to mount in an embedder's own server.
pub fn service(
    host: &Host,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let host = host.clone();
    service_fn(move |request| {
        let host = host.clone();
        async move { Ok::<_, Infallible>(handle(&host, request).await) }
    })
}

/// Routes one request and turns every outcome into a response.
pub async fn handle(host: &Host, request: Request<Incoming>) -> Response<Body> {
    let request_id = new_request_id();
    let path = request.uri().path().to_owned();
    // Every segment counts: `//apps/x/events` is no route, like `/apps/x/events/`.
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(&path).split('/').collect();
    let mut response = match (request.method(), segments.as_slice()) {
        (&Method::GET, ["healthz"]) => json_response(StatusCode::OK, &json!({"status": "ok"})),
        (&Method::GET, ["readyz"]) => readyz(host).await,
        (&Method::GET, ["apps", app, "health"]) => app_health(host, app).await,
        (&Method::POST, ["apps", app, "events"]) => {
            let app = app.to_string();
            match event(host, &app, request, &request_id).await {
                Ok(Reply::Done) => Response::new(Body::default()),
                Ok(Reply::Form(form)) => json_response(StatusCode::OK, &form),
                Err(failure) => failure.into_response(&request_id),
            }
        }
        (&Method::POST, ["hooks", id]) => {
            let id = id.to_string();
            hook(host, &id, request, &request_id).await
        }
        (_, ["hooks", _]) => method_not_allowed("POST", &request_id),
        (_, ["healthz"] | ["readyz"] | ["apps", _, "health"]) => {
            method_not_allowed("GET", &request_id)
        }
        (_, ["apps", _, "events"]) => method_not_allowed("POST", &request_id),
        _ => error_response(StatusCode::NOT_FOUND, "no such route", &request_id),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Why an event request failed before or during dispatch.
enum Failure {
    Unauthorized,
    TooLarge(usize),
    BodyTimeout,
    BodyUnreadable,
    Dispatch(DispatchError),
}

impl Failure {
    fn into_response(self, request_id: &str) -> Response<Body> {
        let busy = matches!(self, Failure::Dispatch(DispatchError::Busy(_)));
        let (status, message) = match self {
            Failure::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                format!("missing or wrong {TOKEN_HEADER} for this app"),
            ),
            Failure::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over the limit of {limit} bytes"),
            ),
            Failure::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long to arrive".into(),
            ),
            Failure::BodyUnreadable => {
                (StatusCode::BAD_REQUEST, "the body could not be read".into())
            }
            // Logged where it arose, with the company when there is one.
            Failure::Dispatch(error) => {
                let status = StatusCode::from_u16(error.status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, error.public_message())
            }
        };
        let mut response = error_response(status, &message, request_id);
        if busy {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// `POST /apps/<app>/events`: the app looked up once, for the token and for
/// the dispatcher.
async fn event(
    host: &Host,
    app: &str,
    request: Request<Incoming>,
    request_id: &str,
) -> Result<Reply, Failure> {
    let dispatcher = host.dispatcher();
    let serving = match dispatcher.app(app) {
        Ok(serving) => serving,
        Err(error) => {
            match &error {
                DispatchError::Unavailable(problem) => tracing::warn!(
                    app,
                    request_id,
                    "event refused: the app is not available: {problem}"
                ),
                _ => tracing::info!(request_id, "event refused: {}", error.public_message()),
            }
            return Err(Failure::Dispatch(error));
        }
    };
    let mut presented = request.headers().get_all(TOKEN_HEADER).iter();
    let authorized = match (&serving.settings.token, presented.next(), presented.next()) {
        (Some(token), Some(value), None) => token.matches(value.as_bytes()),
        _ => false,
    };
    if !authorized {
        tracing::info!(app, request_id, "event refused: missing or wrong token");
        return Err(Failure::Unauthorized);
    }
    let config = host.config();
    let body = read_body(request, config.max_body_bytes, config.body_timeout).await?;
    dispatcher
        .dispatch(&serving, &body, request_id)
        .await
        .map_err(Failure::Dispatch)
}

/// `POST /hooks/<id>`: a third party's delivery, within the same body
/// limits as Keruj's events (413 past `--max-body-bytes`). An unknown id,
/// or a URL past its rate, is answered before the body is read.
async fn hook(
    host: &Host,
    id: &str,
    request: Request<Incoming>,
    request_id: &str,
) -> Response<Body> {
    use crate::triggers::webhooks;
    let dispatcher = host.webhooks();
    let answer = match webhooks::admit(dispatcher, id) {
        Err(answer) => answer,
        Ok(admitted) => {
            let query = request.uri().query().unwrap_or_default().to_owned();
            let headers = request.headers().clone();
            let config = host.config();
            let body = match read_body(request, config.max_body_bytes, config.body_timeout).await {
                Ok(body) => body,
                Err(failure) => return failure.into_response(request_id),
            };
            let request_id = request_id.to_owned();
            webhooks::deliver_detached(dispatcher, admitted, query, headers, body, request_id).await
        }
    };
    let mut response = match answer.status {
        StatusCode::OK => Response::new(Body::default()),
        status => error_response(status, answer.message, request_id),
    };
    if let Some(seconds) = answer.retry_after_seconds() {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// Reads the whole body. A body over `limit` gets 413, but is first read to
/// its end (up to [`DRAIN_FACTOR`] times the limit) so that the client sees
/// the answer instead of a connection reset while it is still sending.
async fn read_body(
    request: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Failure> {
    let drain_cap = (limit as u64).saturating_mul(DRAIN_FACTOR);
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > drain_cap) {
        return Err(Failure::TooLarge(limit));
    }
    let mut body = request.into_body();
    let read = async {
        let mut kept = BytesMut::new();
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| Failure::BodyUnreadable)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len() as u64;
            if seen > drain_cap {
                break;
            }
            if seen <= limit as u64 {
                kept.extend_from_slice(&data);
            }
        }
        match seen > limit as u64 {
            true => Err(Failure::TooLarge(limit)),
            false => Ok(kept.freeze()),
        }
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(Failure::BodyTimeout))
}

/// `GET /readyz`, for a load balancer: 200 once the store answers and every
/// app found at start is loaded or its problem known; else 503 saying what
/// is not ready. `/healthz` only says the process is alive.
async fn readyz(host: &Host) -> Response<Body> {
    let ready = host.readiness().await;
    let status = match ready.is_ready() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut body = json!({"status": if ready.is_ready() { "ready" } else { "not ready" }});
    if let Some(problem) = ready.store_problem {
        body["store"] = problem.into();
    }
    if ready.loading {
        body["compiling"] = ready.compiling.into();
    }
    json_response(status, &body)
}

/// `GET /apps/<app>/health`.
async fn app_health(host: &Host, app: &str) -> Response<Body> {
    let Some(health) = host.health(app).await else {
        // What the client sent is echoed only if it could be an app id.
        let app = is_app_name(app).then_some(app);
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"status": "unknown", "app": app}),
        );
    };
    let (status, word) = match health.ok {
        true => (StatusCode::OK, "ok"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let mut body = json!({"status": word, "app": app});
    if let Some(version) = health.version {
        body["version"] = version.into();
    }
    if let Some(problem) = health.problem {
        body["problem"] = problem.into();
    }
    json_response(status, &body)
}

fn method_not_allowed(allow: &'static str, request_id: &str) -> Response<Body> {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
        request_id,
    );
    response
        .headers_mut()
        .insert("allow", HeaderValue::from_static(allow));
    response
}

/// Every error: `{"error": ..., "request_id": ...}`.
pub(crate) fn error_response(
    status: StatusCode,
    message: &str,
    request_id: &str,
) -> Response<Body> {
    json_response(status, &json!({"error": message, "request_id": request_id}))
}

pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("JSON values serialise");
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
