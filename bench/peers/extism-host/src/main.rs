//! An Extism-based host for the benchmark's peer: a plain hyper server that,
//! like keruj-host, checks the app's token, reads the body, checks it is a
//! Keruj event, and runs hello's logic in a fresh plugin instance per event
//! (Extism's `CompiledPlugin`: compiled once, instantiated per call), the
//! same isolation keruj-host gives.
//!
//! `extism-host --listen ADDR --plugin hello.wasm`, token in `KERUJ_TOKEN`;
//! prints `listening on http://IP:PORT` once it accepts connections.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[path = "../../../hello_logic.rs"]
#[allow(dead_code)]
mod hello_logic;

const TOKEN_HEADER: &str = "x-keruj-app-token";

struct State {
    compiled: CompiledPlugin,
    token: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    };
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let wasm = std::fs::read(arg("--plugin").ok_or("--plugin FILE is required")?)?;
    let compiled = CompiledPlugin::new(PluginBuilder::new(Manifest::new([Wasm::data(wasm)])))?;
    let state = Arc::new(State {
        compiled,
        token: std::env::var("KERUJ_TOKEN").unwrap_or_default(),
    });
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::POST || request.uri().path() != "/apps/hello/events" {
        return reply(StatusCode::NOT_FOUND, r#"{"error":"no such route"}"#.into());
    }
    let mut presented = request.headers().get_all(TOKEN_HEADER).iter();
    let authorized = match (presented.next(), presented.next()) {
        (Some(value), None) => {
            !state.token.is_empty()
                && hello_logic::token_matches(state.token.as_bytes(), value.as_bytes())
        }
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
    let body = body.to_bytes();
    // The host's own check that this is a Keruj event, as keruj-host makes.
    let event: Result<serde_json::Map<String, serde_json::Value>, _> =
        serde_json::from_slice(&body);
    let valid = event.is_ok_and(|e| {
        e.get("event").is_some_and(|v| v.is_string())
            && e.get("company_id").is_some_and(|v| v.is_string())
    });
    if !valid {
        return reply(
            StatusCode::BAD_REQUEST,
            r#"{"error":"not a Keruj event"}"#.into(),
        );
    }
    let Ok(body) = std::str::from_utf8(&body) else {
        return reply(StatusCode::BAD_REQUEST, r#"{"error":"not UTF-8"}"#.into());
    };
    // A fresh instance per event, as keruj-host: nothing survives between events.
    let result = Plugin::new_from_compiled(&state.compiled)
        .and_then(|mut plugin| plugin.call::<&str, String>("handle_event", body));
    match result {
        Ok(out) => reply(StatusCode::OK, out),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"the app failed"}"#.into(),
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
