//! What the host answered, typed: an event's [`Answer`], a webhook's
//! [`Delivery`]; and the app's outbound calls as the test's handler sees
//! them ([`OutboundRequest`]) and answers them ([`OutboundResponse`]).

use keruj_guest::form::Form;
use serde_json::Value;

/// The host's answer to one event, as Keruj would read it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with an empty body.
    Done,
    /// 200 with a form to show (already validated by the host).
    Form(Form),
    /// Anything else: the HTTP status and the error message Keruj gets.
    Error {
        /// 400, 409, 500, 503, 504...
        status: u16,
        /// The public message (the app's own words go to the log only).
        message: String,
    },
}

impl Answer {
    /// The form; panics, saying what came instead, if it is not one.
    #[track_caller]
    pub fn expect_form(self) -> Form {
        match self {
            Answer::Form(form) => form,
            other => panic!("expected a form, got {other}"),
        }
    }

    /// Panics, saying what came instead, unless the answer is done.
    #[track_caller]
    pub fn expect_done(self) {
        if self != Answer::Done {
            panic!("expected done, got {self}");
        }
    }

    /// The status and message of an error; panics if the event succeeded.
    #[track_caller]
    pub fn expect_error(self) -> (u16, String) {
        match self {
            Answer::Error { status, message } => (status, message),
            other => panic!("expected an error, got {other}"),
        }
    }

    /// The HTTP status Keruj gets.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Done | Answer::Form(_) => 200,
            Answer::Error { status, .. } => *status,
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Done => f.write_str("done (200, empty body)"),
            Answer::Form(form) => write!(f, "the form {}", form.to_json()),
            Answer::Error { status, message } => write!(f, "error {status}: {message}"),
        }
    }
}

/// What the host answered a webhook delivery: what the third party gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// 200 (handled, or a retry of a delivery handled before), 401 (the
    /// signature does not verify), 404 (no such webhook for the company),
    /// 409, 500 (the app failed), 503.
    pub status: u16,
    /// Why it was not 200 (never a secret, never the app's own words).
    pub message: String,
}

impl Delivery {
    /// Panics, saying what came instead, unless the host answered 200.
    #[track_caller]
    pub fn expect_accepted(&self) {
        assert_eq!(
            self.status, 200,
            "expected the delivery accepted, got {}: {}",
            self.status, self.message
        );
    }
}

/// One outbound request as it would have left the host, after the app's
/// grant allowed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full URL the app asked for (or Keruj's API URL).
    pub url: String,
    /// Headers in the order sent; names are lower case.
    pub headers: Vec<(String, String)>,
    /// The body as sent (empty for none).
    pub body: Vec<u8>,
}

impl OutboundRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The URL's host, lower case, without the port (`api.novaposhta.ua`).
    pub fn host(&self) -> Option<String> {
        let (authority, _) = self.split_url()?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.split(':').next().unwrap_or_default(),
        };
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    }

    /// The URL's path (`/v2.0/json/`), `/` when it has none.
    pub fn path(&self) -> String {
        let Some((_, rest)) = self.split_url() else {
            return String::new();
        };
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        match path.is_empty() {
            true => "/".into(),
            false => path.to_owned(),
        }
    }

    /// The URL's authority and what follows it.
    fn split_url(&self) -> Option<(&str, &str)> {
        let (_, rest) = self.url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Some(rest.split_at(end))
    }
}

/// The answer a handler gives to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    /// The HTTP status (a 3xx with `location` is followed as a redirect).
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body the app reads, under the host's size limit.
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Self {
        OutboundResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with `value` as `application/json`.
    pub fn json(value: impl serde::Serialize) -> Self {
        let body = serde_json::to_vec(&value).expect("a JSON value serializes");
        OutboundResponse::status(200)
            .header("content-type", "application/json")
            .body(body)
    }

    /// 200 with `text` as `text/plain`.
    pub fn text(text: impl Into<String>) -> Self {
        OutboundResponse::status(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(text.into().into_bytes())
    }

    /// The same answer with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> OutboundRequest {
        OutboundRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![("x-token".into(), "t".into())],
            body: br#"{"a":1}"#.to_vec(),
        }
    }

    #[test]
    fn a_request_reads_as_a_handler_checks_it() {
        let seen = request("https://User@API.Example.com:8443/v1/check?x=1#f");
        assert_eq!(seen.host().as_deref(), Some("api.example.com"));
        assert_eq!(seen.path(), "/v1/check");
        assert_eq!(seen.header("X-Token"), Some("t"));
        assert_eq!(seen.json()["a"], 1);
        assert_eq!(request("http://[::1]:9/").host().as_deref(), Some("::1"));
        assert_eq!(request("https://a.example?q").path(), "/");
    }
}
