//! Property tests: 256 cases each by default; `scripts/fuzz` runs them with
//! a larger `PROPTEST_CASES` for a bounded time.

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
            for ((name, options), (answer, pick, index)) in names.iter().zip(&options).zip(answers)
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
