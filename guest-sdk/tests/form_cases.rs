//! The reply format's shared cases (`guest-sdk/form-cases.json`), run against
//! the host's own gate, [`Form::from_json`]. The JavaScript and Python SDKs
//! run the same file against their validators, so all three answer alike.

use keruj_guest::form::Form;
use serde_json::{Value, json};

/// A case's reply text: `text` as is, or `reply` written compactly after `grow`.
fn reply_text(case: &Value) -> String {
    if let Some(text) = case["text"].as_str() {
        return text.to_owned();
    }
    let mut reply = case["reply"].clone();
    let grow = &case["grow"];
    if let Some(count) = grow["text_elements"].as_u64() {
        let elements = reply["elements"]
            .as_array_mut()
            .expect("grow needs elements");
        for i in 0..count {
            elements.push(json!({"type": "text", "name": format!("f{i}"), "label": "F"}));
        }
    }
    if let Some(bytes) = grow["first_label_bytes"].as_u64() {
        let unit = grow["label_char"].as_str().unwrap_or("x");
        let label = unit.repeat(bytes as usize / unit.len());
        reply["elements"][0]["label"] = label.into();
    }
    serde_json::to_string(&reply).unwrap()
}

#[test]
fn every_shared_case_answers_as_the_file_says() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/form-cases.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rules = file["rules"].as_object().expect("the file lists its rules");
    let cases = file["cases"].as_array().expect("the file has cases");
    let mut wrong = Vec::new();
    let mut rules_seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let answer = Form::from_json(&reply_text(case));
        match (case["valid"].as_bool().unwrap(), answer) {
            (true, Ok(_)) => {}
            (true, Err(error)) => wrong.push(format!("{name}: refused: {error}")),
            (false, Ok(_)) => wrong.push(format!("{name}: accepted")),
            (false, Err(error)) => {
                let rule = case["rule"].as_str().unwrap();
                assert!(rules.contains_key(rule), "{name}: unknown rule {rule}");
                rules_seen.insert(rule);
                let message = error.to_string();
                let expected = case["error"].as_str().unwrap_or("invalid form: ");
                if !message.starts_with("invalid form: ") || !message.contains(expected) {
                    wrong.push(format!("{name}: {message:?} does not say {expected:?}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let untested: Vec<_> = rules
        .keys()
        .filter(|r| !rules_seen.contains(r.as_str()))
        .collect();
    assert!(
        untested.is_empty(),
        "rules without a failing case: {untested:?}"
    );
}

#[test]
fn valid_cases_survive_a_round_trip() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/form-cases.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in file["cases"].as_array().unwrap() {
        if case["valid"] == true {
            let form = Form::from_json(&reply_text(case)).unwrap();
            assert_eq!(
                Form::from_json(&form.to_json()).unwrap(),
                form,
                "{}",
                case["name"]
            );
        }
    }
}
