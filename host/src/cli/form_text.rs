//! A reply form drawn as plain text, for a terminal (`keruj-host send`) or
//! any tool that shows what Keruj would show without a browser.
//!
//! ```text
//! Say hello
//! =========
//! Tell us who you are
//!
//!   Your name *  [text: name]
//!     ! Please type your name
//!
//! reply: name_submitted
//! ```
//!
//! Every string in a form is the plugin's: each line of it is escaped (see
//! [`PluginText`]) so that a reply cannot move the cursor, clear the screen
//! or reorder what the terminal shows.

use std::fmt::Write;

use keruj_guest::form::{Element, ElementKind, Form};
use serde_json::Value;

use crate::plugin_text::PluginText;

/// How a masked initial value is shown.
const MASKED: &str = "••••••";

/// The form as text: title (underlined), description, each element (label,
/// `*` when required, its type and name, initial value, a select's options,
/// its error), then the `reply` event. Ends with a newline.
pub fn render(form: &Form) -> String {
    let mut out = String::new();
    let title = safe(&form.title);
    out.push_str(&title);
    out.push('\n');
    let width = title.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    out.push_str(&"=".repeat(width.max(1)));
    out.push('\n');
    if let Some(description) = &form.description {
        out.push_str(&safe(description));
        out.push('\n');
    }
    for element in &form.elements {
        out.push('\n');
        element_text(&mut out, element, form.errors.get(&element.name));
    }
    let _ = writeln!(out, "\nreply: {}", safe(&form.reply));
    out
}

/// The lowercase name of a kind, as in the form's JSON (`"text"`, `"select"`, ...).
pub fn kind_name(kind: ElementKind) -> &'static str {
    match kind {
        ElementKind::Text => "text",
        ElementKind::Password => "password",
        ElementKind::Textarea => "textarea",
        ElementKind::Number => "number",
        ElementKind::Checkbox => "checkbox",
        ElementKind::Select => "select",
        ElementKind::Info => "info",
    }
}

/// Whether the element brings an answer back (all but `info`).
pub fn is_answerable(element: &Element) -> bool {
    element.kind != ElementKind::Info
}

/// Whether the element's value must not be shown (a password, or `secret`).
pub fn is_masked(element: &Element) -> bool {
    element.secret || element.kind == ElementKind::Password
}

fn element_text(out: &mut String, element: &Element, error: Option<&String>) {
    const INDENT: &str = "    ";
    if element.kind == ElementKind::Info {
        // Text to read: shown as is, its name only for reference.
        let _ = writeln!(
            out,
            "  {}  [info: {}]",
            indent_rest(&safe(&element.label), "  "),
            safe(&element.name)
        );
    } else {
        let mark = if element.required { " *" } else { "" };
        let secret = if element.secret { ", secret" } else { "" };
        let _ = writeln!(
            out,
            "  {}{mark}  [{}: {}{secret}]",
            indent_rest(&safe(&element.label), "  "),
            kind_name(element.kind),
            safe(&element.name)
        );
    }
    if let Some(value) = &element.value {
        let shown = match is_masked(element) {
            true => MASKED.to_owned(),
            false => indent_rest(&safe(&value_text(value)), "           "),
        };
        let _ = writeln!(out, "{INDENT}value: {shown}");
    }
    if element.kind == ElementKind::Select {
        if element.options.is_empty() {
            let _ = writeln!(out, "{INDENT}options: (none)");
        } else {
            let _ = writeln!(out, "{INDENT}options:");
            for option in &element.options {
                let chosen = element.value.as_ref().and_then(Value::as_str) == Some(&option.value);
                let _ = writeln!(
                    out,
                    "{INDENT}  {} {} = {}",
                    if chosen { "(x)" } else { "( )" },
                    safe(&option.value),
                    safe(&option.label)
                );
            }
        }
    }
    if let Some(error) = error {
        let _ = writeln!(out, "{INDENT}! {}", indent_rest(&safe(error), "      "));
    }
}

/// A value as a person reads it: a string without quotes, anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` safe for a terminal: each line escaped and bounded as plugin text
/// is for the log, the line breaks themselves kept.
fn safe(text: &str) -> String {
    text.split('\n')
        .map(|line| PluginText::new(line).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Indents every line after the first by `indent`, so that a multi-line
/// label or value stays under its field.
fn indent_rest(text: &str, indent: &str) -> String {
    text.replace('\n', &format!("\n{indent}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keruj_guest::form::Element;

    #[test]
    fn every_element_kind_is_drawn() {
        let form = Form::new("settings_saved", "Shop settings")
            .description("Connect your shop\nto Keruj")
            .element(
                Element::text("shop", "Shop name")
                    .required()
                    .value("Kvitka"),
            )
            .element(Element::password("key", "API key").required())
            .element(Element::textarea("notes", "Notes").value("line one\nline two"))
            .element(Element::number("limit", "Daily limit").value(25))
            .element(Element::checkbox("notify", "Notify me").value(true))
            .element(
                Element::select("city", "City")
                    .required()
                    .option("kyiv", "Kyiv")
                    .option("lviv", "Lviv")
                    .value("lviv"),
            )
            .element(Element::info("help", "Ask support if stuck"))
            .error("shop", "This shop is unknown")
            .error("limit", "At most 10");
        assert_eq!(
            render(&form),
            "Shop settings\n\
             =============\n\
             Connect your shop\n\
             to Keruj\n\
             \n  Shop name *  [text: shop]\n\
             \x20   value: Kvitka\n\
             \x20   ! This shop is unknown\n\
             \n  API key *  [password: key]\n\
             \n  Notes  [textarea: notes]\n\
             \x20   value: line one\n\
             \x20          line two\n\
             \n  Daily limit  [number: limit]\n\
             \x20   value: 25\n\
             \x20   ! At most 10\n\
             \n  Notify me  [checkbox: notify]\n\
             \x20   value: true\n\
             \n  City *  [select: city]\n\
             \x20   value: lviv\n\
             \x20   options:\n\
             \x20     ( ) kyiv = Kyiv\n\
             \x20     (x) lviv = Lviv\n\
             \n  Ask support if stuck  [info: help]\n\
             \nreply: settings_saved\n"
        );
    }

    #[test]
    fn secrets_are_masked_and_marked() {
        let form = Form::new("r", "T")
            .element(Element::text("token", "Token").secret().value("s3cret"))
            .element(Element::password("pw", "Password").value("hunter2"));
        let text = render(&form);
        assert!(
            !text.contains("s3cret") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("[text: token, secret]"), "{text}");
        assert_eq!(text.matches(MASKED).count(), 2, "{text}");
    }

    #[test]
    fn plugin_text_cannot_drive_the_terminal() {
        let form = Form::new("r", "Title\u{1b}[2J")
            .element(Element::text("a", "Label\u{202e}\r").value("x\u{7}"));
        let text = render(&form);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("Title\\u{1b}[2J"), "{text}");
        assert!(text.contains("Label\\u{202e}\\r"), "{text}");
    }

    #[test]
    fn a_select_without_options_says_so() {
        let form = Form::new("r", "T").element(Element::select("s", "Pick"));
        assert!(render(&form).contains("options: (none)"));
    }
}
