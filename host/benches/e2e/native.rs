//! The native baseline: hello's logic compiled into the benchmark itself,
//! behind a plain hyper HTTP/1 server (`bench/front.rs`, shared with the
//! Extism peer), with the host's own token check and event parsing. No
//! sandbox, no storage: the physical limit of this design on this machine.
//!
//! The benchmark runs it as a separate process (`e2e --native-serve ADDR`),
//! so that it is measured exactly as the other servers are.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use keruj_guest::{App, Context, Event, Reply};
use keruj_host::Token;
use keruj_host::event::IncomingEvent;

use crate::front::{self, reply};
use crate::hello_logic::Hello;

/// Serves until killed; prints `listening on http://IP:PORT` first.
pub fn serve(listen: &str, token: &str) {
    let token = Token::new(token);
    // The same runtime keruj-host's `main` builds: one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        let authorized = move |presented: &[u8]| token.matches(presented);
        front::serve(listener, authorized, |body| async move { handle(&body) }).await;
    });
}

/// What keruj-host does with an authorized body, with hello run natively.
fn handle(body: &Bytes) -> Response<Full<Bytes>> {
    let event = match IncomingEvent::parse(body) {
        Ok(event) => event,
        Err(error) => return reply(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let ctx = Context {
        company_id: event.company_id,
        account_id: event.account_id,
        webhooks: Default::default(),
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
