//! `keruj:plugin/http`: outbound HTTP under the app's grant ([`super::outbound`]).
//!
//! Redirects are followed here, hop by hop, each hop checked against the
//! grant like the first; the hops share the call's time limit and count as
//! one call.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};

use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use super::outbound::{self, CallError, Grant, Via};
use crate::bindings::keruj::plugin::http::{self, Request, Response};

/// Redirect hops followed per call.
pub const MAX_REDIRECTS: usize = 5;

/// The methods the WIT contract lists.
const METHODS: [&str; 6] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    http::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl http::Host for InstanceState {
    async fn send(&mut self, request: Request) -> Result<Response, String> {
        send(&mut self.http, request).await
    }
}

/// One call under `grant`, redirects followed.
async fn send(grant: &mut Grant, request: Request) -> Result<Response, String> {
    let (method, url) = match parse(&request) {
        Ok(parsed) => parsed,
        Err(error) => {
            grant.unreadable(Via::Capability, &error);
            return Err(error.to_string());
        }
    };
    let call = grant
        .admit(Via::Capability, &method, &url)
        .map_err(|e| e.to_string())?;
    match follow(&call, method, url, request).await {
        Ok((url, response)) => {
            call.answered(&url, response.status);
            Ok(response)
        }
        Err(error) => {
            call.failed(&error);
            Err(error.to_string())
        }
    }
}

fn parse(request: &Request) -> Result<(Method, Url), CallError> {
    let method = Method::from_bytes(request.method.as_bytes())
        .ok()
        .filter(|m| METHODS.contains(&m.as_str()))
        .ok_or_else(|| CallError::Method(request.method.clone()))?;
    let url = Url::parse(&request.url)
        .map_err(|e| CallError::InvalidUrl(request.url.clone(), e.to_string()))?;
    Ok((method, url))
}

/// Sends the request and follows redirects, each hop checked by `call`.
async fn follow(
    call: &outbound::Call,
    mut method: Method,
    mut url: Url,
    request: Request,
) -> Result<(Url, Response), CallError> {
    let headers = header_map(&request.headers)?;
    let mut body = request.body;
    for hop in 0..=MAX_REDIRECTS {
        if hop > 0 {
            call.check(&url)?;
        }
        let send = call
            .client()
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .body(body.clone());
        let response = call.send(send).await?;
        if !response.status().is_redirection() {
            let response = to_response(response, call.deadline(), call.timeout()).await?;
            return Ok((url, response));
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| CallError::Invalid("a redirect without a Location".into()))?;
        url = url
            .join(location)
            .map_err(|e| CallError::Invalid(format!("invalid redirect {location:?}: {e}")))?;
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
    Err(CallError::Invalid(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn header_map(headers: &[(String, String)]) -> Result<reqwest::header::HeaderMap, CallError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CallError::Invalid(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| CallError::Invalid(format!("invalid value for header {name}")))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The WIT response: status, text headers, and the body read within the
/// limits (see [`outbound::read_body`]).
async fn to_response(
    response: reqwest::Response,
    deadline: Instant,
    limit: Duration,
) -> Result<Response, CallError> {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
        .collect();
    let body = outbound::read_body(response, deadline, limit).await?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// [`to_response`] for other capabilities (Keruj's API), with the error as text.
pub(super) async fn read_response(
    response: reqwest::Response,
    deadline: Instant,
    limit: Duration,
) -> Result<Response, String> {
    to_response(response, deadline, limit)
        .await
        .map_err(|e| e.to_string())
}
