//! Outbound HTTP answered in the process instead of over the network: the
//! hook behind [`crate::testing`] and `keruj-host dev --answer-outbound`,
//! where a test answers an app's calls to fixed URLs
//! (`https://api.novaposhta.ua/...`) without changing the app. Its request
//! and response are plain data; the harnesses give tests the richer
//! `keruj_test::{OutboundRequest, OutboundResponse}`.
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
    /// `status` with `text` as a plain-text body: why no real answer came.
    pub fn plain(status: u16, text: impl Into<String>) -> Self {
        let content_type = ("content-type".into(), "text/plain; charset=utf-8".into());
        OutboundResponse {
            status,
            headers: vec![content_type],
            body: text.into().into_bytes(),
        }
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
            assert_eq!(request.url, "https://api.example.com/v1/check");
            assert!(request.headers.contains(&("x-token".into(), "t-1".into())));
            let seen: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            OutboundResponse {
                status: 201,
                headers: vec![
                    ("x-answer".into(), "yes".into()),
                    ("content-type".into(), "application/json".into()),
                ],
                body: serde_json::json!({ "seen": seen }).to_string().into_bytes(),
            }
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
        let answer = OutboundOverride::new(|_| OutboundResponse {
            status: 200,
            headers: vec![("bad name".into(), "x".into())],
            body: Vec::new(),
        });
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
