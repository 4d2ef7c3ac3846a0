//! A minimal `wasi:http` client (one request, the whole answer) and the
//! server side the host is expected to ignore.

use std::fmt;

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::StreamError;

/// What came back.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}

/// Sends one request and reads the whole answer; an error is the
/// `wasi:http` error code (or stream error) as text.
pub fn send(method: &str, url: &str, body: &[u8]) -> Result<Answer, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        Some((other, rest)) => (Scheme::Other(other.to_owned()), rest),
        None => return Err(format!("not an absolute URL: {url}")),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let method = match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        other => Method::Other(other.to_owned()),
    };
    request.set_method(&method).map_err(|()| "bad method")?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "bad scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "bad authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "bad path")?;
    let outgoing = request.body().map_err(|()| "no body")?;
    // Sent first, the body written after (as `fetch` streams it): the host
    // admits or refuses the request before the body is there.
    let pending = outgoing_handler::handle(request, None).map_err(code)?;
    let written = write_body(outgoing, body);
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response after it was ready")?
        .map_err(|()| "the response was taken twice")?
        // A refused request's body has nowhere to go: its error code says why.
        .map_err(code)?;
    written?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .first()
        .map(|value| String::from_utf8_lossy(value).into_owned());
    let incoming = response.consume().map_err(|()| "no response body")?;
    let stream = incoming.stream().map_err(|()| "no response body stream")?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(error) => return Err(format!("reading the body: {}", stream_error(error))),
        }
    }
    Ok(Answer {
        status,
        location,
        body,
    })
}

fn write_body(outgoing: OutgoingBody, body: &[u8]) -> Result<(), String> {
    {
        let stream = outgoing.write().map_err(|()| "no body stream")?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("writing the body: {}", stream_error(e)))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(code)
}

/// `location` resolved against `url` (absolute, or a path on the same host).
pub fn join(url: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let origin_end = url
        .find("://")
        .and_then(|at| url[at + 3..].find('/').map(|slash| at + 3 + slash))
        .unwrap_or(url.len());
    format!("{}{location}", &url[..origin_end])
}

fn code(error: ErrorCode) -> String {
    format!("{error:?}")
}

fn stream_error(error: StreamError) -> String {
    match error {
        StreamError::Closed => "closed".into(),
        StreamError::LastOperationFailed(error) => {
            match wasi::http::types::http_error_code(&error) {
                Some(code) => format!("{code:?}"),
                None => error.to_debug_string(),
            }
        }
    }
}

/// `wasi:http/incoming-handler`: the host never calls it.
pub struct Server;

impl wasi::exports::http::incoming_handler::Guest for Server {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let _ = response.set_status_code(418);
        ResponseOutparam::set(out, Ok(response));
    }
}
