//! hello's logic as a wasi-http component for `wasmtime serve`: the whole
//! request in one component, as that host has no app layer: route, token
//! (from the environment variable `KERUJ_TOKEN`, `--env` on the command
//! line), body, then the same logic and reply as the other targets.

use wasi::exports::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

#[path = "../../../hello_logic.rs"]
mod hello_logic;

const TOKEN_HEADER: &str = "x-keruj-app-token";
const MAX_BODY: usize = 1024 * 1024;

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, body) = answer(&request);
        let headers = Fields::new();
        if !body.is_empty() {
            let _ = headers.set("content-type", &[b"application/json".to_vec()]);
        }
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(status);
        let outgoing = response.body().expect("the body, once");
        ResponseOutparam::set(out, Ok(response));
        let stream = outgoing.write().expect("the stream, once");
        for chunk in body.as_bytes().chunks(4096) {
            stream.blocking_write_and_flush(chunk).expect("write");
        }
        drop(stream);
        OutgoingBody::finish(outgoing, None).expect("finish");
    }
}

fn answer(request: &IncomingRequest) -> (u16, String) {
    let error = |status, message: &str| (status, format!(r#"{{"error":"{message}"}}"#));
    let path = request.path_with_query().unwrap_or_default();
    if !matches!(request.method(), Method::Post) || path != "/apps/hello/events" {
        return error(404, "no such route");
    }
    let expected = std::env::var("KERUJ_TOKEN").unwrap_or_default();
    let presented = request.headers().get(TOKEN_HEADER);
    let authorized = match presented.as_slice() {
        [value] => !expected.is_empty() && hello_logic::token_matches(expected.as_bytes(), value),
        _ => false,
    };
    if !authorized {
        return error(401, "missing or wrong token");
    }
    let Some(body) = read_body(request) else {
        return error(413, "the body is over the limit");
    };
    match hello_logic::handle_body(&body) {
        Ok(reply) => (200, reply.unwrap_or_default()),
        Err(_) => error(400, "not a Keruj event"),
    }
}

fn read_body(request: &IncomingRequest) -> Option<String> {
    let incoming = request.consume().ok()?;
    let stream = incoming.stream().ok()?;
    let mut body = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return None;
        }
    }
    String::from_utf8(body).ok()
}

wasi::http::proxy::export!(Component);
