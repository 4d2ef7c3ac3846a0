//! `keruj:plugin/http`: outbound HTTP, deny by default.
//!
//! A plugin reaches only the `host[:port]` entries of its sidecar's
//! `allowed_hosts`; redirects are followed here, hop by hop, so each hop is
//! checked too. Every call is bounded (count per event, time, response size)
//! and a refusal is an `err` to the plugin plus a log line, never a hang.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};

use super::{Bound, Services};
use crate::config::AppSettings;
use crate::plugin_text::PluginText;
use crate::runtime::bindings_for_capabilities::http::{Host, Request, Response};

/// Outbound calls one event may make.
pub const MAX_CALLS_PER_EVENT: u32 = 20;
/// The largest response body a plugin receives.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Redirect hops followed per call.
pub const MAX_REDIRECTS: usize = 5;

pub struct HttpState {
    client: reqwest::Client,
    allowed_hosts: Arc<[String]>,
    timeout: Duration,
    calls_left: u32,
    bound: Bound,
}

impl HttpState {
    pub fn new(services: &Services, settings: &AppSettings, bound: Bound) -> Self {
        HttpState {
            client: services.client.clone(),
            allowed_hosts: settings.allowed_hosts.clone(),
            timeout: settings.http_timeout,
            calls_left: MAX_CALLS_PER_EVENT,
            bound,
        }
    }
}

impl Host for HttpState {
    async fn send(&mut self, request: Request) -> Result<Response, String> {
        let Bound {
            app,
            company,
            request_id,
        } = self.bound.clone();
        let started = Instant::now();
        // The plugin chose the method and the URL the error may quote.
        let method = PluginText::new(request.method.as_str());
        let result = self.send_checked(request).await;
        match &result {
            Ok((url, response)) => {
                tracing::info!(%app, %company, %request_id, %method, host = url.host_str(),
                status = response.status, ms = started.elapsed().as_millis() as u64, "outbound call")
            }
            Err(error) => {
                let error = PluginText::new(error.as_str());
                tracing::warn!(%app, %company, %request_id, %method, "outbound call refused or failed: {error}")
            }
        }
        result.map(|(_, response)| response)
    }
}

impl HttpState {
    async fn send_checked(&mut self, request: Request) -> Result<(Url, Response), String> {
        if self.calls_left == 0 {
            return Err(format!(
                "more than {MAX_CALLS_PER_EVENT} outbound calls in one event"
            ));
        }
        self.calls_left -= 1;
        let mut method = Method::from_bytes(request.method.as_bytes())
            .ok()
            .filter(|m| ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].contains(&m.as_str()))
            .ok_or_else(|| format!("unsupported method {:?}", request.method))?;
        let mut url =
            Url::parse(&request.url).map_err(|e| format!("invalid URL {:?}: {e}", request.url))?;
        let headers = header_map(&request.headers)?;
        let mut body = request.body;
        let deadline = Instant::now() + self.timeout;
        for _ in 0..=MAX_REDIRECTS {
            if !is_allowed(&self.allowed_hosts, &url) {
                return Err(format!(
                    "{} is not in this app's allowed_hosts",
                    authority(&url)
                ));
            }
            let send = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .body(body.clone())
                .send();
            let response = within(deadline, self.timeout, send)
                .await?
                .map_err(transport_error)?;
            if !response.status().is_redirection() {
                let response = read_response(response, deadline, self.timeout).await?;
                return Ok((url, response));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or("a redirect without a Location")?;
            url = url
                .join(location)
                .map_err(|e| format!("invalid redirect {location:?}: {e}"))?;
            if matches!(response.status(), StatusCode::SEE_OTHER)
                || (method == Method::POST
                    && matches!(
                        response.status(),
                        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND
                    ))
            {
                method = Method::GET;
                body = Vec::new();
            }
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }
}

fn header_map(headers: &[(String, String)]) -> Result<reqwest::header::HeaderMap, String> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Runs `future` unless `deadline` passes first.
async fn within<T>(
    deadline: Instant,
    limit: Duration,
    future: impl Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout_at(deadline.into(), future)
        .await
        .map_err(|_| format!("no complete answer within {limit:?}"))
}

fn transport_error(error: reqwest::Error) -> String {
    if error.is_connect() {
        "could not connect".into()
    } else {
        format!("the request failed: {}", error.without_url())
    }
}

/// Reads the body up to [`MAX_RESPONSE_BYTES`], by chunks, before the deadline.
pub(super) async fn read_response(
    mut response: reqwest::Response,
    deadline: Instant,
    limit: Duration,
) -> Result<Response, String> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(format!(
            "the response is over the limit of {MAX_RESPONSE_BYTES} bytes"
        ));
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = within(deadline, limit, response.chunk())
        .await?
        .map_err(transport_error)?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "the response is over the limit of {MAX_RESPONSE_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Whether `url` is `http(s)` to an allowed `host[:port]`. An entry without a
/// port allows the scheme's default port only.
pub fn is_allowed(allowed: &[String], url: &Url) -> bool {
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    allowed.iter().any(|entry| {
        let (entry_host, entry_port) =
            match entry.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>())) {
                Some((h, Ok(p))) => (h, Some(p)),
                _ => (entry.as_str(), None),
            };
        let default_port =
            url.scheme() == "https" && port == 443 || url.scheme() == "http" && port == 80;
        entry_host.eq_ignore_ascii_case(host) && entry_port.map_or(default_port, |p| p == port)
    })
}

fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str], url: &str) -> bool {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        is_allowed(&entries, &Url::parse(url).unwrap())
    }

    #[test]
    fn allowed_hosts_match_host_and_port() {
        assert!(allowed(
            &["api.novaposhta.ua"],
            "https://api.novaposhta.ua/v2.0/json/"
        ));
        assert!(allowed(
            &["API.novaposhta.ua"],
            "https://api.novaposhta.ua/"
        ));
        assert!(!allowed(
            &["api.novaposhta.ua"],
            "https://api.novaposhta.ua:8443/"
        ));
        assert!(allowed(&["127.0.0.1:8080"], "http://127.0.0.1:8080/x"));
        assert!(!allowed(&["127.0.0.1:8080"], "http://127.0.0.1:8081/x"));
        assert!(allowed(&["[::1]:8080"], "http://[::1]:8080/"));
        assert!(!allowed(&["novaposhta.ua"], "https://api.novaposhta.ua/"));
        assert!(!allowed(
            &["evil.com"],
            "https://api.novaposhta.ua.evil.com/"
        ));
        assert!(!allowed(&[], "https://api.novaposhta.ua/"));
        assert!(!allowed(&["example.com"], "ftp://example.com/"));
    }
}
