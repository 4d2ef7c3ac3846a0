//! Outbound HTTP to the hosts the operator allowed (`allowed_hosts` in the
//! app's sidecar). A call to any other host, or a redirect to one, is an
//! error; so is a call past the time limit or a response over 4 MiB.
//!
//! ```no_run
//! # fn demo() -> Result<(), keruj_guest::Error> {
//! use keruj_guest::http::Request;
//! use keruj_guest::serde_json::{Value, json};
//! let answer: Value = keruj_guest::http::post_json(
//!     "https://api.novaposhta.ua/v2.0/json/",
//!     &json!({"modelName": "Common", "calledMethod": "getCargoTypes"}),
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

/// An outbound request; build it with [`Request::get`] or [`Request::post`].
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
    /// A request with `method` to `url`, without headers or body.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` to `url`; add a body with [`json`](Self::json) or by setting [`body`](Self::body).
    pub fn post(url: impl Into<String>) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, body: &impl Serialize) -> Result<Self, Error> {
        let mut request = self.header("content-type", "application/json");
        request.body = serde_json::to_vec(body)?;
        Ok(request)
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

    /// The body read as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
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

/// GETs `url` and reads a 2xx answer as JSON.
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, Error> {
    Request::get(url)
        .header("accept", "application/json")
        .send()?
        .error_for_status()?
        .json()
}

/// POSTs `body` as JSON to `url` and reads a 2xx answer as JSON.
pub fn post_json<T: DeserializeOwned>(url: &str, body: &impl Serialize) -> Result<T, Error> {
    Request::post(url)
        .header("accept", "application/json")
        .json(body)?
        .send()?
        .error_for_status()?
        .json()
}
