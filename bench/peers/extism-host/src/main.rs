//! An Extism-based host for the benchmark's peer: a plain hyper server that,
//! like keruj-host, checks the app's token, reads the body, checks it is a
//! Keruj event, and runs hello's logic in a fresh plugin instance per event
//! (Extism's `CompiledPlugin`: compiled once, instantiated per call), the
//! same isolation keruj-host gives.
//!
//! `extism-host --listen ADDR --plugin hello.wasm`, token in `KERUJ_TOKEN`;
//! prints `listening on http://IP:PORT` once it accepts connections.

use bytes::Bytes;
use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
use http_body_util::Full;
use hyper::{Response, StatusCode};

#[path = "../../../front.rs"]
mod front;
#[path = "../../../hello_logic.rs"]
#[allow(dead_code)]
mod hello_logic;

use front::reply;

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
    let token = std::env::var("KERUJ_TOKEN").unwrap_or_default();
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let authorized = move |presented: &[u8]| {
        !token.is_empty() && hello_logic::token_matches(token.as_bytes(), presented)
    };
    front::serve(listener, authorized, move |body| {
        let answer = handle(&compiled, &body);
        async move { answer }
    })
    .await;
    Ok(())
}

/// An authorized body: the host's own check that it is a Keruj event, then
/// hello in a fresh plugin instance.
fn handle(compiled: &CompiledPlugin, body: &Bytes) -> Response<Full<Bytes>> {
    // The host's own check that this is a Keruj event, as keruj-host makes.
    let event: Result<serde_json::Map<String, serde_json::Value>, _> = serde_json::from_slice(body);
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
    let Ok(body) = std::str::from_utf8(body) else {
        return reply(StatusCode::BAD_REQUEST, r#"{"error":"not UTF-8"}"#.into());
    };
    // A fresh instance per event, as keruj-host: nothing survives between events.
    let result = Plugin::new_from_compiled(compiled)
        .and_then(|mut plugin| plugin.call::<&str, String>("handle_event", body));
    match result {
        Ok(out) => reply(StatusCode::OK, out),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"the app failed"}"#.into(),
        ),
    }
}
