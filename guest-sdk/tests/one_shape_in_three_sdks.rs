//! The helpers have one shape in the three SDKs (Rust, JavaScript, Python):
//! each helper of one has its counterpart in the others, with as many
//! parameters in the same order, and a helper that takes headers in one takes
//! them in all three, at the same place (issue 24: Python's `get_json` once
//! took no headers where JavaScript's `getJson` did). Names differ only by
//! each language's conventions; this reads the SDKs' sources.

use std::path::PathBuf;

/// How one helper is written in each SDK, and whether its parameters line up.
struct Helper {
    module: &'static str,
    rust: &'static str,
    js: &'static str,
    python: &'static str,
    /// Rust builds this request with [`Request`](keruj_guest::http::Request)
    /// instead: its headers come by `.headers(..)`; parameters are not compared.
    rust_builder: bool,
    /// Whether the parameters are compared by position (not for the one
    /// helper that takes a whole request: an object in JavaScript, keywords
    /// in Python).
    positional: bool,
}

const fn helper(
    module: &'static str,
    rust: &'static str,
    js: &'static str,
    python: &'static str,
) -> Helper {
    Helper {
        module,
        rust,
        js,
        python,
        rust_builder: false,
        positional: true,
    }
}

/// Every helper, as each SDK names it.
const HELPERS: &[Helper] = &[
    helper("log", "trace", "trace", "trace"),
    helper("log", "debug", "debug", "debug"),
    helper("log", "info", "info", "info"),
    helper("log", "warn", "warn", "warn"),
    helper("log", "error", "error", "error"),
    helper("kv", "get", "get", "get"),
    helper("kv", "get_text", "getText", "get_text"),
    helper("kv", "get_json", "getJson", "get_json"),
    helper("kv", "set", "set", "set"),
    helper("kv", "set_json", "setJson", "set_json"),
    helper("kv", "delete", "delete", "delete"),
    helper("kv", "keys", "keys", "keys"),
    helper("secrets", "get", "get", "get"),
    helper("secrets", "set", "set", "set"),
    helper("secrets", "delete", "delete", "delete"),
    helper("secrets", "keys", "keys", "keys"),
    helper("config", "get", "get", "get"),
    helper("config", "all", "all", "all"),
    helper("schedules", "at", "at", "at"),
    helper("schedules", "after", "after", "after"),
    helper("schedules", "every", "every", "every"),
    helper("schedules", "cron", "cron", "cron"),
    helper("schedules", "all", "all", "all"),
    helper("schedules", "cancel", "cancel", "cancel"),
    helper("webhooks", "mint", "mint", "mint"),
    helper("webhooks", "all", "all", "all"),
    helper("webhooks", "revoke", "revoke", "revoke"),
    // Rust has no optional parameters: the forms with headers are `*_with`;
    // `get_json(url)` and `post_json(url, &value)` stay for the calls without.
    helper("http", "get_json_with", "getJson", "get_json"),
    helper("http", "post_json_with", "postJson", "post_json"),
    Helper {
        rust_builder: true,
        ..helper("http", "get", "get", "get")
    },
    Helper {
        rust_builder: true,
        ..helper("http", "post", "post", "post")
    },
    Helper {
        rust_builder: true,
        positional: false,
        ..helper("http", "new", "send", "request")
    },
    helper("keruj", "graphql", "graphql", "graphql"),
];

fn read(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text between the bracket at the start of `text` and its match.
fn bracketed(text: &str) -> &str {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' if !text[..at].ends_with('=') => {
                depth -= 1;
                if depth == 0 {
                    return &text[1..at];
                }
            }
            _ => {}
        }
    }
    panic!("no closing bracket in {text:.80}")
}

/// The top-level parameters of a parameter list; `self` and Python's bare `*` left out.
fn parameters(list: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0;
    for c in list.chars() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().unwrap().push(c);
    }
    out.into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && p != "*" && !p.ends_with("self"))
        .collect()
}

/// The parameters of `pub fn <name>` in `guest-sdk/src/<module>.rs`.
fn rust(helper: &Helper) -> Option<Vec<String>> {
    let source = read(&format!("src/{}.rs", helper.module));
    let start = format!("pub fn {}", helper.rust);
    let at = source
        .match_indices(&start)
        .map(|(at, _)| at + start.len())
        .find(|&at| source[at..].starts_with(['(', '<']))?;
    let rest = &source[at..];
    let rest = match rest.starts_with('<') {
        true => &rest[bracketed(rest).len() + 2..],
        false => rest,
    };
    Some(parameters(bracketed(rest)))
}

/// The parameters of `<name>` in `export const <module> = Object.freeze({ … })`.
fn js(helper: &Helper) -> Option<Vec<String>> {
    let source = read("js/src/capabilities.js");
    let start = source.find(&format!(
        "export const {} = Object.freeze({{",
        helper.module
    ))?;
    let block = &source[start..];
    let block = &block[..block.find("\n});")?];
    let at = [":", "("]
        .iter()
        .find_map(|after| block.find(&format!("\n  {}{after}", helper.js)))?;
    let rest = &block[at..];
    Some(parameters(bracketed(&rest[rest.find('(')?..])))
}

/// The parameters of `<name>` in the types JavaScript's SDK ships
/// (`export const <module>: { … }` in `index.d.ts`), which TypeScript checks apps against.
fn typescript(helper: &Helper) -> Option<Vec<String>> {
    let source = read("js/src/index.d.ts");
    let start = source.find(&format!("export const {}: {{", helper.module))?;
    let block = &source[start..];
    let block = &block[..block.find("\n};")?];
    let at = ["(", "<"]
        .iter()
        .find_map(|after| block.find(&format!("\n  {}{after}", helper.js)))?;
    let rest = &block[at + 3 + helper.js.len()..];
    let rest = match rest.starts_with('<') {
        true => &rest[bracketed(rest).len() + 2..],
        false => rest,
    };
    Some(parameters(bracketed(rest)))
}

/// The parameters of `def <name>` in `class <module>:`.
fn python(helper: &Helper) -> Option<Vec<String>> {
    let source = read("python/keruj_guest/capabilities.py");
    let start = source.find(&format!("\nclass {}:", helper.module))?;
    let block = &source[start + 1..];
    let block = &block[..block.find("\nclass ").unwrap_or(block.len())];
    let at = block.find(&format!("def {}(", helper.python))?;
    let rest = &block[at..];
    Some(parameters(bracketed(&rest[rest.find('(')?..])))
}

fn headers_at(parameters: &[String]) -> Option<usize> {
    parameters.iter().position(|p| {
        p.split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|word| word == "headers")
    })
}

#[test]
fn each_helper_has_one_shape_in_the_three_sdks() {
    let builder_takes_headers = read("src/http.rs").contains("pub fn headers(mut self, headers:");
    let mut wrong = Vec::new();
    for helper in HELPERS {
        let name = format!("{}.{}", helper.module, helper.js);
        let found = [
            ("Rust", rust(helper)),
            ("JavaScript", js(helper)),
            ("TypeScript types", typescript(helper)),
            ("Python", python(helper)),
        ];
        for (sdk, parameters) in &found {
            if parameters.is_none() {
                wrong.push(format!("{name}: not found in the {sdk} SDK"));
            }
        }
        let mut shapes: Vec<(&str, Option<usize>, Vec<String>)> = found
            .into_iter()
            .filter_map(|(sdk, p)| Some((sdk, headers_at(p.as_ref()?), p?)))
            .collect();
        if helper.rust_builder {
            shapes.retain(|(sdk, ..)| *sdk != "Rust");
            let js_headers = shapes.iter().any(|(_, at, _)| at.is_some());
            if js_headers && !builder_takes_headers {
                wrong.push(format!("{name}: Rust's Request has no `.headers(..)`"));
            }
        }
        let takes: Vec<bool> = shapes.iter().map(|(_, at, _)| at.is_some()).collect();
        if takes.iter().any(|&t| t != takes[0]) {
            wrong.push(format!("{name}: headers in some SDKs only: {shapes:?}"));
        } else if helper.positional {
            let first = &shapes[0];
            for other in &shapes[1..] {
                if other.1 != first.1 || other.2.len() != first.2.len() {
                    wrong.push(format!("{name}: {first:?} but {other:?}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the SDKs differ in shape:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_json_helpers_take_headers_last() {
    for name in ["get_json_with", "post_json_with"] {
        let helper = HELPERS.iter().find(|h| h.rust == name).unwrap();
        for parameters in [rust(helper), js(helper), typescript(helper), python(helper)] {
            let parameters = parameters.unwrap();
            assert_eq!(
                headers_at(&parameters),
                Some(parameters.len() - 1),
                "{parameters:?}"
            );
        }
    }
}

#[test]
fn the_check_sees_a_helper_without_headers() {
    let reads = |text: &str| parameters(bracketed(text));
    assert_eq!(headers_at(&reads("(url: &str)")), None);
    assert_eq!(
        reads("(url: &str, headers: &[(&str, &str)])"),
        ["url: &str", "headers: &[(&str, &str)]"]
    );
    assert_eq!(
        reads("(url: str, *, headers: Optional[Headers] = None)"),
        ["url: str", "headers: Optional[Headers] = None"]
    );
    assert_eq!(
        reads("({ method = 'GET', url, headers = {}, body } = {})").len(),
        1
    );
    assert_eq!(reads("(url, headers = {}) => x"), ["url", "headers = {}"]);
    let invented = helper(
        "kv",
        "compare_and_swap",
        "compareAndSwap",
        "compare_and_swap",
    );
    assert!(rust(&invented).is_none() && js(&invented).is_none());
    assert!(typescript(&invented).is_none() && python(&invented).is_none());
}
