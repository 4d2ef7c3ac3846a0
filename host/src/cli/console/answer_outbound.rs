//! `keruj-host dev --answer-outbound URL`: every outbound call an app makes
//! (`keruj:plugin/http`, `wasi:http`) and every Keruj API call is posted to
//! URL, where a test's handler answers it, instead of going to the network.
//!
//! This is how an app's tests (the `keruj-test` crate, and the harnesses of
//! the other languages) answer `https://api.novaposhta.ua/...` without
//! changing the app and without a network. It is the seam of
//! [`crate::capabilities::outbound_override`]: only the transport changes,
//! so the app's grant (`allowed_hosts`), call count, time limit and response
//! size limit apply as in production; a refused call never reaches URL.
//!
//! The wire format, JSON both ways (bodies are bytes, hence base64):
//!
//! ```text
//! POST URL  {"method": "GET", "url": "https://…", "headers": [["accept", "…"]], "body_base64": ""}
//! 200       {"status": 200, "headers": [["content-type", "…"]], "body_base64": "…"}
//! ```
//!
//! When URL cannot be reached or answers something else, the app's call
//! gets a 502 whose body says why.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::capabilities::outbound_override::{OutboundOverride, OutboundRequest, OutboundResponse};

/// One call, as posted to the test's handler.
#[derive(Serialize)]
struct Envelope<'a> {
    method: &'a str,
    url: &'a str,
    headers: &'a [(String, String)],
    body_base64: String,
}

/// The handler's answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answered {
    status: u16,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body_base64: String,
}

/// An override that posts each call to `url`. Fails when `url` is not an
/// `http://` or `https://` URL.
pub fn forward_to(url: &str) -> anyhow::Result<OutboundOverride> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| anyhow::anyhow!("--answer-outbound {url:?} is not a URL: {error}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "--answer-outbound must be an http:// URL, not {url:?}"
    );
    // No proxy from the environment: the handler is on this machine.
    let client = reqwest::Client::builder().no_proxy().build()?;
    Ok(OutboundOverride::new(move |request| {
        // The override runs on a blocking thread of the host's runtime.
        let handle = tokio::runtime::Handle::current();
        handle
            .block_on(ask(&client, &parsed, &request))
            .unwrap_or_else(|why| {
                let why = format!(
                    "keruj-host dev: the handler at {parsed} did not answer {} {}: {why}",
                    request.method, request.url
                );
                OutboundResponse::plain(502, why)
            })
    }))
}

async fn ask(
    client: &reqwest::Client,
    handler: &reqwest::Url,
    request: &OutboundRequest,
) -> Result<OutboundResponse, String> {
    let envelope = Envelope {
        method: &request.method,
        url: &request.url,
        headers: &request.headers,
        body_base64: BASE64.encode(&request.body),
    };
    let body = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
    let response = client
        .post(handler.clone())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    let text = response.bytes().await.map_err(|error| error.to_string())?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&text);
        return Err(format!("it answered {status}: {text}"));
    }
    let answered: Answered = serde_json::from_slice(&text)
        .map_err(|error| format!("its answer is not {{status, headers, body_base64}}: {error}"))?;
    let body = BASE64
        .decode(answered.body_base64.trim())
        .map_err(|error| format!("its body_base64 is not base64: {error}"))?;
    Ok(OutboundResponse {
        status: answered.status,
        headers: answered.headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_taken() {
        assert!(forward_to("http://127.0.0.1:9/answer").is_ok());
        let error = forward_to("ftp://127.0.0.1/").err().unwrap().to_string();
        assert!(error.contains("http://"), "{error}");
        let error = forward_to("not a url").err().unwrap().to_string();
        assert!(error.contains("is not a URL"), "{error}");
    }
}
