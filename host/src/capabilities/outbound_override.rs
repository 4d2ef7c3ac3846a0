//! Outbound HTTP answered in the process instead of over the network: the
//! hook behind [`crate::testing`], where a test answers an app's calls to
//! fixed URLs (`https://api.novaposhta.ua/...`) without changing the app.
//!
//! It replaces the transport only. A call still goes through the app's grant
//! first ([`super::outbound`]): `allowed_hosts`, the call count, the time
//! limit (the answer is awaited within the call's deadline), the response
//! size limit and redirect handling all apply as in production. Calls to
//! Keruj's API ([`super::keruj_api`]) come here too, with the company's key
//! in its header, so a test sees what Keruj would receive. Off unless an
//! embedder sets [`HostConfig::outbound_override`](crate::HostConfig::outbound_override);
//! the server never does.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

/// One outbound request as it would have left the host.
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

    /// The URL's host, lower case (`api.novaposhta.ua`).
    pub fn host(&self) -> Option<String> {
        reqwest::Url::parse(&self.url)
            .ok()?
            .host_str()
            .map(str::to_ascii_lowercase)
    }

    /// The URL's path (`/v2.0/json/`).
    pub fn path(&self) -> String {
        reqwest::Url::parse(&self.url)
            .map(|url| url.path().to_owned())
            .unwrap_or_default()
    }
}

/// The answer an override gives to one request.
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

type Handler = dyn Fn(OutboundRequest) -> OutboundResponse + Send + Sync;

/// Answers every outbound call of every app, in place of the network. The
/// function runs on a blocking thread, so it may block; an answer later than
/// the call's time limit is a timeout for the app, as in production.
#[derive(Clone)]
pub struct OutboundOverride(Arc<Handler>);

impl OutboundOverride {
    /// Answers with `handler`.
    pub fn new(
        handler: impl Fn(OutboundRequest) -> OutboundResponse + Send + Sync + 'static,
    ) -> Self {
        OutboundOverride(Arc::new(handler))
    }

    /// Answers `request` (already admitted by the grant) as a reqwest
    /// response, so the caller reads it under the same limits as a real one.
    /// The error is why the request could not be handed over or answered.
    pub async fn answer(&self, request: reqwest::Request) -> Result<reqwest::Response, String> {
        let request = OutboundRequest {
            method: request.method().to_string(),
            url: request.url().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect(),
            body: match request.body() {
                None => Vec::new(),
                Some(body) => body
                    .as_bytes()
                    .ok_or("a streamed request body cannot be overridden")?
                    .to_vec(),
            },
        };
        let handler = self.0.clone();
        let answer = tokio::task::spawn_blocking(move || handler(request))
            .await
            .map_err(|error| format!("the outbound override failed: {error}"))?;
        let mut response = http::Response::builder().status(answer.status);
        for (name, value) in &answer.headers {
            response = response.header(name, value);
        }
        let response = response
            .body(Bytes::from(answer.body))
            .map_err(|error| format!("the outbound override's answer is invalid: {error}"))?;
        Ok(reqwest::Response::from(response))
    }
}

impl fmt::Debug for OutboundOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutboundOverride(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_handler_sees_the_request_and_its_answer_reads_like_a_real_one() {
        let answer = OutboundOverride::new(|request| {
            assert_eq!(request.method, "POST");
            assert_eq!(request.host().as_deref(), Some("api.example.com"));
            assert_eq!(request.path(), "/v1/check");
            assert_eq!(request.header("X-Token"), Some("t-1"));
            OutboundResponse::json(serde_json::json!({"seen": request.json()}))
                .with_status(201)
                .header("x-answer", "yes")
        });
        let request = reqwest::Client::new()
            .post("https://api.example.com/v1/check")
            .header("x-token", "t-1")
            .body(r#"{"a":1}"#)
            .build()
            .unwrap();
        let response = answer.answer(request).await.unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["x-answer"], "yes");
        assert_eq!(response.headers()["content-type"], "application/json");
        // A known length: the host's size limit can refuse it unread.
        assert_eq!(response.content_length(), Some(16));
        assert_eq!(response.text().await.unwrap(), r#"{"seen":{"a":1}}"#);
    }

    #[tokio::test]
    async fn an_invalid_answer_is_an_error_for_the_call() {
        let answer =
            OutboundOverride::new(|_| OutboundResponse::status(200).header("bad name", "x"));
        let request = reqwest::Client::new()
            .get("https://a.example/")
            .build()
            .unwrap();
        let error = answer.answer(request).await.unwrap_err();
        assert!(
            error.contains("the outbound override's answer is invalid"),
            "{error}"
        );
    }
}
