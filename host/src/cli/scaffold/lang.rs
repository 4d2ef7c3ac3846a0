//! The languages `keruj-host new` scaffolds, each with its SDK's files: the
//! same two-step dialogue and its test on the language's usual runner
//! through that SDK's light harness, and the command that builds
//! `plugins/<name>.wasm`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// A generated file: its path in the app's folder and its template.
pub type Template = (&'static str, &'static str);

/// The app's language (`--lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Lang {
    /// Rust, on the `keruj-guest` crate; tested with `cargo test`.
    #[default]
    Rust,
    /// JavaScript, on the `@keruj/guest` package; tested with `npm test` (node's runner).
    #[value(alias = "javascript")]
    Js,
    /// TypeScript, on `@keruj/guest` too; tested with `npm test` (node's runner).
    #[value(alias = "typescript")]
    Ts,
    /// Python, on the `keruj_guest` package; tested with `python3 -m unittest`.
    #[value(alias = "py")]
    Python,
}

const RUST: &[Template] = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("templates/rust/lib.rs.tmpl")),
    (
        "tests/dialogue.rs",
        include_str!("templates/rust/dialogue.rs.tmpl"),
    ),
    ("README.md", include_str!("templates/rust/README.md.tmpl")),
    (
        "scripts/build",
        include_str!("templates/rust/build.sh.tmpl"),
    ),
    (".gitignore", include_str!("templates/rust/gitignore.tmpl")),
];

const JS: &[Template] = &[
    (
        "package.json",
        include_str!("templates/js/package.json.tmpl"),
    ),
    ("src/app.js", include_str!("templates/js/app.js.tmpl")),
    (
        "test/dialogue.test.js",
        include_str!("templates/js/dialogue.test.js.tmpl"),
    ),
    ("README.md", include_str!("templates/js/README.md.tmpl")),
    (".gitignore", include_str!("templates/js/gitignore.tmpl")),
];

const TS: &[Template] = &[
    (
        "package.json",
        include_str!("templates/ts/package.json.tmpl"),
    ),
    (
        "tsconfig.json",
        include_str!("templates/ts/tsconfig.json.tmpl"),
    ),
    ("src/app.ts", include_str!("templates/ts/app.ts.tmpl")),
    (
        "test/dialogue.test.ts",
        include_str!("templates/ts/dialogue.test.ts.tmpl"),
    ),
    ("README.md", include_str!("templates/js/README.md.tmpl")),
    (".gitignore", include_str!("templates/ts/gitignore.tmpl")),
];

const PYTHON: &[Template] = &[
    ("app.py", include_str!("templates/python/app.py.tmpl")),
    (
        "tests/__init__.py",
        include_str!("templates/python/tests_init.py.tmpl"),
    ),
    (
        "tests/test_dialogue.py",
        include_str!("templates/python/test_dialogue.py.tmpl"),
    ),
    ("README.md", include_str!("templates/python/README.md.tmpl")),
    (
        "scripts/build",
        include_str!("templates/python/build.sh.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("templates/python/gitignore.tmpl"),
    ),
];

impl Lang {
    /// Every file of an app in this language.
    pub fn templates(self) -> &'static [Template] {
        match self {
            Lang::Rust => RUST,
            Lang::Js => JS,
            Lang::Ts => TS,
            Lang::Python => PYTHON,
        }
    }

    /// The language's name, for people.
    pub fn title(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript",
            Lang::Ts => "TypeScript",
            Lang::Python => "Python",
        }
    }

    /// This language's SDK inside a checkout's `guest-sdk` folder, checked.
    pub fn sdk_in(self, guest_sdk: &Path) -> anyhow::Result<PathBuf> {
        match self {
            Lang::Rust => Ok(guest_sdk.to_path_buf()),
            Lang::Js | Lang::Ts => {
                let js = guest_sdk.join("js");
                let manifest =
                    std::fs::read_to_string(js.join("package.json")).with_context(|| {
                        format!("{} has no JavaScript SDK (js/)", guest_sdk.display())
                    })?;
                let manifest: serde_json::Value = serde_json::from_str(&manifest)
                    .with_context(|| format!("{}/package.json is not JSON", js.display()))?;
                if manifest["name"] != "@keruj/guest" {
                    bail!("{} is not the @keruj/guest package", js.display());
                }
                Ok(js)
            }
            Lang::Python => {
                let python = guest_sdk.join("python");
                if !python.join("keruj_guest/__init__.py").is_file() {
                    bail!(
                        "{} has no Python SDK (python/keruj_guest)",
                        guest_sdk.display()
                    );
                }
                Ok(python)
            }
        }
    }

    /// Why the SDK cannot come from a git repository in this language, if
    /// it cannot: npm takes no package from a repository's subfolder, and
    /// neither SDK is on a registry yet.
    pub fn refuses_git(self) -> Option<String> {
        match self {
            Lang::Rust => None,
            lang => Some(format!(
                "a {} app takes its SDK from a keruj-host checkout on this machine (it is not \
                 published yet, and a git URL cannot name the SDK's folder inside the \
                 repository): clone the repository and give --sdk-path <checkout>/guest-sdk",
                lang.title()
            )),
        }
    }

    /// What to run once the files are there, as `(command, what it does)`.
    pub fn next_steps(self, name: &str, token_env: &str) -> Vec<(String, String)> {
        let serve = format!("{token_env}=dev-token keruj-host serve --plugins plugins --data data");
        let step = |command: &str, what: &str| (command.to_owned(), what.to_owned());
        let mut steps = match self {
            Lang::Rust => vec![
                step("rustup target add wasm32-wasip2", "once"),
                step(
                    "sh scripts/build",
                    "cargo build --release --target wasm32-wasip2, then the copy",
                ),
            ],
            Lang::Js | Lang::Ts => vec![
                step("npm install", "links @keruj/guest from the checkout"),
                step("npm run build", &format!("builds plugins/{name}.wasm")),
            ],
            Lang::Python => vec![step(
                "sh scripts/build",
                &format!("python3 -m keruj_guest build app.py -o plugins/{name}.wasm"),
            )],
        };
        steps.push((serve, "serves it on http://127.0.0.1:8080".into()));
        let test = match self {
            Lang::Rust => "cargo test",
            Lang::Js | Lang::Ts => "npm test",
            Lang::Python => "python3 -m unittest",
        };
        steps.push(step(
            test,
            "runs the app in the keruj-host on PATH (or $KERUJ_HOST_BIN)",
        ));
        steps
    }

    /// The app's source and its test, as the README names them.
    pub fn main_files(self) -> (&'static str, &'static str) {
        match self {
            Lang::Rust => ("src/lib.rs", "tests/dialogue.rs"),
            Lang::Js => ("src/app.js", "test/dialogue.test.js"),
            Lang::Ts => ("src/app.ts", "test/dialogue.test.ts"),
            Lang::Python => ("app.py", "tests/test_dialogue.py"),
        }
    }

    /// What each generated file is, for the listing `new` prints.
    pub fn file_notes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                ("Cargo.toml", "the crate; keruj-guest from the checkout"),
                ("src/lib.rs", "a two-step settings dialogue"),
                (
                    "tests/dialogue.rs",
                    "its test, against your keruj-host binary (keruj-test)",
                ),
                ("scripts/build", "builds plugins/<name>.wasm"),
            ],
            Lang::Js => &[
                (
                    "package.json",
                    "@keruj/guest from the checkout; build and test scripts",
                ),
                ("src/app.js", "a two-step settings dialogue"),
                (
                    "test/dialogue.test.js",
                    "its test (node's runner), against your keruj-host binary",
                ),
            ],
            Lang::Ts => &[
                (
                    "package.json",
                    "@keruj/guest from the checkout; build and test scripts",
                ),
                ("src/app.ts", "a two-step settings dialogue"),
                (
                    "test/dialogue.test.ts",
                    "its test (node's runner), against your keruj-host binary",
                ),
            ],
            Lang::Python => &[
                ("app.py", "a two-step settings dialogue"),
                (
                    "tests/test_dialogue.py",
                    "its test (unittest), against your keruj-host binary",
                ),
                (
                    "scripts/build",
                    "builds plugins/<name>.wasm (componentize-py)",
                ),
            ],
        }
    }
}
