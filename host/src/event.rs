//! Reading a Keruj event body: the checks that answer 400.

use std::fmt;

use keruj_guest::form::is_event_name;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
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
    /// The body as the plugin receives it: JSON text without
    /// `account_api_key`.
    pub body: String,
}

/// Why a body is not a Keruj event (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadEvent(pub String);

impl IncomingEvent {
    pub fn parse(bytes: &[u8]) -> Result<IncomingEvent, BadEvent> {
        let bad = |msg: &str| BadEvent(msg.to_owned());
        let Strict(value) = serde_json::from_slice(bytes)
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
        let (api_key, body) = match body.remove("account_api_key") {
            // Nothing to take out: the plugin gets Keruj's own text, not a
            // copy written again. The parse above decoded every escape, so
            // no spelling of the key is left in it.
            None => (None, text(bytes)?),
            Some(Value::Null) => (None, Value::Object(body).to_string()),
            Some(Value::String(key)) if !key.is_empty() => {
                (Some(key), Value::Object(body).to_string())
            }
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

/// The body's bytes as text; JSON that parsed is UTF-8, so this only fails
/// if that ever changes.
fn text(bytes: &[u8]) -> Result<String, BadEvent> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| BadEvent("the body is not UTF-8".into()))
}

/// A JSON value read like [`Value`], except that an object naming a key
/// twice is an error. serde_json keeps the last of duplicates; a proxy or a
/// log in front of the host may read the first, so `{"company_id": "a",
/// "company_id": "b"}` would mean two companies at once. Nesting is bounded
/// by serde_json's recursion limit (128), which also answers 400.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("the key {key:?} appears twice")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
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
        let body = object(&event.body);
        assert!(!body.contains_key("account_api_key"));
        assert!(body.contains_key("data"));
    }

    #[test]
    fn a_body_without_a_key_reaches_the_plugin_as_sent() {
        let sent = br#"{ "event": "ping", "company_id": "c", "n": 100000000000000000000000 }"#;
        let event = IncomingEvent::parse(sent).unwrap();
        assert_eq!(event.body.as_bytes(), sent);
    }

    #[test]
    fn an_escaped_key_is_still_taken_out() {
        let event = IncomingEvent::parse(
            br#"{"event":"ping","company_id":"c","account_api\u005fkey":"kj_secret"}"#,
        )
        .unwrap();
        assert_eq!(event.api_key.as_deref(), Some("kj_secret"));
        assert!(!event.body.contains("kj_secret"), "{}", event.body);
    }

    /// The plugin's body read back as a JSON object.
    pub(super) fn object(body: &str) -> Map<String, Value> {
        serde_json::from_str(body).expect("the plugin's body is a JSON object")
    }

    #[test]
    fn deep_nesting_is_a_bad_event_not_a_crash() {
        let deep = format!(
            r#"{{"event":"e","company_id":"c","data":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let err = IncomingEvent::parse(deep.as_bytes()).unwrap_err();
        assert!(err.0.contains("recursion limit"), "{err}");
        let ok = format!(
            r#"{{"event":"e","company_id":"c","data":{}1.5{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        let event = IncomingEvent::parse(ok.as_bytes()).unwrap();
        assert_eq!(
            Value::Object(object(&event.body)),
            serde_json::from_str::<Value>(&ok).unwrap(),
            "the strict reader reads what serde_json reads"
        );
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
            (
                "company twice",
                br#"{"event":"e","company_id":"a","company_id":"b"}"#,
            ),
            (
                "nested key twice",
                br#"{"event":"e","company_id":"a","data":{"k":1,"k":2}}"#,
            ),
        ];
        for (case, body) in cases {
            assert!(IncomingEvent::parse(body).is_err(), "{case} was accepted");
        }
    }
}

/// Property tests: 256 cases each by default; `scripts/fuzz` runs them with
/// a larger `PROPTEST_CASES` for a bounded time.
#[cfg(test)]
mod props {
    use super::tests::object;
    use super::*;
    use proptest::prelude::*;

    /// JSON values of any shape, a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".{0,12}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Bodies near the event shape: the known fields with values of any type.
    fn event_like() -> impl Strategy<Value = Vec<u8>> {
        let field = |name: &'static str, valid: &'static str| {
            prop::option::of(prop_oneof![valid.prop_map(Value::String), json_value(),])
                .prop_map(move |v| (name, v))
        };
        (
            field("event", "[A-Za-z0-9_.-]{1,130}"),
            field("company_id", ".{0,300}"),
            field("account_id", ".{0,20}"),
            field("account_api_key", ".{0,20}"),
            prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..4),
        )
            .prop_map(|(a, b, c, d, rest)| {
                let mut body: Map<String, Value> = rest.into_iter().collect();
                for (name, value) in [a, b, c, d] {
                    if let Some(value) = value {
                        body.insert(name.into(), value);
                    }
                }
                serde_json::to_vec(&body).unwrap()
            })
    }

    fn valid_id(id: &str) -> bool {
        !id.is_empty() && id.len() <= MAX_ID_BYTES && !id.chars().any(char::is_control)
    }

    /// What every accepted event guarantees the rest of the host.
    fn check_invariants(bytes: &[u8], event: &IncomingEvent) -> Result<(), TestCaseError> {
        let original: Value = serde_json::from_slice(bytes).unwrap();
        prop_assert!(is_event_name(&event.name));
        prop_assert!(valid_id(&event.company_id));
        prop_assert!(event.account_id.is_empty() || valid_id(&event.account_id));
        let body = object(&event.body);
        prop_assert!(!body.contains_key("account_api_key"));
        prop_assert!(event.api_key.as_deref().is_none_or(|k| !k.is_empty()));
        prop_assert_eq!(&original["event"], &Value::String(event.name.clone()));
        prop_assert_eq!(
            &original["company_id"],
            &Value::String(event.company_id.clone())
        );
        prop_assert_eq!(body.get("event"), original.get("event"));
        Ok(())
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = IncomingEvent::parse(&bytes);
        }

        #[test]
        fn accepted_events_keep_their_invariants(bytes in event_like()) {
            if let Ok(event) = IncomingEvent::parse(&bytes) {
                check_invariants(&bytes, &event)?;
            }
        }

        #[test]
        fn well_formed_events_are_accepted(
            name in "[A-Za-z0-9_.-]{1,128}",
            company in "[^\\p{Cc}]{1,60}",
            key in prop::option::of("[a-z0-9_]{1,40}"),
        ) {
            let mut body = serde_json::json!({"event": name, "company_id": company});
            if let Some(key) = &key {
                body["account_api_key"] = key.clone().into();
            }
            let bytes = serde_json::to_vec(&body).unwrap();
            let event = IncomingEvent::parse(&bytes).map_err(|e| TestCaseError::fail(e.0))?;
            check_invariants(&bytes, &event)?;
            prop_assert_eq!(event.api_key, key);
        }
    }
}
