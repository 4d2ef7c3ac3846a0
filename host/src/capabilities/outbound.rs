//! The outbound HTTP grant of one instance: the one policy behind both ways a
//! plugin sends HTTP, `keruj:plugin/http` ([`super::http`]) and `wasi:http`
//! ([`super::wasi_http`]).
//!
//! Deny by default: a call reaches only the `host[:port]` entries of the
//! sidecar's `allowed_hosts`, checked before any DNS lookup or connection.
//! One event may make [`MAX_CALLS_PER_EVENT`] calls, both interfaces
//! together; each call has the sidecar's `http_timeout_ms` for its whole
//! answer and at most [`MAX_RESPONSE_BYTES`] of body. A refusal is an error
//! to the plugin plus one log line naming the app and the company.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};

use super::Bound;
use super::outbound_override::OutboundOverride;
use crate::plugin_text::PluginText;
use crate::settings::AppSettings;

/// Outbound calls one event may make, over both interfaces.
pub const MAX_CALLS_PER_EVENT: u32 = 20;
/// The largest response body a plugin receives.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// The largest request body a plugin may stream out through `wasi:http`
/// (the host holds it whole before sending).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Why an outbound call gave no answer. The text is what a
/// `keruj:plugin/http` caller gets; `wasi:http` callers get the matching
/// `error-code` ([`super::wasi_http`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("more than {MAX_CALLS_PER_EVENT} outbound calls in one event")]
    TooManyCalls,
    #[error("{0} is not in this app's allowed_hosts")]
    NotAllowed(String),
    #[error("invalid URL {0:?}: {1}")]
    InvalidUrl(String, String),
    #[error("unsupported method {0:?}")]
    Method(String),
    /// A malformed request (a header, a redirect) described for the plugin.
    #[error("{0}")]
    Invalid(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error("the request body is over the limit of {MAX_REQUEST_BYTES} bytes")]
    RequestTooLarge,
    #[error("the response is over the limit of {MAX_RESPONSE_BYTES} bytes")]
    ResponseTooLarge,
    #[error("could not connect")]
    Connect,
    #[error("the request failed: {0}")]
    Transport(String),
}

impl CallError {
    /// Whether the grant refused the call (nothing was sent), as opposed to
    /// a call that was made and failed.
    pub fn is_refusal(&self) -> bool {
        matches!(self, CallError::TooManyCalls | CallError::NotAllowed(_))
    }

    fn from_reqwest(error: reqwest::Error) -> CallError {
        if error.is_connect() {
            CallError::Connect
        } else {
            CallError::Transport(error.without_url().to_string())
        }
    }
}

/// Which interface a call came through, for the log.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// `keruj:plugin/http`.
    Capability,
    /// `wasi:http/outgoing-handler`.
    WasiHttp,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Capability => "keruj:plugin/http",
            Via::WasiHttp => "wasi:http",
        }
    }
}

/// The outbound HTTP grant of one instance, from its app's sidecar.
pub struct Grant {
    client: reqwest::Client,
    /// Answers admitted calls instead of `client` (tests only).
    answer: Option<OutboundOverride>,
    allowed_hosts: Arc<[String]>,
    timeout: Duration,
    calls_left: u32,
    bound: Bound,
}

impl Grant {
    /// `client` follows no redirects: each hop must come back here.
    pub fn new(client: reqwest::Client, settings: &AppSettings, bound: Bound) -> Self {
        Grant {
            client,
            answer: None,
            allowed_hosts: settings.allowed_hosts.clone(),
            timeout: settings.http_timeout,
            calls_left: MAX_CALLS_PER_EVENT,
            bound,
        }
    }

    /// Admitted calls are answered by `answer` instead of the network
    /// (see [`super::outbound_override`]); the grant's checks stay.
    pub fn answered_by(mut self, answer: Option<OutboundOverride>) -> Self {
        self.answer = answer;
        self
    }

    /// Counts one call and checks where it goes; its time limit starts now.
    /// A refused call is logged here, once, and never leaves the host.
    pub fn admit(&mut self, via: Via, method: &Method, url: &Url) -> Result<Call, CallError> {
        let call = Call {
            client: self.client.clone(),
            answer: self.answer.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            timeout: self.timeout,
            started: Instant::now(),
            deadline: Instant::now() + self.timeout,
            bound: self.bound.clone(),
            via,
            method: method.clone(),
        };
        let admitted = if self.calls_left == 0 {
            Err(CallError::TooManyCalls)
        } else {
            self.calls_left -= 1;
            call.check(url)
        };
        match admitted {
            Ok(()) => Ok(call),
            Err(error) => {
                call.failed(&error);
                Err(error)
            }
        }
    }

    /// Logs a call that could not even be read (a bad URL or method), so
    /// every failed call leaves one line whichever way it failed.
    pub fn unreadable(&self, via: Via, error: &CallError) {
        let Bound {
            app,
            company,
            request_id,
        } = &self.bound;
        // Its text may quote the plugin's URL or method.
        let error = PluginText::new(error.to_string());
        tracing::warn!(%app, %company, %request_id, via = via.as_str(),
            "outbound call refused or failed: {error}");
    }
}

/// One admitted call: its deadline, and the grant each further hop is
/// checked against. Cheap to move into the future that sends it.
pub struct Call {
    client: reqwest::Client,
    answer: Option<OutboundOverride>,
    allowed_hosts: Arc<[String]>,
    timeout: Duration,
    started: Instant,
    deadline: Instant,
    bound: Bound,
    via: Via,
    method: Method,
}

impl Call {
    /// Whether the grant allows `url`: the first hop, and every redirect.
    pub fn check(&self, url: &Url) -> Result<(), CallError> {
        if is_allowed(&self.allowed_hosts, url) {
            Ok(())
        } else {
            Err(CallError::NotAllowed(authority(url)))
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `future` unless the call's deadline passes first.
    pub async fn within<T>(&self, future: impl Future<Output = T>) -> Result<T, CallError> {
        tokio::time::timeout_at(self.deadline.into(), future)
            .await
            .map_err(|_| CallError::Timeout(self.timeout))
    }

    /// Sends `request` (whose URL the caller checked) and waits for the
    /// response head. A declared body over the limit is refused unread.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallError> {
        let response = match &self.answer {
            None => self
                .within(request.send())
                .await?
                .map_err(CallError::from_reqwest)?,
            Some(answer) => {
                let request = request.build().map_err(CallError::from_reqwest)?;
                self.within(answer.answer(request))
                    .await?
                    .map_err(CallError::Transport)?
            }
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
        {
            return Err(CallError::ResponseTooLarge);
        }
        Ok(response)
    }

    /// Reads the body up to [`MAX_RESPONSE_BYTES`], by chunks, before the deadline.
    pub async fn read_body(&self, response: reqwest::Response) -> Result<Vec<u8>, CallError> {
        read_body(response, self.deadline, self.timeout).await
    }

    /// Logs an answered call.
    pub fn answered(&self, url: &Url, status: u16) {
        let Bound {
            app,
            company,
            request_id,
        } = &self.bound;
        tracing::info!(%app, %company, %request_id, via = self.via.as_str(),
            method = %self.method, host = url.host_str(), status,
            ms = self.started.elapsed().as_millis() as u64, "outbound call");
    }

    /// Logs a refused or failed call.
    pub fn failed(&self, error: &CallError) {
        let Bound {
            app,
            company,
            request_id,
        } = &self.bound;
        let error = PluginText::new(error.to_string());
        tracing::warn!(%app, %company, %request_id, via = self.via.as_str(),
            method = %self.method, "outbound call refused or failed: {error}");
    }
}

/// Reads a body up to [`MAX_RESPONSE_BYTES`], by chunks, before `deadline`.
pub async fn read_body(
    mut response: reqwest::Response,
    deadline: Instant,
    limit: Duration,
) -> Result<Vec<u8>, CallError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(CallError::ResponseTooLarge);
    }
    let mut body = Vec::new();
    loop {
        let chunk = tokio::time::timeout_at(deadline.into(), response.chunk())
            .await
            .map_err(|_| CallError::Timeout(limit))?
            .map_err(CallError::from_reqwest)?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(CallError::ResponseTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
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

/// `host[:port]` of `url`, as the plugin wrote it, for messages.
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
        // Credentials in the URL do not change which host it reaches.
        assert!(!allowed(&["example.com"], "https://example.com@evil.com/"));
        assert!(allowed(&["example.com"], "https://user:pw@example.com/"));
    }

    #[test]
    fn the_call_count_is_per_grant_and_refusals_count() {
        let mut settings = AppSettings::load("t", std::path::Path::new("/nonexistent.toml"))
            .expect("default settings");
        settings.allowed_hosts = vec!["example.com".to_owned()].into();
        let bound = Bound {
            app: "t".into(),
            company: "c".into(),
            request_id: "r".into(),
        };
        let mut grant = Grant::new(reqwest::Client::new(), &settings, bound);
        let ok = Url::parse("https://example.com/").unwrap();
        let other = Url::parse("https://other.example/").unwrap();
        assert_eq!(
            grant.admit(Via::WasiHttp, &Method::GET, &other).err(),
            Some(CallError::NotAllowed("other.example".into()))
        );
        for _ in 1..MAX_CALLS_PER_EVENT {
            assert!(grant.admit(Via::Capability, &Method::GET, &ok).is_ok());
        }
        assert_eq!(
            grant.admit(Via::WasiHttp, &Method::GET, &ok).err(),
            Some(CallError::TooManyCalls)
        );
    }
}
