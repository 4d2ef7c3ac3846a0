//! The reply format's rules, case by case.

use super::*;

#[test]
fn the_rule_quotes_nothing_of_the_reply() {
    let evil = "<img src=x onerror=alert(1)>";
    let cases = [
        format!(r#"{{"reply": "{evil}", "title": "t", "elements": []}}"#),
        format!(
            r#"{{"reply": "ok", "title": "t", "elements": [{{"type": "{evil}", "name": "a", "label": "a"}}]}}"#
        ),
        format!(r#"{{"reply": "ok", "title": "t", "elements": [], "{evil}": 1}}"#),
        format!(
            r#"{{"reply": "ok", "title": "t", "elements": [{{"type": "text", "name": "{evil}", "label": "a"}}]}}"#
        ),
        format!(r#"{{"reply": "ok", "title": "t", "elements": [], "errors": {{"{evil}": "x"}}}}"#),
        format!(
            r#"{{"reply": "ok", "title": "t", "elements": [{{"type": "select", "name": "s", "label": "a", "options": [{{"value": "{evil}", "label": "a"}}, {{"value": "{evil}", "label": "b"}}]}}]}}"#
        ),
        format!(
            r#"{{"reply": "ok", "title": "t", "elements": [{{"type": "number", "name": "n", "label": "a", "value": "{evil}"}}]}}"#
        ),
    ];
    for json in cases {
        let error = Form::from_json(&json).unwrap_err();
        assert!(!error.rule().contains("img"), "{}", error.rule());
    }
}

fn contract_example() -> &'static str {
    r#"{
      "reply": "credentials_submitted",
      "title": "Connect your account",
      "description": "optional text",
      "elements": [
        {"type": "text", "name": "api_key", "label": "API key", "required": true, "secret": true},
        {"type": "select", "name": "city", "label": "City", "options": [{"value": "kyiv", "label": "Kyiv"}]}
      ],
      "errors": {"api_key": "This key was refused"}
    }"#
}

#[test]
fn builder_produces_the_documented_json() {
    let built = Form::new("credentials_submitted", "Connect your account")
        .description("optional text")
        .element(Element::text("api_key", "API key").required().secret())
        .element(Element::select("city", "City").option("kyiv", "Kyiv"))
        .error("api_key", "This key was refused");
    let expected: Value = serde_json::from_str(contract_example()).unwrap();
    let actual: Value = serde_json::from_str(&built.to_json()).unwrap();
    assert_eq!(actual, expected);
    assert_eq!(Form::from_json(contract_example()).unwrap(), built);
}

#[test]
fn every_element_kind_round_trips() {
    for kind in ["text", "password", "textarea", "number", "checkbox", "info"] {
        let json = format!(
            r#"{{"reply":"r","title":"t","elements":[{{"type":"{kind}","name":"f","label":"F"}}]}}"#
        );
        let form = Form::from_json(&json).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(
            serde_json::to_value(&form.elements[0]).unwrap()["type"],
            kind
        );
    }
}

#[test]
fn rejects_what_is_not_the_format() {
    let cases = [
        ("not json", "not json"),
        ("array", "[]"),
        ("no reply", r#"{"title":"t","elements":[]}"#),
        ("empty reply", r#"{"reply":"","title":"t","elements":[]}"#),
        (
            "reply with space",
            r#"{"reply":"a b","title":"t","elements":[]}"#,
        ),
        ("blank title", r#"{"reply":"r","title":" ","elements":[]}"#),
        (
            "unknown field",
            r#"{"reply":"r","title":"t","elements":[],"x":1}"#,
        ),
        (
            "unknown type",
            r#"{"reply":"r","title":"t","elements":[{"type":"date","name":"d","label":"D"}]}"#,
        ),
        (
            "select without options",
            r#"{"reply":"r","title":"t","elements":[{"type":"select","name":"s","label":"S"}]}"#,
        ),
        (
            "options on text",
            r#"{"reply":"r","title":"t","elements":[{"type":"text","name":"s","label":"S","options":[{"value":"a","label":"A"}]}]}"#,
        ),
        (
            "duplicate names",
            r#"{"reply":"r","title":"t","elements":[{"type":"text","name":"a","label":"A"},{"type":"text","name":"a","label":"B"}]}"#,
        ),
        (
            "error for no element",
            r#"{"reply":"r","title":"t","elements":[],"errors":{"ghost":"boo"}}"#,
        ),
        (
            "select value not an option",
            r#"{"reply":"r","title":"t","elements":[{"type":"select","name":"s","label":"S","options":[{"value":"a","label":"A"}],"value":"b"}]}"#,
        ),
        (
            "checkbox with a string value",
            r#"{"reply":"r","title":"t","elements":[{"type":"checkbox","name":"c","label":"C","value":"yes"}]}"#,
        ),
    ];
    for (case, json) in cases {
        assert!(Form::from_json(json).is_err(), "{case} was accepted");
    }
}

#[test]
fn rejects_a_reply_over_the_size_limit() {
    let label = "x".repeat(MAX_REPLY_BYTES);
    let form = Form::new("r", "t").element(Element::info("i", label));
    let err = Form::from_json(&form.to_json()).unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
}
