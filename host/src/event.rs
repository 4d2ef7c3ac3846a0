//! Reading a Keruj event body: the checks that answer 400.

use keruj_guest::form::is_event_name;
use serde_json::{Map, Value};

/// The longest company or account id accepted.
pub const MAX_ID_BYTES: usize = 256;

/// A verified, well-formed Keruj event.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub name: String,
    pub company_id: String,
    /// Empty when Keruj sent none.
    pub account_id: String,
    /// `account_api_key`, taken out of the body: plugins never see it.
    pub api_key: Option<String>,
    /// The rest of the body, as the plugin receives it.
    pub body: Map<String, Value>,
}

/// Why a body is not a Keruj event (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadEvent(pub String);

impl IncomingEvent {
    pub fn parse(bytes: &[u8]) -> Result<IncomingEvent, BadEvent> {
        let bad = |msg: &str| BadEvent(msg.to_owned());
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| BadEvent(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(mut body) = value else {
            return Err(bad("the body must be a JSON object"));
        };
        let name = match body.get("event") {
            Some(Value::String(name)) if is_event_name(name) => name.clone(),
            Some(Value::String(_)) => {
                return Err(bad(
                    "`event` must be 1 to 128 letters, digits, `_`, `-` or `.`",
                ));
            }
            _ => return Err(bad("the body needs a string `event`")),
        };
        let company_id = match body.get("company_id") {
            Some(Value::String(id)) => checked_id("company_id", id)?,
            _ => return Err(bad("the body needs a string `company_id`")),
        };
        let account_id = match body.get("account_id") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(id)) => checked_id("account_id", id)?,
            Some(_) => return Err(bad("`account_id` must be a string")),
        };
        let api_key = match body.remove("account_api_key") {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) if !key.is_empty() => Some(key),
            Some(_) => return Err(bad("`account_api_key` must be a non-empty string")),
        };
        Ok(IncomingEvent {
            name,
            company_id,
            account_id,
            api_key,
            body,
        })
    }
}

/// Ids are keys in storage: non-empty, bounded, no control characters.
fn checked_id(field: &str, id: &str) -> Result<String, BadEvent> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(BadEvent(format!(
            "`{field}` must be 1 to {MAX_ID_BYTES} bytes without control characters"
        )));
    }
    Ok(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_install_and_takes_the_key_out() {
        let event = IncomingEvent::parse(
            br#"{"event":"application_install","company_id":"c1","account_id":"a1","account_api_key":"kj_1","data":{}}"#,
        )
        .unwrap();
        assert_eq!(event.name, "application_install");
        assert_eq!(event.company_id, "c1");
        assert_eq!(event.account_id, "a1");
        assert_eq!(event.api_key.as_deref(), Some("kj_1"));
        assert!(!event.body.contains_key("account_api_key"));
        assert!(event.body.contains_key("data"));
    }

    #[test]
    fn account_id_is_optional() {
        let event = IncomingEvent::parse(br#"{"event":"ping","company_id":"c"}"#).unwrap();
        assert_eq!(event.account_id, "");
        assert_eq!(event.api_key, None);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let long_id = format!(
            r#"{{"event":"e","company_id":"{}"}}"#,
            "c".repeat(MAX_ID_BYTES + 1)
        );
        let cases: &[(&str, &[u8])] = &[
            ("not json", b"{"),
            ("not utf-8", b"\xff\xfe"),
            ("array", b"[]"),
            ("no event", br#"{"company_id":"c"}"#),
            ("event a number", br#"{"event":1,"company_id":"c"}"#),
            ("event with spaces", br#"{"event":"a b","company_id":"c"}"#),
            ("no company", br#"{"event":"e"}"#),
            ("company a number", br#"{"event":"e","company_id":7}"#),
            ("empty company", br#"{"event":"e","company_id":""}"#),
            (
                "company with NUL",
                br#"{"event":"e","company_id":"a\u0000b"}"#,
            ),
            (
                "account an object",
                br#"{"event":"e","company_id":"c","account_id":{}}"#,
            ),
            (
                "key a number",
                br#"{"event":"e","company_id":"c","account_api_key":5}"#,
            ),
            (
                "key empty",
                br#"{"event":"e","company_id":"c","account_api_key":""}"#,
            ),
            ("company too long", long_id.as_bytes()),
        ];
        for (case, body) in cases {
            assert!(IncomingEvent::parse(body).is_err(), "{case} was accepted");
        }
    }
}
