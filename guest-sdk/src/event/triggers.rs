//! The events the host starts on its own: a schedule coming due (the
//! sidecar's, or one the app made with [`crate::schedules`]), a third party
//! calling one of the company's webhook URLs.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

/// A schedule came due for the event's company: a sidecar `[[schedule]]`,
/// or one the app made at run time ([`crate::schedules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// The schedule's event name.
    pub event: String,
    /// When the run was due: RFC 3339, UTC (`2026-12-03T09:00:00Z`).
    pub due: String,
    /// 1 for the first try of this due time; more after a failed try.
    pub attempt: u32,
    /// The id [`crate::schedules`] gave a schedule the app made; empty for
    /// the sidecar's.
    pub id: String,
    /// The payload the app gave the schedule; `null` for the sidecar's.
    pub payload: Value,
}

impl Scheduled {
    /// The payload read as `T`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.payload)
            .map_err(|e| Error::msg(format!("the schedule's payload does not fit: {e}")))
    }
}

/// A third party called one of the company's webhook URLs, and its
/// signature (if the sidecar asks for one) verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The webhook's event name.
    pub event: String,
    /// The webhook's `name` in the sidecar.
    pub name: String,
    /// The label of the URL the app minted ([`crate::webhooks::mint`]) that
    /// was called; empty for the sidecar's URL.
    pub label: String,
    /// The delivery's id (the provider's, when it sends one): repeats of
    /// one id never reach the app twice.
    pub id: String,
    /// The HTTP method (`POST`).
    pub method: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The request's headers, names lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// The request's body as text.
    pub body: String,
}

impl Delivery {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body read as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.body)
            .map_err(|e| Error::msg(format!("the delivery's body is not JSON: {e}")))
    }
}

/// The `schedule` object of a body, if it is one.
pub(super) fn scheduled(body: &Value) -> Option<Scheduled> {
    let schedule = body.get("schedule")?.as_object()?;
    Some(Scheduled {
        event: schedule.get("event")?.as_str()?.to_owned(),
        due: schedule.get("due")?.as_str()?.to_owned(),
        attempt: u32::try_from(schedule.get("attempt")?.as_u64()?).ok()?,
        id: schedule
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        payload: schedule.get("payload").cloned().unwrap_or(Value::Null),
    })
}

/// The `webhook` object of a body, if it is one.
pub(super) fn delivery(event: &str, body: &Value) -> Option<Delivery> {
    let webhook = body.get("webhook")?.as_object()?;
    let text = |key: &str| Some(webhook.get(key)?.as_str()?.to_owned());
    let headers = webhook
        .get("headers")?
        .as_array()?
        .iter()
        .map(|pair| match pair.as_array()?.as_slice() {
            [Value::String(name), Value::String(value)] => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Delivery {
        event: event.to_owned(),
        name: text("name")?,
        label: text("label").unwrap_or_default(),
        id: text("id")?,
        method: text("method")?,
        query: text("query")?,
        headers,
        body: text("body")?,
    })
}
