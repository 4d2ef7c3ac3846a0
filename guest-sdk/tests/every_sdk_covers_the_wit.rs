//! Every function a plugin may import, as the WIT contract declares it, has
//! its counterpart in each of the three SDKs (Rust, JavaScript, Python): a
//! new interface or function cannot land in `wit/` and be forgotten by one
//! of them. Each SDK wraps an interface in a module of its own; this reads
//! the SDKs' sources for the call to each generated binding.

use std::path::{Path, PathBuf};

use wit_parser::{Resolve, WorldItem};

/// One import: its interface and function names as the WIT spells them.
#[derive(Debug)]
struct Import {
    interface: String,
    function: String,
}

fn sdk() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.wit` file under `wit/`: each released version of the contract.
fn wit_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(wit_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "wit") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The functions of every interface the `app` world of each version imports.
fn imports() -> Vec<Import> {
    let mut imports = Vec::new();
    for file in wit_files(&sdk().join("wit")) {
        let mut resolve = Resolve::default();
        let package = resolve.push_file(&file).unwrap();
        let world = resolve.select_world(&[package], Some("app")).unwrap();
        for item in resolve.worlds[world].imports.values() {
            let WorldItem::Interface { id, .. } = item else {
                continue;
            };
            let interface = &resolve.interfaces[*id];
            for function in interface.functions.keys() {
                imports.push(Import {
                    interface: interface.name.clone().unwrap(),
                    function: function.clone(),
                });
            }
        }
    }
    assert!(!imports.is_empty(), "no imports found in wit/");
    imports
}

/// The text of every file under `dir` ending in `extension`.
fn sources(dir: &Path, extension: &str) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path, extension));
        } else if path.extension().is_some_and(|ext| ext == extension) {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
    found
}

/// Whether `text` names `item` as a whole word: `kv.get` in `kv.get(key)`
/// or `call(kv.get, key)`, not in `kv.getText`.
fn names(text: &str, item: &str) -> bool {
    text.match_indices(item).any(|(at, _)| {
        let next = text[at + item.len()..].chars().next();
        !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn snake(name: &str) -> String {
    name.replace('-', "_")
}

fn camel(name: &str) -> String {
    let mut words = name.split('-');
    let mut out = words.next().unwrap_or_default().to_owned();
    for word in words {
        let mut letters = word.chars();
        if let Some(first) = letters.next() {
            out.extend(first.to_uppercase());
            out.push_str(letters.as_str());
        }
    }
    out
}

/// Rust: a module that uses `bindings::keruj::plugin::<interface>` calls
/// `<function>(` (through the module's name, an alias, or a direct import).
fn in_rust(import: &Import) -> bool {
    let module = format!("plugin::{}", snake(&import.interface));
    let call = format!("{}(", snake(&import.function));
    sources(&sdk().join("src"), "rs")
        .iter()
        .any(|(_, text)| text.contains(&module) && text.contains(&call))
}

/// JavaScript: `import * as X from 'keruj:plugin/<interface>@…'` uses `X.<function>`.
fn in_js(import: &Import) -> bool {
    let from = format!("from 'keruj:plugin/{}@", import.interface);
    sources(&sdk().join("js/src"), "js")
        .iter()
        .any(|(_, text)| {
            text.lines()
                .filter(|line| line.contains(&from))
                .filter_map(|line| line.split(" as ").nth(1)?.split_whitespace().next())
                .any(|alias| names(text, &format!("{alias}.{}", camel(&import.function))))
        })
}

/// Python: a function that imports `wit_world.imports.<interface>` uses
/// `<alias>.<function>`.
fn in_python(import: &Import) -> bool {
    let from = format!(
        "from wit_world.imports import {} as ",
        snake(&import.interface)
    );
    sources(&sdk().join("python/keruj_guest"), "py")
        .iter()
        .flat_map(|(_, text)| text.split("def ").map(str::to_owned).collect::<Vec<_>>())
        .any(|body| {
            body.lines()
                .filter_map(|line| Some(line.split(&from).nth(1)?.trim().to_owned()))
                .any(|alias| names(&body, &format!("{alias}.{}", snake(&import.function))))
        })
}

#[test]
fn every_imported_function_has_a_counterpart_in_each_sdk() {
    let mut missing = Vec::new();
    for import in imports() {
        for (sdk, covered) in [
            ("Rust (guest-sdk/src)", in_rust(&import)),
            ("JavaScript (guest-sdk/js/src)", in_js(&import)),
            ("Python (guest-sdk/python/keruj_guest)", in_python(&import)),
        ] {
            if !covered {
                missing.push(format!("{}.{} in {sdk}", import.interface, import.function));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "WIT functions with no counterpart in an SDK:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_checks_see_a_function_that_is_not_there() {
    let invented = Import {
        interface: "kv".into(),
        function: "compare-and-swap".into(),
    };
    assert!(!in_rust(&invented));
    assert!(!in_js(&invented));
    assert!(!in_python(&invented));
    let real = Import {
        interface: "keruj-api".into(),
        function: "graphql".into(),
    };
    assert!(in_rust(&real) && in_js(&real) && in_python(&real));
}
