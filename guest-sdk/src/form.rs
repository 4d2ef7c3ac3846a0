//! The reply format: the form a plugin asks Keruj to show the user.
//!
//! This module is the single definition of the format. Plugins build forms
//! with it; the host parses every reply with [`Form::from_json`], which
//! rejects anything that is not exactly this format, before Keruj sees it.
//!
//! ```
//! use keruj_guest::form::{Element, Form};
//!
//! let form = Form::new("credentials_submitted", "Connect your account")
//!     .description("Paste the key from your cabinet")
//!     .element(Element::text("api_key", "API key").required().secret())
//!     .element(Element::select("city", "City").option("kyiv", "Kyiv"))
//!     .error("api_key", "This key was refused");
//!
//! let json = form.to_json();
//! assert_eq!(Form::from_json(&json).unwrap(), form);
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod refill;

/// The largest reply the host accepts, in bytes of JSON.
pub const MAX_REPLY_BYTES: usize = 256 * 1024;
/// The most elements one form may hold.
pub const MAX_ELEMENTS: usize = 100;

/// A form for Keruj to show, and the event that brings the user's answers back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Form {
    /// The event Keruj sends back with the user's data (`{"event": reply, "data": {...}}`).
    pub reply: String,
    /// The form's heading.
    pub title: String,
    /// Optional text under the heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The fields, in display order.
    pub elements: Vec<Element>,
    /// Messages to show next to fields, by element name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Element {
    /// What kind of field this is.
    #[serde(rename = "type")]
    pub kind: ElementKind,
    /// The key under which the user's answer comes back in `data`.
    pub name: String,
    /// The text shown to the user.
    pub label: String,
    /// The user must fill it in.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Keruj should mask what the user types.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// The choices of a `select`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SelectOption>,
    /// The value the field starts with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// The kinds of form elements Keruj shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementKind {
    /// One line of text.
    Text,
    /// One line of text, masked as the user types; never refilled.
    Password,
    /// Several lines of text.
    Textarea,
    /// A number.
    Number,
    /// A box to tick: the answer is a yes or a no.
    Checkbox,
    /// One choice among the element's options.
    Select,
    /// Text for the user to read; it brings no answer back.
    Info,
}

/// One choice of a `select` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    /// What comes back in the answers when the user picks it.
    pub value: String,
    /// What the user sees.
    pub label: String,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

/// Why a reply is not a valid form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    /// The rule that failed, in words that quote nothing of the reply.
    rule: String,
    /// The rule and what in the reply broke it.
    detail: String,
}

impl FormError {
    fn new(rule: impl Into<String>, detail: impl Into<String>) -> FormError {
        FormError {
            rule: rule.into(),
            detail: detail.into(),
        }
    }

    /// The rule alone: safe to show whoever sent the event, since it holds
    /// no text of the reply (the host answers Keruj with it).
    pub fn rule(&self) -> &str {
        &self.rule
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid form: {}", self.detail)
    }
}

impl std::error::Error for FormError {}

impl Form {
    /// A form whose answers come back as the event `reply`.
    pub fn new(reply: impl Into<String>, title: impl Into<String>) -> Self {
        Form {
            reply: reply.into(),
            title: title.into(),
            description: None,
            elements: Vec::new(),
            errors: BTreeMap::new(),
        }
    }

    /// Sets the text under the heading.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a field.
    pub fn element(mut self, element: Element) -> Self {
        self.elements.push(element);
        self
    }

    /// Shows `message` next to the field `name`.
    pub fn error(mut self, name: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.insert(name.into(), message.into());
        self
    }

    /// The form as the JSON Keruj receives.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a form always serialises")
    }

    /// Parses and validates a reply: the host's gate before Keruj sees it.
    pub fn from_json(json: &str) -> Result<Form, FormError> {
        if json.len() > MAX_REPLY_BYTES {
            return Err(FormError::new(
                format!("a reply is at most {MAX_REPLY_BYTES} bytes"),
                format!(
                    "reply is {} bytes, over the limit of {MAX_REPLY_BYTES}",
                    json.len()
                ),
            ));
        }
        let form: Form = serde_json::from_str(json).map_err(|e| {
            let rule = format!(
                "a reply is a JSON object with the form format's fields and types \
                 (broken at line {}, column {})",
                e.line(),
                e.column()
            );
            FormError::new(rule, e.to_string())
        })?;
        form.validate()?;
        Ok(form)
    }

    /// Checks what the types alone cannot: names, options, errors.
    pub fn validate(&self) -> Result<(), FormError> {
        let fail = |rule: &str, detail: String| Err(FormError::new(rule, detail));
        if !is_event_name(&self.reply) {
            let rule = "`reply` must be an event name (letters, digits, `_`, `-`, `.`; 1 to 128)";
            return fail(rule, format!("{rule}, got {:?}", self.reply));
        }
        if self.title.trim().is_empty() {
            return fail("`title` must not be blank", "`title` is empty".into());
        }
        if self.elements.len() > MAX_ELEMENTS {
            let rule = format!("a form has at most {MAX_ELEMENTS} elements");
            return fail(&rule, format!("more than {MAX_ELEMENTS} elements"));
        }
        let mut names = HashSet::new();
        for element in &self.elements {
            element.validate()?;
            if !names.insert(element.name.as_str()) {
                return fail(
                    "element names must be unique",
                    format!("two elements are named {:?}", element.name),
                );
            }
        }
        if let Some(name) = self
            .errors
            .keys()
            .find(|name| !names.contains(name.as_str()))
        {
            return fail(
                "every key of `errors` must name an element",
                format!("`errors` names {name:?}, which is not an element"),
            );
        }
        Ok(())
    }
}

impl Element {
    fn new(kind: ElementKind, name: impl Into<String>, label: impl Into<String>) -> Self {
        Element {
            kind,
            name: name.into(),
            label: label.into(),
            required: false,
            secret: false,
            options: Vec::new(),
            value: None,
        }
    }

    /// One line of text.
    pub fn text(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(ElementKind::Text, name, label)
    }
    /// A masked line of text, such as a password; [`Form::refill`] never fills it in.
    pub fn password(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(ElementKind::Password, name, label)
    }
    /// Several lines of text.
    pub fn textarea(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(ElementKind::Textarea, name, label)
    }
    /// A number; read the answer with [`Submission::number`](crate::Submission::number) or [`integer`](crate::Submission::integer).
    pub fn number(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(ElementKind::Number, name, label)
    }
    /// A box to tick; read the answer with [`Submission::checked`](crate::Submission::checked).
    pub fn checkbox(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(ElementKind::Checkbox, name, label)
    }
    /// A choice among options; add them with [`Element::option`] and read
    /// the answer with [`Submission::choice_in`](crate::Submission::choice_in).
    pub fn select(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(ElementKind::Select, name, label)
    }
    /// Text for the user to read.
    pub fn info(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(ElementKind::Info, name, text)
    }

    /// The user must fill it in.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Keruj should mask what the user types; [`Form::refill`] never fills it in.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Adds a choice to a `select`.
    pub fn option(mut self, value: impl Into<String>, label: impl Into<String>) -> Self {
        self.options.push(SelectOption {
            value: value.into(),
            label: label.into(),
        });
        self
    }

    /// The value the field starts with: a boolean for a checkbox, a number
    /// for a number, one of the options for a select, text otherwise
    /// ([`Form::validate`] refuses anything else).
    pub fn value(mut self, value: impl Into<Value>) -> Self {
        self.value = Some(value.into());
        self
    }

    fn validate(&self) -> Result<(), FormError> {
        let fail = |rule: &str, detail: String| Err(FormError::new(rule, detail));
        if !is_field_name(&self.name) {
            return fail(
                "an element name is 1 to 64 letters, digits, `_` or `-`",
                format!(
                    "element name {:?} must be 1 to 64 letters, digits, `_` or `-`",
                    self.name
                ),
            );
        }
        let is_select = self.kind == ElementKind::Select;
        if is_select && self.options.is_empty() {
            return fail(
                "a select needs options",
                format!("select {:?} has no options", self.name),
            );
        }
        if !is_select && !self.options.is_empty() {
            return fail(
                "only a select has options",
                format!("only a select has options, not {:?}", self.name),
            );
        }
        let mut values = HashSet::new();
        if let Some(option) = self
            .options
            .iter()
            .find(|o| !values.insert(o.value.as_str()))
        {
            return fail(
                "a select's option values must be unique",
                format!("select {:?} offers {:?} twice", self.name, option.value),
            );
        }
        let value_fits = match (&self.value, self.kind) {
            (None, _) => true,
            (Some(Value::Bool(_)), ElementKind::Checkbox) => true,
            (Some(Value::Number(_)), ElementKind::Number) => true,
            (Some(Value::String(_)), ElementKind::Checkbox | ElementKind::Number) => false,
            (Some(Value::String(v)), ElementKind::Select) => values.contains(v.as_str()),
            (Some(Value::String(_)), _) => true,
            (Some(_), _) => false,
        };
        if !value_fits {
            return fail(
                "an element's `value` must fit its type (a boolean for a checkbox, a number \
                 for a number, one of the options for a select, text otherwise)",
                format!("element {:?} has a value that does not fit it", self.name),
            );
        }
        Ok(())
    }
}

/// An event name as Keruj carries it: `[A-Za-z0-9_.-]{1,128}`.
pub fn is_event_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn is_field_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

#[cfg(test)]
mod tests {
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
            format!(
                r#"{{"reply": "ok", "title": "t", "elements": [], "errors": {{"{evil}": "x"}}}}"#
            ),
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
}

/// Property tests: 256 cases each by default; `scripts/fuzz` runs them with
/// a larger `PROPTEST_CASES` for a bounded time.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = ElementKind> {
        prop_oneof![
            Just(ElementKind::Text),
            Just(ElementKind::Password),
            Just(ElementKind::Textarea),
            Just(ElementKind::Number),
            Just(ElementKind::Checkbox),
            Just(ElementKind::Select),
            Just(ElementKind::Info),
        ]
    }

    /// An element built with the builder, valid for its kind.
    fn element(name: String) -> impl Strategy<Value = Element> {
        (
            kind(),
            ".{0,30}",
            any::<bool>(),
            any::<bool>(),
            prop::collection::btree_map("[a-z0-9]{1,8}", ".{0,12}", 1..4),
            any::<bool>(),
        )
            .prop_map(
                move |(kind, label, required, secret, options, with_value)| {
                    let mut element = match kind {
                        ElementKind::Text => Element::text(name.clone(), label),
                        ElementKind::Password => Element::password(name.clone(), label),
                        ElementKind::Textarea => Element::textarea(name.clone(), label),
                        ElementKind::Number => Element::number(name.clone(), label),
                        ElementKind::Checkbox => Element::checkbox(name.clone(), label),
                        ElementKind::Select => Element::select(name.clone(), label),
                        ElementKind::Info => Element::info(name.clone(), label),
                    };
                    if required {
                        element = element.required();
                    }
                    if secret {
                        element = element.secret();
                    }
                    if kind == ElementKind::Select {
                        for (value, label) in &options {
                            element = element.option(value.clone(), label.clone());
                        }
                    }
                    if with_value {
                        element = match kind {
                            ElementKind::Number => element.value(42),
                            ElementKind::Checkbox => element.value(true),
                            ElementKind::Select => {
                                let first = options.keys().next().unwrap().clone();
                                element.value(first)
                            }
                            _ => element.value("start"),
                        };
                    }
                    element
                },
            )
    }

    fn form() -> impl Strategy<Value = Form> {
        let names = prop::collection::btree_set("[A-Za-z0-9_-]{1,64}", 0..8);
        (
            "[A-Za-z0-9_.-]{1,128}",
            ".{0,20}[^\\s].{0,20}",
            prop::option::of(".{0,40}"),
            names,
        )
            .prop_flat_map(|(reply, title, description, names)| {
                let elements: Vec<_> = names.iter().cloned().map(element).collect();
                let errors = prop::collection::vec(".{0,20}", names.len());
                (elements, errors).prop_map(move |(elements, errors)| {
                    let mut form = Form::new(reply.clone(), title.clone());
                    if let Some(text) = &description {
                        form = form.description(text.clone());
                    }
                    for element in elements {
                        form = form.element(element);
                    }
                    // Every other element gets an error message.
                    for (name, message) in names.iter().zip(errors).step_by(2) {
                        form = form.error(name.clone(), message);
                    }
                    form
                })
            })
    }

    /// Any JSON a submission may carry for a field.
    fn answer() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z0-9 .,+-]{0,12}".prop_map(Value::from),
            "-?[0-9]{1,20}(\\.[0-9]{1,4})?(e-?[0-9]{1,3})?".prop_map(Value::from),
            Just(Value::from("on")),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop::collection::vec(inner, 0..3).prop_map(Value::Array)
        })
    }

    /// A form and answers for its fields (and for a few it lacks); a select
    /// answer picks one of its options half of the time.
    fn form_and_answers() -> impl Strategy<Value = (Form, crate::Submission)> {
        form().prop_flat_map(|form| {
            let names: Vec<String> = form.elements.iter().map(|e| e.name.clone()).collect();
            let options: Vec<Vec<String>> = form
                .elements
                .iter()
                .map(|e| e.options.iter().map(|o| o.value.clone()).collect())
                .collect();
            let answers = prop::collection::vec(
                (answer(), any::<bool>(), any::<prop::sample::Index>()),
                names.len(),
            );
            let strays = prop::collection::btree_map("[a-z]{1,6}", answer(), 0..3);
            (Just(form), answers, strays).prop_map(move |(form, answers, strays)| {
                let mut data: serde_json::Map<String, Value> = strays.into_iter().collect();
                for ((name, options), (answer, pick, index)) in
                    names.iter().zip(&options).zip(answers)
                {
                    let answer = match (pick, options.is_empty()) {
                        (true, false) => Value::from(options[index.index(options.len())].clone()),
                        _ => answer,
                    };
                    data.insert(name.clone(), answer);
                }
                (
                    form,
                    crate::Submission {
                        name: "answers".into(),
                        data,
                    },
                )
            })
        })
    }

    proptest! {
        #[test]
        fn refilled_forms_pass_the_hosts_validation((form, answers) in form_and_answers()) {
            let refilled = form.clone().refill(&answers);
            // Validity is the property; floats may differ in the last digit
            // after a trip through JSON text, so the parsed form is not compared.
            Form::from_json(&refilled.to_json())
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", refilled.to_json())))?;
            for (before, after) in form.elements.iter().zip(&refilled.elements) {
                if before.secret || before.kind == ElementKind::Password {
                    prop_assert_eq!(&before.value, &after.value);
                }
            }
        }

        #[test]
        fn from_json_never_panics(json in ".{0,300}") {
            let _ = Form::from_json(&json);
        }

        #[test]
        fn from_json_never_panics_on_form_like_json(json in form().prop_map(|f| f.to_json()),
                                                     cut in any::<prop::sample::Index>(),
                                                     byte in any::<char>()) {
            // Damage a valid form in one place: parse, never panic.
            let mut chars: Vec<char> = json.chars().collect();
            let at = cut.index(chars.len());
            chars[at] = byte;
            let damaged: String = chars.into_iter().collect();
            if let Ok(form) = Form::from_json(&damaged) {
                prop_assert!(form.validate().is_ok());
            }
        }

        #[test]
        fn built_forms_round_trip(form in form()) {
            let json = form.to_json();
            let parsed = Form::from_json(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed, form);
        }
    }
}
