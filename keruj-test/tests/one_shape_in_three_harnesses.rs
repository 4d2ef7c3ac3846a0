//! The light harness has one shape in the three languages: every method of
//! `keruj_test::TestApp` (and of its answers) has its counterpart in
//! `@keruj/guest/testing` (camelCase, in its `.d.ts`) and in
//! `keruj_guest.testing` (snake_case), so a call learnt in one language's
//! tests is found in the others'. This reads the three harnesses' sources.

use std::path::{Path, PathBuf};

/// Rust's alone, with why: the other languages start with options instead.
const RUST_ONLY: &[&str] = &["builder"];

/// Named otherwise where the Rust name is a field in the other languages:
/// (Rust, JavaScript, Python).
const RENAMED: &[(&str, &str, &str)] = &[
    ("OutboundResponse::status", "empty", "empty"),
    ("OutboundResponse::header", "withHeader", "with_header"),
    ("OutboundResponse::body", "withBody", "with_body"),
];

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `pub fn` names in the `impl <type> {` blocks of Rust `source`.
fn methods_of(source: &str, type_name: &str) -> Vec<String> {
    let start = format!("\nimpl {type_name} {{\n");
    let mut names = Vec::new();
    for block in source.split(&start).skip(1) {
        let block = block.split("\n}\n").next().unwrap_or_default();
        for line in block.lines() {
            if let Some(rest) = line.strip_prefix("    pub fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| *c == '_' || c.is_alphanumeric())
                    .collect();
                names.push(name);
            }
        }
    }
    names
}

/// `snake_case` as `camelCase`.
fn camel(name: &str) -> String {
    let mut parts = name.split('_');
    let first = parts.next().unwrap_or_default().to_owned();
    parts.fold(first, |mut camel, part| {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            camel.extend(c.to_uppercase());
            camel.push_str(chars.as_str());
        }
        camel
    })
}

/// Every Rust source of a folder, concatenated (Python's too, by extension).
fn sources(dir: &Path, extension: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == extension) {
            text.push('\n');
            text.push_str(&read(&entry.path()));
        }
    }
    text
}

/// Whether the `.d.ts` declares `name` as a method or a property.
fn in_typescript(types: &str, name: &str) -> bool {
    [
        format!(" {name}("),
        format!(" {name}<"),
        format!(" {name}:"),
        format!(" {name};"),
    ]
    .iter()
    .any(|declared| types.contains(declared.as_str()))
}

#[test]
fn every_call_of_the_rust_harness_is_in_the_other_two() {
    let root = checkout();
    let rust = sources(&root.join("keruj-test/src"), "rs");
    let types = read(&root.join("guest-sdk/js/testing/index.d.ts"));
    let python = sources(&root.join("guest-sdk/python/keruj_guest/testing"), "py");
    let mut checked = 0;
    let mut missing = Vec::new();
    for type_name in [
        "TestApp",
        "Answer",
        "Delivery",
        "OutboundResponse",
        "OutboundRequest",
    ] {
        for name in methods_of(&rust, type_name) {
            if RUST_ONLY.contains(&name.as_str()) {
                continue;
            }
            checked += 1;
            let rust_name = format!("{type_name}::{name}");
            let (js, py) = match RENAMED.iter().find(|(rust, ..)| *rust == rust_name) {
                Some((_, js, py)) => (js.to_string(), py.to_string()),
                None => (camel(&name), name.clone()),
            };
            if !in_typescript(&types, &js) {
                missing.push(format!("{rust_name}: no {js} in @keruj/guest/testing"));
            }
            // A method, or a dataclass field.
            let in_python = [format!("def {py}("), format!("\n    {py}: ")]
                .iter()
                .any(|declared| python.contains(declared.as_str()));
            if !in_python {
                missing.push(format!("{rust_name}: no {py} in keruj_guest.testing"));
            }
        }
    }
    assert!(
        checked > 40,
        "read only {checked} methods: has the Rust source moved?"
    );
    assert!(
        missing.is_empty(),
        "the harnesses differ:\n{}",
        missing.join("\n")
    );
}

#[test]
fn names_convert_as_each_language_writes_them() {
    assert_eq!(camel("deliver_webhook_to"), "deliverWebhookTo");
    assert_eq!(camel("install"), "install");
    let source = "\nimpl TestApp {\n    pub fn kv_get(&self) {}\n    fn hidden() {}\n}\n";
    assert_eq!(methods_of(source, "TestApp"), ["kv_get"]);
}
