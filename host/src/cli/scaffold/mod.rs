//! `keruj-host new [--lang rust|js|ts|python]`: scaffolds an app that builds
//! as generated, in any language with an SDK: a two-step dialogue, its test
//! on the language's usual runner through that SDK's light harness (which
//! drives the installed `keruj-host` binary, so the app's test build never
//! compiles wasmtime), the command that builds `plugins/<name>.wasm` (the
//! app id is the file stem, whatever the toolchain names its output) and a
//! README.
//!
//! A Rust crate takes the SDK from this checkout (a path) or git; the other
//! languages from a checkout ([`Lang::refuses_git`] says why). The templates
//! are files under `src/cli/scaffold/templates/<lang>/` ([`lang`]), filled by
//! plain `{{placeholder}}` replacement ([`render`]).

mod lang;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

pub use lang::Lang;

use crate::settings::{default_token_env, is_app_name};

/// The SDK of the checkout this binary was built from. Nothing is published
/// to crates.io yet, so by default the generated crate depends on it by path.
pub const CHECKOUT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

/// The arguments of `keruj-host new`.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The app id, also the crate's or package's name: 1 to 63 of a-z, 0-9,
    /// `_` and `-`, starting with a letter.
    pub name: String,
    /// The app's language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// The crate's folder [default: ./NAME]. It must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Take keruj-guest from this folder: a keruj-host checkout's `guest-sdk`
    /// [default: the checkout this binary was built from].
    #[arg(long, value_name = "PATH", conflicts_with = "sdk_git")]
    pub sdk_path: Option<PathBuf>,
    /// Take keruj-guest (and keruj-test, for the tests) from this git
    /// repository (Rust only).
    #[arg(long, value_name = "URL")]
    pub sdk_git: Option<String>,
}

/// Where the generated crate takes keruj-guest and, for its tests, keruj-test.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Folders on this machine (canonical paths).
    Path { sdk: PathBuf, harness: PathBuf },
    /// A git repository holding both crates.
    Git(String),
}

/// What `keruj-host new` is about to make.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The app id and crate name.
    pub name: String,
    /// The app's language.
    pub lang: Lang,
    /// The crate's folder.
    pub dir: PathBuf,
    /// The SDK's origin.
    pub source: Source,
    /// A `Cargo.lock` to start from: the checkout's, so that the crate
    /// builds with the versions the SDK is tested with (and needs no index
    /// update when they are in cargo's cache).
    pub lock: Option<PathBuf>,
}

/// `keruj-host new`: makes the crate and says what to do next.
pub fn run(args: NewArgs) -> ExitCode {
    let made = plan(&args).and_then(|plan| create(&plan).map(|()| plan));
    match made {
        Ok(plan) => {
            print!("{}", next_steps(&plan));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("keruj-host new: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Checks the arguments and works out the SDK's origin.
pub fn plan(args: &NewArgs) -> anyhow::Result<Plan> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    check_free(&dir)?;
    let (source, lock) = match (&args.sdk_path, &args.sdk_git) {
        (_, Some(url)) => {
            if url.trim().is_empty() {
                bail!("--sdk-git needs the URL of a keruj-host git repository");
            }
            if let Some(why) = args.lang.refuses_git() {
                bail!("{why}");
            }
            (Source::Git(url.trim().to_owned()), None)
        }
        (Some(sdk), None) => path_source(sdk)?,
        (None, None) => path_source(Path::new(CHECKOUT_SDK)).map_err(|error| {
            anyhow::anyhow!(
                "{error:#}\nthis keruj-host was built from a checkout whose guest-sdk/ is not \
                 at {CHECKOUT_SDK} any more: give the SDK with --sdk-path \
                 <keruj-host checkout>/guest-sdk or --sdk-git <repository URL>"
            )
        })?,
    };
    let lock = lock.filter(|_| args.lang == Lang::Rust);
    if let Source::Path { sdk, .. } = &source {
        args.lang.sdk_in(sdk)?;
    }
    Ok(Plan {
        name: args.name.clone(),
        lang: args.lang,
        dir,
        source,
        lock,
    })
}

/// Refuses a name that is not an app id, or that cargo refuses as a crate's.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    const RULE: &str = "1 to 63 of a-z, 0-9, `_` and `-`, starting with a letter";
    if !is_app_name(name) {
        let suggestion: String = name
            .to_lowercase()
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' | '_' | '-' => c,
                _ => '-',
            })
            .collect();
        let suggestion = suggestion.trim_matches(|c| c == '-' || c == '_');
        let hint = match is_app_name(suggestion) && check_name(suggestion).is_ok() {
            true => format!(", such as {suggestion:?}"),
            false => String::new(),
        };
        bail!("{name:?} cannot be an app id: use {RULE}{hint}");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("{name:?} cannot be a crate's name (cargo refuses a leading digit): use {RULE}");
    }
    const RESERVED: &[&str] = &[
        "alloc",
        "core",
        "crate",
        "proc_macro",
        "proc-macro",
        "self",
        "std",
        "super",
        "test",
    ];
    if RESERVED.contains(&name) {
        bail!("{name:?} is the name of a Rust built-in crate or keyword: choose another name");
    }
    Ok(())
}

/// The crate's folder must not exist, or be an empty folder.
fn check_free(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!(
            "{} exists and is not a folder: choose another with --dir",
            dir.display()
        );
    }
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder {}", dir.display()))?;
    if entries.next().is_some() {
        bail!(
            "{} is not empty: nothing was written; choose another folder with --dir, or remove it",
            dir.display()
        );
    }
    Ok(())
}

/// The SDK at `sdk` (a `guest-sdk` folder) and the test harness beside it
/// (or, when there is none, this binary's checkout's).
fn path_source(sdk: &Path) -> anyhow::Result<(Source, Option<PathBuf>)> {
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the SDK folder {} does not exist", sdk.display()))?;
    let manifest = sdk.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "{} has no Cargo.toml: give the guest-sdk folder of a keruj-host checkout",
            sdk.display()
        )
    })?;
    let parsed: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    let name = parsed
        .get("package")
        .and_then(|package| package.get("name"))
        .and_then(toml::Value::as_str);
    if name != Some("keruj-guest") {
        bail!(
            "{} is not the keruj-guest crate: give the guest-sdk folder of a keruj-host checkout",
            sdk.display()
        );
    }
    let checkout = sdk.parent().unwrap_or(&sdk);
    let own_harness = Path::new(CHECKOUT_SDK).join("../keruj-test");
    let harness = [checkout.join("keruj-test"), own_harness]
        .into_iter()
        .find(|harness| harness.join("Cargo.toml").is_file())
        .and_then(|harness| harness.canonicalize().ok())
        .with_context(|| {
            format!(
                "no keruj-test crate beside {} (the app's tests use it): give the guest-sdk \
                 folder of a whole keruj-host checkout, or use --sdk-git",
                sdk.display()
            )
        })?;
    let lock = Some(checkout.join("Cargo.lock")).filter(|lock| lock.is_file());
    Ok((Source::Path { sdk, harness }, lock))
}

/// Fills each `{{key}}` of `template` with its value.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_owned(), |text, (key, value)| {
        text.replace(&format!("{{{{{key}}}}}"), value)
    })
}

/// Every file of the crate: its path inside it and its text.
pub fn files(plan: &Plan) -> anyhow::Result<Vec<(&'static str, String)>> {
    let name = plan.name.as_str();
    let kit = plan.lang.kit();
    let (app_file, test_file) = kit.main_files;
    let mut vars = vec![
        ("name", name.to_owned()),
        ("crate_file", name.replace('-', "_")),
        ("token_env", default_token_env(name)),
        ("language", kit.title.to_owned()),
        ("app_file", app_file.to_owned()),
        ("test_file", test_file.to_owned()),
    ];
    match &plan.source {
        Source::Path { sdk, harness } => {
            let lang_sdk = plan.lang.sdk_in(sdk)?;
            let lang_sdk = lang_sdk.to_str().with_context(|| {
                format!(
                    "{} is not valid UTF-8: the tools cannot use it",
                    lang_sdk.display()
                )
            })?;
            let json_text = |text: String| serde_json::Value::String(text).to_string();
            vars.extend([
                (
                    "sdk_dependency",
                    format!("keruj-guest = {{ path = {} }}", toml_string(sdk)?),
                ),
                (
                    "harness_dependency",
                    format!("keruj-test = {{ path = {} }}", toml_string(harness)?),
                ),
                (
                    "sdk_origin",
                    format!("the keruj-host checkout at {}", sdk.display()),
                ),
                ("js_sdk", json_text(format!("file:{lang_sdk}"))),
                ("py_sdk_sh", sh_quote(lang_sdk)),
                ("py_sdk_literal", json_text(lang_sdk.to_owned())),
            ]);
        }
        Source::Git(url) => {
            let url = toml::Value::String(url.clone()).to_string();
            vars.extend([
                ("sdk_dependency", format!("keruj-guest = {{ git = {url} }}")),
                (
                    "harness_dependency",
                    format!("keruj-test = {{ git = {url} }}"),
                ),
                ("sdk_origin", "a git repository".to_owned()),
            ]);
        }
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Ok(kit
        .files
        .iter()
        .map(|(path, template, _)| (*path, render(template, &vars)))
        .collect())
}

/// `text` as one word for `sh`: single-quoted, each `'` closed and escaped.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// A path as a TOML string (quoted and escaped).
fn toml_string(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8: cargo cannot use it", path.display()))?;
    Ok(toml::Value::String(text.to_owned()).to_string())
}

/// Writes the crate's files into its folder.
pub fn create(plan: &Plan) -> anyhow::Result<()> {
    let files = files(plan)?;
    eprintln!("Creating the app {} in {}", plan.name, plan.dir.display());
    for (path, text) in &files {
        let target = plan.dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    if files.iter().any(|(path, _)| *path == "scripts/build") {
        make_executable(&plan.dir.join("scripts/build"))?;
    }
    if let Some(lock) = &plan.lock {
        std::fs::copy(lock, plan.dir.join("Cargo.lock"))
            .with_context(|| format!("cannot copy {}", lock.display()))?;
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// What `new` prints once the crate is there: the commands that matter.
pub fn next_steps(plan: &Plan) -> String {
    let name = &plan.name;
    let dir = plan.dir.canonicalize().unwrap_or_else(|_| plan.dir.clone());
    let kit = plan.lang.kit();
    let mut files: Vec<(&str, &str)> = kit
        .files
        .iter()
        .filter_map(|(file, _, note)| Some((*file, (*note)?)))
        .collect();
    if plan.lock.is_some() {
        files.push((
            "Cargo.lock",
            "the versions this keruj-host checkout is tested with",
        ));
    }
    let mut text = format!(
        "Created the {} app {name} in {}:\n",
        kit.title,
        dir.display()
    );
    for (file, note) in files {
        text.push_str(&format!("  {file:<24}{}\n", note.replace("<name>", name)));
    }
    let serve = format!(
        "{}=dev-token keruj-host serve --plugins plugins --data data",
        default_token_env(name)
    );
    let steps = kit
        .build
        .iter()
        .map(|(command, note)| (command.to_string(), *note));
    let steps = steps.chain([
        (serve, "serves it on http://127.0.0.1:8080"),
        (
            kit.test.to_owned(),
            "runs the app in the keruj-host on PATH (or $KERUJ_HOST_BIN)",
        ),
    ]);
    text.push_str(&format!("\nNext:\n  cd {}\n", dir.display()));
    for (command, note) in steps {
        let note = note.replace("<name>", name);
        text.push_str(&match command.len() < 36 {
            true => format!("  {command:<36}# {note}\n"),
            false => format!("  {command}  # {note}\n"),
        });
    }
    if let Source::Path { sdk, .. } = &plan.source {
        text.push_str(&tools_hint(plan.lang, sdk));
    }
    text.push_str(&binary_hint(
        on_path("keruj-host"),
        std::env::current_exe().ok().as_deref(),
    ));
    text
}

/// What to install first when the language's build tools are missing: the
/// JavaScript SDK's componentize-js (in the checkout's node_modules) or
/// componentize-py; the checkout's `scripts/install-guest-tools` installs both.
fn tools_hint(lang: Lang, guest_sdk: &Path) -> String {
    let missing = match lang {
        Lang::Rust => return String::new(),
        Lang::Js | Lang::Ts => !guest_sdk
            .join("js/node_modules/@bytecodealliance/componentize-js/package.json")
            .is_file(),
        Lang::Python => !on_path("componentize-py"),
    };
    if !missing {
        return String::new();
    }
    let tool = match lang {
        Lang::Python => "componentize-py",
        _ => "componentize-js",
    };
    let script = guest_sdk.join("../scripts/install-guest-tools");
    let script = script.canonicalize().unwrap_or(script);
    format!(
        "\nThe build needs {tool}, which is not installed. Once:\n  {}\n",
        script.display()
    )
}

/// What to do when `keruj-host` is not on `PATH`: the app's `cargo test`
/// runs the binary found there (or named by `KERUJ_HOST_BIN`), and an author
/// who ran this one from a checkout's `target/` would otherwise learn it at
/// the first test.
pub fn binary_hint(on_path: bool, this: Option<&Path>) -> String {
    if on_path || std::env::var_os("KERUJ_HOST_BIN").is_some() {
        return String::new();
    }
    let this = this.map_or_else(|| "/path/to/keruj-host".into(), |p| p.display().to_string());
    format!(
        "\nNo keruj-host is on PATH, and the tests run one. Install it:\n  \
         cargo install --locked --path <keruj-host checkout>/host\n\
         or name this one:\n  \
         export KERUJ_HOST_BIN={this}\n"
    )
}

/// Whether `program` is a file in one of `PATH`'s folders.
fn on_path(program: &str) -> bool {
    let file = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|folder| folder.join(&file).is_file())
}

#[cfg(test)]
mod tests;
