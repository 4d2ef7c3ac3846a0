//! Outbound HTTP to the hosts the operator allowed (`allowed_hosts` in the
//! app's sidecar). A call to any other host, or a redirect to one, is an
//! error; so is a call past the time limit or a response over 4 MiB.
//!
//! The helpers have the same shape as the JavaScript and Python SDKs'
//! (`http.getJson(url, headers)`, `http.get_json(url, headers=...)`): the
//! URL, then the body if any, then the headers. Rust has no optional
//! arguments, so the forms with headers are named `*_with`:
//!
//! | what | Rust | JavaScript | Python |
//! | --- | --- | --- | --- |
//! | GET, read JSON | [`get_json`]`(url)`, [`get_json_with`]`(url, headers)` | `http.getJson(url, headers?)` | `http.get_json(url, headers=None)` |
//! | POST JSON, read JSON | [`post_json`]`(url, &value)`, [`post_json_with`]`(url, &value, headers)` | `http.postJson(url, value, headers?)` | `http.post_json(url, value, headers=None)` |
//! | GET | [`Request::get`]`(url).headers(h).send()` | `http.get(url, headers?)` | `http.get(url, headers=None)` |
//! | POST | [`Request::post`]`(url).body(b).headers(h).send()` | `http.post(url, body, headers?)` | `http.post(url, body, headers=None)` |
//! | any request | [`Request::new`]`(method, url)` … `.send()` | `http.send({method, url, headers, body})` | `http.request(method, url, headers=, body=)` |
//!
//! Headers are `(name, value)` pairs. The JSON helpers send
//! `accept: application/json` (and, posting, `content-type:
//! application/json`) unless the caller's headers name them (in any case).
//! A non-2xx answer is an error naming the status in all three SDKs.
//!
//! ```no_run
//! # fn demo() -> Result<(), keruj_guest::Error> {
//! use keruj_guest::http::{self, Request};
//! use keruj_guest::serde_json::{Value, json};
//! let answer: Value = http::post_json(
//!     "https://api.novaposhta.ua/v2.0/json/",
//!     &json!({"modelName": "Common", "calledMethod": "getCargoTypes"}),
//! )?;
//!
//! let token = keruj_guest::secrets::get("api_token")?.unwrap_or_default();
//! let me: Value = http::get_json_with(
//!     "https://api.example.com/v1/me",
//!     &[("authorization", &format!("Bearer {token}"))],
//! )?;
//!
//! let page = Request::get("https://example.com/status")
//!     .header("authorization", "Bearer …")
//!     .send()?
//!     .error_for_status()?
//!     .text();
//! # Ok(()) }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::keruj::plugin::http as wit;
use crate::Error;

const JSON: &str = "application/json";

/// An outbound request; build it with [`Request::get`], [`Request::post`] or
/// [`Request::new`], then [`send`](Request::send) it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `HEAD`.
    pub method: String,
    /// An absolute `http://` or `https://` URL on an allowed host.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, at most 4 MiB.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` (upper-cased, as the other SDKs do) to `url`,
    /// without headers or body.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` to `url`; add a body with [`body`](Self::body) or [`json`](Self::json).
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds each `(name, value)` header, in order: the pairs the `*_with`
    /// helpers take.
    ///
    /// ```
    /// use keruj_guest::http::Request;
    /// let request = Request::get("https://api.example.com/v1/me")
    ///     .headers(&[("authorization", "Bearer t"), ("x-trace", "1")]);
    /// assert_eq!(request.headers.len(), 2);
    /// ```
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Self {
        self.headers.extend(
            headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        self
    }

    /// Sets the body: bytes, or text sent as UTF-8.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body, and `content-type: application/json` unless a
    /// content type is set already.
    pub fn json(self, body: &impl Serialize) -> Result<Self, Error> {
        let body = serde_json::to_vec(body)?;
        Ok(self.default_header("content-type", JSON).body(body))
    }

    /// Adds a header unless one of that name (in any case) is there.
    fn default_header(self, name: &str, value: &str) -> Self {
        match self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            true => self,
            false => self.header(name, value),
        }
    }

    /// Sends the request through the host.
    pub fn send(self) -> Result<Response, Error> {
        let request = wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: self.body,
        };
        let response = wit::send(&request).map_err(Error::msg)?;
        Ok(Response {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header `name` (in any case), if the server sent one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body read as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| match e.is_data() {
            true => Error::msg(format!("the answer's JSON does not fit: {e}")),
            false => Error::msg(format!("the answer is not JSON: {e}")),
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `self` if 2xx, else an error naming the status.
    pub fn error_for_status(self) -> Result<Self, Error> {
        match self.is_success() {
            true => Ok(self),
            false => Err(Error::msg(format!("the server answered {}", self.status))),
        }
    }
}

/// GETs `url` and reads a 2xx answer as JSON. With headers: [`get_json_with`].
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, Error> {
    get_json_with(url, &[])
}

/// GETs `url` with `headers` and reads a 2xx answer as JSON: the commonest
/// call to a third-party API, a JSON GET with an auth header.
///
/// ```no_run
/// # fn demo() -> Result<(), keruj_guest::Error> {
/// use keruj_guest::serde_json::Value;
/// let key = "…";
/// let me: Value = keruj_guest::http::get_json_with(
///     "https://api.example.com/v1/me",
///     &[("authorization", &format!("Bearer {key}"))],
/// )?;
/// # Ok(()) }
/// ```
pub fn get_json_with<T: DeserializeOwned>(url: &str, headers: &[(&str, &str)]) -> Result<T, Error> {
    json_answer(get_json_request(url, headers).send()?)
}

/// POSTs `body` as JSON to `url` and reads a 2xx answer as JSON. With
/// headers: [`post_json_with`].
pub fn post_json<T: DeserializeOwned>(url: &str, body: &impl Serialize) -> Result<T, Error> {
    post_json_with(url, body, &[])
}

/// POSTs `body` as JSON to `url` with `headers` and reads a 2xx answer as JSON.
///
/// ```no_run
/// # fn demo() -> Result<(), keruj_guest::Error> {
/// use keruj_guest::serde_json::{Value, json};
/// let created: Value = keruj_guest::http::post_json_with(
///     "https://api.example.com/v1/parcels",
///     &json!({"weight": 2.5}),
///     &[("authorization", "Bearer …"), ("idempotency-key", "order-17")],
/// )?;
/// # Ok(()) }
/// ```
pub fn post_json_with<T: DeserializeOwned>(
    url: &str,
    body: &impl Serialize,
    headers: &[(&str, &str)],
) -> Result<T, Error> {
    json_answer(post_json_request(url, body, headers)?.send()?)
}

/// What [`get_json_with`] sends: the caller's headers, then `accept` unless they name it.
fn get_json_request(url: &str, headers: &[(&str, &str)]) -> Request {
    Request::get(url)
        .headers(headers)
        .default_header("accept", JSON)
}

/// What [`post_json_with`] sends.
fn post_json_request(
    url: &str,
    body: &impl Serialize,
    headers: &[(&str, &str)],
) -> Result<Request, Error> {
    Request::post(url)
        .headers(headers)
        .default_header("accept", JSON)
        .json(body)
}

/// A 2xx answer read as JSON.
fn json_answer<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    response.error_for_status()?.json()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn pairs(request: &Request) -> Vec<(&str, &str)> {
        request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn get_json_sends_the_callers_headers_and_asks_for_json() {
        let request = get_json_request("https://a.example/me", &[("authorization", "Bearer k")]);
        assert_eq!(request.method, "GET");
        assert_eq!(request.url, "https://a.example/me");
        assert_eq!(
            pairs(&request),
            [("authorization", "Bearer k"), ("accept", JSON)]
        );
        assert!(request.body.is_empty());
        // Without headers: only the default, as `get_json(url)` has always sent.
        assert_eq!(
            pairs(&get_json_request("https://a.example/", &[])),
            [("accept", JSON)]
        );
    }

    #[test]
    fn post_json_sends_the_body_and_the_callers_headers() {
        let request =
            post_json_request("https://a.example/p", &json!({"n": 1}), &[("x-key", "k")]).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(
            pairs(&request),
            [("x-key", "k"), ("accept", JSON), ("content-type", JSON)]
        );
        assert_eq!(request.body, br#"{"n":1}"#);
    }

    #[test]
    fn the_callers_header_replaces_a_default_of_the_same_name() {
        let request = post_json_request(
            "https://a.example/p",
            &json!([]),
            &[
                ("Accept", "application/vnd.api+json"),
                ("Content-Type", "application/merge-patch+json"),
            ],
        )
        .unwrap();
        assert_eq!(
            pairs(&request),
            [
                ("Accept", "application/vnd.api+json"),
                ("Content-Type", "application/merge-patch+json")
            ]
        );
    }

    #[test]
    fn the_builder_takes_headers_and_a_body() {
        let token = String::from("Bearer t");
        let request = Request::new("patch", "https://a.example/x")
            .headers(&[("authorization", &token)])
            .header("x-one", "1")
            .body("text");
        assert_eq!(request.method, "PATCH");
        assert_eq!(
            pairs(&request),
            [("authorization", "Bearer t"), ("x-one", "1")]
        );
        assert_eq!(request.body, b"text");
    }

    #[test]
    fn a_json_answer_needs_2xx_and_json() {
        let response = |status, body: &str| Response {
            status,
            headers: vec![("Content-Type".into(), JSON.into())],
            body: body.into(),
        };
        let ok: Value = json_answer(response(200, r#"{"a":1}"#)).unwrap();
        assert_eq!(ok, json!({"a": 1}));
        let refused = json_answer::<Value>(response(401, "{}")).unwrap_err();
        assert_eq!(refused.to_string(), "the server answered 401");
        let garbled = json_answer::<Value>(response(200, "<html>")).unwrap_err();
        assert!(garbled.to_string().starts_with("the answer is not JSON: "));
        let misfit = json_answer::<Vec<u8>>(response(200, r#"{"a":1}"#)).unwrap_err();
        assert!(
            misfit
                .to_string()
                .starts_with("the answer's JSON does not fit: ")
        );
        assert_eq!(response(200, "").header("content-type"), Some(JSON));
        assert_eq!(response(200, "").header("etag"), None);
    }
}
