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
mod tests;

#[cfg(test)]
mod props;
