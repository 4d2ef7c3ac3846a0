//! What the tests share: the plugins built once, the Keruj event bodies and a
//! running host ([`Host`]).

mod host;
pub mod pgbouncer;
#[path = "../../../host/support/postgres.rs"]
pub mod postgres;
mod raw;
#[path = "../../../host/support/serve.rs"]
pub mod serve;
pub mod stub;
#[path = "../../../host/support/variant.rs"]
pub mod variant;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

pub use host::{Answer, Host, Setup, contains};

/// The store a [`Host`] gets when its [`Setup`] names none: sled, or with
/// `KERUJ_E2E_STORE=postgres` (the second pass of `scripts/test`) a new
/// database of [`shared_postgres`], so that the storage and lifecycle tests
/// run against both stores.
fn default_store() -> Option<String> {
    match std::env::var("KERUJ_E2E_STORE").as_deref() {
        Ok("postgres") => Some(
            shared_postgres()
                .expect("KERUJ_E2E_STORE=postgres needs a PostgreSQL server")
                .new_database(),
        ),
        _ => None,
    }
}

/// One PostgreSQL server for the whole test process, started on first use
/// and stopped when the process exits; `None` (after saying why) when none
/// can be started and none is required ([`postgres::REQUIRE_VARIABLE`]).
pub fn shared_postgres() -> Option<&'static postgres::Postgres> {
    static SHARED: OnceLock<Option<postgres::Postgres>> = OnceLock::new();
    extern "C" fn stop_shared() {
        if let Some(Some(server)) = SHARED.get() {
            server.remove();
        }
    }
    SHARED
        .get_or_init(|| {
            let server = postgres::Postgres::start_or_skip("PostgreSQL tests")?;
            // SAFETY: registers a plain function to run at exit.
            unsafe { libc::atexit(stop_shared) };
            Some(server)
        })
        .as_ref()
}

/// The token the tests give every app that has one.
pub const TOKEN: &str = "e2e-token-7f3a9c";

/// Runs `keruj-host ARGS` to its end, without the caller's `KERUJ_*`
/// variables: its exit status and what it printed (stdout, then stderr).
pub fn run_keruj_host<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(String, String)],
) -> (std::process::ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keruj-host"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("KERUJ_")) {
        command.env_remove(name);
    }
    let output = command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("keruj-host runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Whether to skip tests that need a tool: when the variable `skip`
/// (`KERUJ_SKIP_*`) is `1`, set by hand or by `scripts/test` when it could
/// not install the tool, and said so. Refused (a failure) where `require`
/// (`KERUJ_TEST_REQUIRE_*`, set by CI) says these tests must run.
pub fn skipped(skip: &str, require: &str, tests: &str) -> bool {
    if std::env::var_os(skip).is_none_or(|value| value != "1") {
        return false;
    }
    assert!(
        std::env::var_os(require).is_none(),
        "{skip}=1, but {require} is set: {tests} must run here"
    );
    eprintln!("{skip}=1: {tests} skipped");
    true
}

/// Every plugin crate the tests run, built together.
const PLUGINS: &[&str] = &[
    "hello",
    "hello-v2",
    "faulty",
    "probe",
    "recorder",
    "nova-poshta",
    "wasi-fetch",
];

/// Builds the plugins for `wasm32-wasip2`, once per test run, and returns
/// the folder of the `.wasm` files. A separate target folder keeps clear of
/// the lock `cargo test` holds on `target/`.
fn plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace();
        let target = root.join("target/plugins");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target)
            .args(PLUGINS.iter().flat_map(|name| ["-p", name]))
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the plugins failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        target.join("wasm32-wasip2/release")
    })
}

/// The compiled plugin crate `name` (one of [`PLUGINS`]).
pub fn plugin(name: &str) -> PathBuf {
    assert!(PLUGINS.contains(&name), "{name} is not built for the tests");
    plugins().join(format!("{}.wasm", name.replace('-', "_")))
}

/// The example app `plugins/hello`.
pub fn hello() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| plugin("hello"))
}

/// The test-only app `tests/plugins/faulty`, which misbehaves on request.
pub fn faulty() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| plugin("faulty"))
}

/// A body from `tests/fixtures/keruj-events/<name>.json`, as Keruj sends it.
pub fn fixture(name: &str) -> Value {
    let path = workspace().join(format!("tests/fixtures/keruj-events/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The documented `application_install` (fixture `install.json`) for `company`.
pub fn install(company: &str) -> Value {
    let mut body = fixture("install");
    body["company_id"] = company.into();
    body
}

/// The API key in [`install`]'s body.
pub fn api_key() -> String {
    fixture("install")["account_api_key"]
        .as_str()
        .expect("install.json has an account_api_key")
        .to_owned()
}

/// The event `name` for `company`, as Keruj sends it (no `data`).
pub fn event(name: &str, company: &str) -> Value {
    json!({"event": name, "company_id": company, "account_id": "acc-e2e-1"})
}

/// The user's answers to the form that named `name`.
pub fn submission(name: &str, company: &str, data: Value) -> Value {
    let mut body = event(name, company);
    body["data"] = data;
    body
}

/// The form `hello` shows on `application_configure`.
pub fn hello_form() -> Value {
    json!({
        "reply": "name_submitted",
        "title": "Say hello",
        "description": "Tell us who you are",
        "elements": [{"type": "text", "name": "name", "label": "Your name", "required": true}]
    })
}
