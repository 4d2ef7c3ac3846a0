//! The answers of a submitted form, read by type.
//!
//! Keruj's docs do not say how each kind of field travels, so every getter
//! takes the forms a browser form or a JSON client may send: a number as a
//! JSON number or as text, a checkbox as a boolean, `"on"`, `"true"` or `1`.

use serde_json::{Map, Value};

use crate::form::{ElementKind, Form};

/// The answers of a submitted form.
///
/// ```
/// use keruj_guest::{Event, json};
///
/// let body = json!({"data": {"name": " Olena ", "parcels": "3", "weight": 1.5,
///                            "insured": "on", "city": "kyiv"}});
/// let Event::Submit(answer) = Event::from_body("order_submitted", body) else { unreachable!() };
/// assert_eq!(answer.text("name"), Some("Olena"));
/// assert_eq!(answer.integer("parcels"), Some(3));
/// assert_eq!(answer.number("weight"), Some(1.5));
/// assert!(answer.checked("insured"));
/// assert_eq!(answer.choice("city"), Some("kyiv"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// The event the form named in its `reply`.
    pub name: String,
    /// The user's answers by element name.
    pub data: Map<String, Value>,
}

impl Submission {
    /// The answer `field` as trimmed text; `None` when absent, empty or not text.
    pub fn text(&self, field: &str) -> Option<&str> {
        match self.data.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    /// The raw answer `field`.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.data.get(field)
    }

    /// The answer `field` as a number: a JSON number, or text in plain
    /// decimal notation (`"12"`, `" -3.5 "`, `"1e3"`). `None` when absent,
    /// blank, not a number, or not finite. A decimal comma (`"3,5"`) is not
    /// read: it is ambiguous with a thousands separator.
    pub fn number(&self, field: &str) -> Option<f64> {
        match self.data.get(field)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => parse_number(s),
            _ => None,
        }
    }

    /// The answer `field` as a whole number, read like [`number`](Self::number):
    /// `3`, `3.0`, `"3"` and `"3.0"` are all 3. `None` when it has a
    /// fraction or does not fit an `i64`.
    pub fn integer(&self, field: &str) -> Option<i64> {
        match self.data.get(field)? {
            Value::Number(n) => n.as_i64().or_else(|| whole(n.as_f64()?)),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .ok()
                .or_else(|| whole(parse_number(s)?)),
            _ => None,
        }
    }

    /// Whether the checkbox `field` was ticked: `true`, `1`, or the text
    /// `"true"`, `"on"`, `"yes"` or `"1"` (any case). Anything else, and an
    /// absent field (a browser leaves an unticked box out), is `false`.
    pub fn checked(&self, field: &str) -> bool {
        match self.data.get(field) {
            Some(Value::Bool(ticked)) => *ticked,
            Some(Value::Number(n)) => n.as_u64() == Some(1),
            Some(Value::String(s)) => {
                let s = s.trim();
                ["true", "on", "yes", "1"]
                    .iter()
                    .any(|yes| s.eq_ignore_ascii_case(yes))
            }
            _ => false,
        }
    }

    /// The option chosen in the select `field`: its value exactly as sent
    /// (option values are compared as they are, so nothing is trimmed).
    /// `None` when absent, empty or not text. Nothing checks that it is one
    /// of the options offered: use [`choice_in`](Self::choice_in) for that.
    pub fn choice(&self, field: &str) -> Option<&str> {
        match self.data.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// The option chosen in the select `field` of `form`, only if it is one
    /// of the options that select offers. `None` otherwise, and when `form`
    /// has no select named `field`. A user (or anyone who can reach the
    /// form's reply event) can send any value: this is the check that it was
    /// one you offered.
    ///
    /// ```
    /// use keruj_guest::form::{Element, Form};
    /// use keruj_guest::{Event, json};
    ///
    /// let form = Form::new("city_chosen", "Where to?")
    ///     .element(Element::select("city", "City").option("kyiv", "Kyiv").option("lviv", "Lviv"));
    /// let answer = |city: &str| match Event::from_body("city_chosen", json!({"data": {"city": city}})) {
    ///     Event::Submit(answer) => answer,
    ///     other => unreachable!("{other:?}"),
    /// };
    /// assert_eq!(answer("lviv").choice_in(&form, "city"), Some("lviv"));
    /// assert_eq!(answer("odesa").choice_in(&form, "city"), None);
    /// ```
    pub fn choice_in(&self, form: &Form, field: &str) -> Option<&str> {
        let chosen = self.choice(field)?;
        let select = form
            .elements
            .iter()
            .find(|e| e.name == field && e.kind == ElementKind::Select)?;
        select
            .options
            .iter()
            .any(|option| option.value == chosen)
            .then_some(chosen)
    }
}

/// Text in plain decimal notation as a finite number. Rust's own parser also
/// takes `inf` and `NaN`, which no form field means.
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    plain
        .then(|| text.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

/// `n` as an `i64` if it is whole and in range.
fn whole(n: f64) -> Option<i64> {
    // -2^63 is exact as an f64; 2^63 is the first value past i64::MAX.
    let in_range = n >= i64::MIN as f64 && n < i64::MAX as f64;
    (n.fract() == 0.0 && in_range).then_some(n as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::Element;
    use serde_json::json;

    fn answers(data: Value) -> Submission {
        Submission {
            name: "answers".into(),
            data: data.as_object().expect("an object").clone(),
        }
    }

    #[test]
    fn numbers_come_as_json_numbers_or_text() {
        let a = answers(json!({
            "int": 12, "float": 2.5, "text": " -3.25 ", "exp": "1e3", "plus": "+4",
            "blank": "  ", "word": "twelve", "inf": "inf", "nan": "NaN", "huge": "1e400",
            "comma": "3,5", "bool": true, "null": null, "list": [1],
        }));
        assert_eq!(a.number("int"), Some(12.0));
        assert_eq!(a.number("float"), Some(2.5));
        assert_eq!(a.number("text"), Some(-3.25));
        assert_eq!(a.number("exp"), Some(1000.0));
        assert_eq!(a.number("plus"), Some(4.0));
        for not_a_number in [
            "blank", "word", "inf", "nan", "huge", "comma", "bool", "null", "list", "missing",
        ] {
            assert_eq!(a.number(not_a_number), None, "{not_a_number}");
        }
    }

    #[test]
    fn integers_are_whole_and_in_range() {
        let a = answers(json!({
            "int": -7, "whole_float": 3.0, "text": " 42 ", "whole_text": "5.0",
            "big": i64::MAX, "fraction": 2.5, "fraction_text": "2.5",
            "too_big": u64::MAX, "too_big_text": "9223372036854775808", "word": "x",
        }));
        assert_eq!(a.integer("int"), Some(-7));
        assert_eq!(a.integer("whole_float"), Some(3));
        assert_eq!(a.integer("text"), Some(42));
        assert_eq!(a.integer("whole_text"), Some(5));
        assert_eq!(a.integer("big"), Some(i64::MAX));
        for not_an_integer in [
            "fraction",
            "fraction_text",
            "too_big",
            "too_big_text",
            "word",
            "missing",
        ] {
            assert_eq!(a.integer(not_an_integer), None, "{not_an_integer}");
        }
    }

    #[test]
    fn checkboxes_tick_in_every_common_spelling() {
        let a = answers(json!({
            "bool": true, "one": 1, "on": "on", "true": "TRUE", "yes": " Yes ", "one_text": "1",
            "false": false, "zero": 0, "two": 2, "off": "off", "empty": "", "null": null,
        }));
        for ticked in ["bool", "one", "on", "true", "yes", "one_text"] {
            assert!(a.checked(ticked), "{ticked}");
        }
        for unticked in ["false", "zero", "two", "off", "empty", "null", "missing"] {
            assert!(!a.checked(unticked), "{unticked}");
        }
    }

    #[test]
    fn choices_are_exact_and_checked_against_the_form() {
        let form = Form::new("r", "t")
            .element(
                Element::select("city", "City")
                    .option("kyiv", "Kyiv")
                    .option("lviv", "Lviv"),
            )
            .element(Element::text("note", "Note"));
        let a = answers(
            json!({"city": "lviv", "padded": " kyiv", "empty": "", "n": 1, "note": "kyiv"}),
        );
        assert_eq!(a.choice("city"), Some("lviv"));
        assert_eq!(a.choice("padded"), Some(" kyiv"));
        assert_eq!(a.choice("empty"), None);
        assert_eq!(a.choice("n"), None);
        assert_eq!(a.choice_in(&form, "city"), Some("lviv"));
        // A value not offered, a field that is no select, a field the form lacks.
        let offered_elsewhere = answers(json!({"city": "odesa", "note": "kyiv"}));
        assert_eq!(offered_elsewhere.choice_in(&form, "city"), None);
        assert_eq!(a.choice_in(&form, "note"), None);
        assert_eq!(a.choice_in(&form, "padded"), None);
    }

    #[test]
    fn text_is_trimmed_and_blank_is_none() {
        let a = answers(json!({"name": "  Olena ", "blank": " ", "n": 5}));
        assert_eq!(a.text("name"), Some("Olena"));
        assert_eq!(a.text("blank"), None);
        assert_eq!(a.text("n"), None);
        assert_eq!(a.get("n"), Some(&json!(5)));
    }
}
