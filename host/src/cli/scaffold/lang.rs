//! The languages `keruj-host new` scaffolds, each with its SDK's files: the
//! same two-step dialogue and its test on the language's usual runner
//! through that SDK's light harness, and the commands that build
//! `plugins/<name>.wasm`. One [`Kit`] per language says all of it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

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

/// What `new` makes and says for one language.
pub struct Kit {
    /// The language's name, for people.
    pub title: &'static str,
    /// Each file: its path in the app, its template, and what it is for the
    /// listing `new` prints (`None`: not listed; `<name>` is the app id).
    pub files: &'static [File],
    /// The app's source and its test, as the README names them.
    pub main_files: (&'static str, &'static str),
    /// The commands that build `plugins/<name>.wasm`, in order, each with
    /// what it does.
    pub build: &'static [(&'static str, &'static str)],
    /// The command that runs the app's tests.
    pub test: &'static str,
}

/// A generated file: its path in the app, its template, its note.
pub type File = (&'static str, &'static str, Option<&'static str>);

const DIALOGUE: Option<&str> = Some("a two-step settings dialogue");
const README: Option<&str> =
    Some("these steps, and how to play the dialogue with `keruj-host send`");
const JS_PACKAGE: Option<&str> = Some("@keruj/guest from the checkout; build and test scripts");
const NODE_TEST: Option<&str> = Some("its test (node's runner), against your keruj-host binary");
const NPM_BUILD: &[(&str, &str)] = &[
    ("npm install", "links @keruj/guest from the checkout"),
    ("npm run build", "builds plugins/<name>.wasm"),
];

const RUST: Kit = Kit {
    title: "Rust",
    files: &[
        (
            "Cargo.toml",
            include_str!("templates/rust/Cargo.toml.tmpl"),
            Some("the crate; keruj-guest from the checkout"),
        ),
        (
            "src/lib.rs",
            include_str!("templates/rust/lib.rs.tmpl"),
            DIALOGUE,
        ),
        (
            "tests/dialogue.rs",
            include_str!("templates/rust/dialogue.rs.tmpl"),
            Some("its test, against your keruj-host binary (keruj-test)"),
        ),
        (
            "README.md",
            include_str!("templates/rust/README.md.tmpl"),
            README,
        ),
        (
            "scripts/build",
            include_str!("templates/rust/build.sh.tmpl"),
            Some("builds plugins/<name>.wasm"),
        ),
        (
            ".gitignore",
            include_str!("templates/rust/gitignore.tmpl"),
            None,
        ),
    ],
    main_files: ("src/lib.rs", "tests/dialogue.rs"),
    build: &[
        ("rustup target add wasm32-wasip2", "once"),
        (
            "sh scripts/build",
            "cargo build --release --target wasm32-wasip2, then the copy",
        ),
    ],
    test: "cargo test",
};

const JS: Kit = Kit {
    title: "JavaScript",
    files: &[
        (
            "package.json",
            include_str!("templates/js/package.json.tmpl"),
            JS_PACKAGE,
        ),
        (
            "src/app.js",
            include_str!("templates/js/app.js.tmpl"),
            DIALOGUE,
        ),
        (
            "test/dialogue.test.js",
            include_str!("templates/js/dialogue.test.js.tmpl"),
            NODE_TEST,
        ),
        (
            "README.md",
            include_str!("templates/js/README.md.tmpl"),
            README,
        ),
        (
            ".gitignore",
            include_str!("templates/js/gitignore.tmpl"),
            None,
        ),
    ],
    main_files: ("src/app.js", "test/dialogue.test.js"),
    build: NPM_BUILD,
    test: "npm test",
};

const TS: Kit = Kit {
    title: "TypeScript",
    files: &[
        (
            "package.json",
            include_str!("templates/ts/package.json.tmpl"),
            JS_PACKAGE,
        ),
        (
            "tsconfig.json",
            include_str!("templates/ts/tsconfig.json.tmpl"),
            None,
        ),
        (
            "src/app.ts",
            include_str!("templates/ts/app.ts.tmpl"),
            DIALOGUE,
        ),
        (
            "test/dialogue.test.ts",
            include_str!("templates/ts/dialogue.test.ts.tmpl"),
            NODE_TEST,
        ),
        (
            "README.md",
            include_str!("templates/js/README.md.tmpl"),
            README,
        ),
        (
            ".gitignore",
            include_str!("templates/js/gitignore.tmpl"),
            None,
        ),
    ],
    main_files: ("src/app.ts", "test/dialogue.test.ts"),
    build: NPM_BUILD,
    test: "npm test",
};

const PYTHON: Kit = Kit {
    title: "Python",
    files: &[
        (
            "app.py",
            include_str!("templates/python/app.py.tmpl"),
            DIALOGUE,
        ),
        (
            "tests/__init__.py",
            include_str!("templates/python/tests_init.py.tmpl"),
            None,
        ),
        (
            "tests/test_dialogue.py",
            include_str!("templates/python/test_dialogue.py.tmpl"),
            Some("its test (unittest), against your keruj-host binary"),
        ),
        (
            "README.md",
            include_str!("templates/python/README.md.tmpl"),
            README,
        ),
        (
            "scripts/build",
            include_str!("templates/python/build.sh.tmpl"),
            Some("builds plugins/<name>.wasm (componentize-py)"),
        ),
        (
            ".gitignore",
            include_str!("templates/python/gitignore.tmpl"),
            None,
        ),
    ],
    main_files: ("app.py", "tests/test_dialogue.py"),
    build: &[(
        "sh scripts/build",
        "python3 -m keruj_guest build app.py -o plugins/<name>.wasm",
    )],
    test: "python3 -m unittest",
};

impl Lang {
    /// Everything `new` makes and says for this language.
    pub fn kit(self) -> &'static Kit {
        match self {
            Lang::Rust => &RUST,
            Lang::Js => &JS,
            Lang::Ts => &TS,
            Lang::Python => &PYTHON,
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
                lang.kit().title
            )),
        }
    }
}
