//! Showing a form again with the user's answers in it, so a refused answer
//! costs the user one correction, not the whole form.

use serde_json::{Number, Value};

use super::{Element, ElementKind, Form};
use crate::Submission;

impl Form {
    /// Sets each field's initial value from `answers`, the submission of
    /// this same form; add [`error`](Form::error)s and reply with it to ask
    /// again. The refilled form is always valid: each value is set in the
    /// type its element takes, or not at all.
    ///
    /// - `text`, `textarea`: the answer as the user typed it (a number as its
    ///   text). A blank answer leaves the field as built.
    /// - `number`: the answer read by [`Submission::number`]; text that is no
    ///   number leaves the field as built.
    /// - `checkbox`: [`Submission::checked`], so an absent answer unticks it.
    /// - `select`: the answer only if it is one of the options.
    /// - `password`, any element marked [`secret`](Element::secret), and
    ///   `info`: never refilled, so a secret is never sent back to the browser.
    ///
    /// ```
    /// use keruj_guest::form::{Element, Form};
    /// use keruj_guest::{Event, json};
    ///
    /// let order = || Form::new("order_submitted", "New order")
    ///     .element(Element::text("name", "Name").required())
    ///     .element(Element::number("parcels", "Parcels"))
    ///     .element(Element::text("token", "Courier token").secret());
    /// let body = json!({"data": {"name": "Olena", "parcels": "many", "token": "s3cret"}});
    /// let Event::Submit(answer) = Event::from_body("order_submitted", body) else { unreachable!() };
    ///
    /// let again = order().refill(&answer).error("parcels", "Type a number, like 3");
    /// assert_eq!(again.elements[0].value, Some(json!("Olena")));
    /// assert_eq!(again.elements[1].value, None);
    /// assert_eq!(again.elements[2].value, None);
    /// assert!(Form::from_json(&again.to_json()).is_ok());
    /// ```
    pub fn refill(mut self, answers: &Submission) -> Self {
        for element in &mut self.elements {
            if let Some(value) = answer_for(element, answers) {
                element.value = Some(value);
            }
        }
        self
    }
}

/// The initial value `element` takes from `answers`, in its own type.
fn answer_for(element: &Element, answers: &Submission) -> Option<Value> {
    if element.secret {
        return None;
    }
    let name = element.name.as_str();
    match element.kind {
        ElementKind::Text | ElementKind::Textarea => match answers.get(name)? {
            Value::String(text) if !text.trim().is_empty() => Some(Value::String(text.clone())),
            Value::Number(n) => Some(Value::String(n.to_string())),
            _ => None,
        },
        ElementKind::Number => match answers.integer(name) {
            Some(whole) => Some(Value::from(whole)),
            None => Number::from_f64(answers.number(name)?).map(Value::Number),
        },
        ElementKind::Checkbox => Some(Value::Bool(answers.checked(name))),
        ElementKind::Select => element
            .options
            .iter()
            .find(|option| Some(option.value.as_str()) == answers.choice(name))
            .map(|option| Value::String(option.value.clone())),
        ElementKind::Password | ElementKind::Info => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answers(data: Value) -> Submission {
        Submission {
            name: "order_submitted".into(),
            data: data.as_object().expect("an object").clone(),
        }
    }

    fn order_form() -> Form {
        Form::new("order_submitted", "New order")
            .element(Element::info("intro", "Tell us about the parcel"))
            .element(Element::text("name", "Name").required())
            .element(Element::textarea("note", "Note"))
            .element(Element::number("parcels", "Parcels"))
            .element(Element::number("weight", "Weight, kg"))
            .element(Element::checkbox("insured", "Insured").value(true))
            .element(Element::checkbox("fragile", "Fragile"))
            .element(
                Element::select("city", "City")
                    .option("kyiv", "Kyiv")
                    .option("lviv", "Lviv"),
            )
            .element(Element::password("password", "Password"))
            .element(Element::text("api_key", "API key").secret())
    }

    fn value(form: &Form, name: &str) -> Option<Value> {
        let element = form.elements.iter().find(|e| e.name == name).unwrap();
        element.value.clone()
    }

    #[test]
    fn each_kind_takes_the_answer_in_its_own_type() {
        let form = order_form().refill(&answers(json!({
            "intro": "ignored", "name": "  Olena ", "note": 42, "parcels": "3",
            "weight": "1.5", "fragile": "on", "city": "lviv",
            "password": "hunter2", "api_key": "np_secret",
        })));
        assert_eq!(value(&form, "intro"), None);
        assert_eq!(value(&form, "name"), Some(json!("  Olena ")));
        assert_eq!(value(&form, "note"), Some(json!("42")));
        assert_eq!(value(&form, "parcels"), Some(json!(3)));
        assert_eq!(value(&form, "weight"), Some(json!(1.5)));
        // Absent from the answers: unticked, even though it was built ticked.
        assert_eq!(value(&form, "insured"), Some(json!(false)));
        assert_eq!(value(&form, "fragile"), Some(json!(true)));
        assert_eq!(value(&form, "city"), Some(json!("lviv")));
        let parsed = Form::from_json(&form.to_json()).expect("a refilled form is valid");
        assert_eq!(parsed, form);
    }

    #[test]
    fn secrets_are_never_sent_back() {
        let form = order_form().refill(&answers(json!({
            "password": "hunter2", "api_key": "np_secret",
        })));
        assert_eq!(value(&form, "password"), None);
        assert_eq!(value(&form, "api_key"), None);
        let json = form.to_json();
        assert!(
            !json.contains("hunter2") && !json.contains("np_secret"),
            "{json}"
        );
    }

    #[test]
    fn answers_that_do_not_fit_leave_the_field_as_built() {
        let built = order_form()
            .element(Element::text("preset", "Preset").value("from the app"))
            .element(Element::number("preset_n", "Preset n").value(7));
        let form = built.refill(&answers(json!({
            "name": "   ", "note": true, "parcels": "many", "weight": "inf",
            "city": "odesa", "preset": "", "preset_n": [1],
        })));
        for untouched in ["name", "note", "parcels", "weight", "city"] {
            assert_eq!(value(&form, untouched), None, "{untouched}");
        }
        assert_eq!(value(&form, "preset"), Some(json!("from the app")));
        assert_eq!(value(&form, "preset_n"), Some(json!(7)));
        Form::from_json(&form.to_json()).expect("a refilled form is valid");
    }

    #[test]
    fn a_refilled_form_with_errors_passes_the_hosts_validation() {
        let form = order_form()
            .refill(&answers(
                json!({"name": "Olena", "parcels": 0, "city": "kyiv"}),
            ))
            .error("parcels", "At least one parcel")
            .error("city", "We do not deliver to Kyiv yet");
        let parsed = Form::from_json(&form.to_json()).expect("valid");
        assert_eq!(parsed.errors.len(), 2);
        assert_eq!(value(&parsed, "parcels"), Some(json!(0)));
        assert_eq!(value(&parsed, "city"), Some(json!("kyiv")));
    }
}
