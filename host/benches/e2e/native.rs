//! The native baseline: hello's logic compiled into the benchmark itself,
//! behind the same hyper HTTP/1 server keruj-host uses, with the host's own
//! token check and event parsing. No sandbox, no storage: the physical limit
//! of this design on this machine.
//!
//! The benchmark runs it as a separate process (`e2e --native-serve ADDR`),
//! so that it is measured exactly as the other servers are.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use keruj_guest::{App, Context, Event, Reply};
use keruj_host::Token;
use keruj_host::event::IncomingEvent;
use keruj_host::http::TOKEN_HEADER;

use crate::hello_logic::Hello;

/// Serves until killed; prints `listening on http://IP:PORT` first.
pub fn serve(listen: &str, token: &str) {
    let token = Arc::new(Token::new(token));
    // The same runtime keruj-host's `main` builds: one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let token = token.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let token = token.clone();
                    async move { Ok::<_, Infallible>(handle(&token, request).await) }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

async fn handle(token: &Token, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::POST || request.uri().path() != "/apps/hello/events" {
        return reply(StatusCode::NOT_FOUND, r#"{"error":"no such route"}"#.into());
    }
    let mut presented = request.headers().get_all(TOKEN_HEADER).iter();
    let authorized = match (presented.next(), presented.next()) {
        (Some(value), None) => token.matches(value.as_bytes()),
        _ => false,
    };
    if !authorized {
        return reply(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"wrong token"}"#.into(),
        );
    }
    let Ok(body) = request.into_body().collect().await else {
        return reply(StatusCode::BAD_REQUEST, r#"{"error":"unreadable"}"#.into());
    };
    let event = match IncomingEvent::parse(&body.to_bytes()) {
        Ok(event) => event,
        Err(error) => return reply(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let ctx = Context {
        company_id: event.company_id,
        account_id: event.account_id,
    };
    // What the SDK does in the plugin: read the body the host passes on.
    let Ok(body) = serde_json::from_str(&event.body) else {
        return reply(StatusCode::BAD_REQUEST, r#"{"error":"unreadable"}"#.into());
    };
    match Hello::handle(&ctx, Event::from_body(&event.name, body)) {
        Ok(Reply::Done) => reply(StatusCode::OK, String::new()),
        Ok(Reply::Form(form)) => reply(StatusCode::OK, form.to_json()),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"failed"}"#.into(),
        ),
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
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
