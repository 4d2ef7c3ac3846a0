//! The app's sidecar (`<app>.toml`) written from JSON values: the few TOML
//! shapes a sidecar holds (scalars, arrays, `[config]`, `[[schedule]]`),
//! without a TOML crate in every app's test build.

use serde_json::{Map, Value};

/// `settings` as a TOML document: plain keys first, then tables, then
/// arrays of tables (TOML wants them in that order). `null`s are left out.
pub fn to_toml(settings: &Map<String, Value>) -> String {
    let mut plain = String::new();
    let mut tables = String::new();
    for (key, value) in settings {
        match value {
            Value::Null => {}
            Value::Object(table) => {
                tables.push_str(&format!("\n[{}]\n", key_text(key)));
                tables.push_str(&fields(table));
            }
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                for item in items {
                    tables.push_str(&format!("\n[[{}]]\n", key_text(key)));
                    tables.push_str(&fields(item.as_object().expect("checked")));
                }
            }
            value => plain.push_str(&format!("{} = {}\n", key_text(key), inline(value))),
        }
    }
    plain + &tables
}

fn fields(table: &Map<String, Value>) -> String {
    let set = table.iter().filter(|(_, value)| !value.is_null());
    set.map(|(key, value)| format!("{} = {}\n", key_text(key), inline(value)))
        .collect()
}

/// A value on one line. A JSON string is a valid TOML basic string (the
/// same escapes, `\uXXXX` included).
fn inline(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(table) => {
            let set = table.iter().filter(|(_, value)| !value.is_null());
            let items: Vec<String> = set
                .map(|(key, value)| format!("{} = {}", key_text(key), inline(value)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn key_text(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match bare {
        true => key.to_owned(),
        false => Value::from(key).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sidecar_reads_as_written() {
        let settings = json!({
            "allowed_hosts": ["api.example.com"],
            "config": {"mode": "test", "quote \"x\"": "a\nb"},
            "schedule": [{"event": "sync", "every": "15m"}],
            "timeout_ms": 2000,
            "nothing": null,
        });
        let text = to_toml(settings.as_object().unwrap());
        assert_eq!(
            text,
            "allowed_hosts = [\"api.example.com\"]\ntimeout_ms = 2000\n\
             \n[config]\nmode = \"test\"\n\"quote \\\"x\\\"\" = \"a\\nb\"\n\
             \n[[schedule]]\nevent = \"sync\"\nevery = \"15m\"\n"
        );
    }
}
