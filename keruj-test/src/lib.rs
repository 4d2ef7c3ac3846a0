//! Test a Keruj app with `cargo test` in seconds: the app's `.wasm` served
//! by the `keruj-host` binary you already installed (`keruj-host dev` on a
//! free loopback port, over temporary folders), events sent as Keruj sends
//! them, typed answers, the company's stored data at hand, and the app's
//! outbound HTTP answered by the test (no network).
//!
//! Why a binary and not the `keruj-host` crate: the host embeds wasmtime,
//! whose compilation takes minutes. Installed once, the binary serves every
//! app's tests, so an app's own test build holds only small crates (this
//! one depends on `serde_json`, `base64` and `keruj-guest`'s types).
//!
//! Nothing is mocked: every call goes over loopback to the real host, with
//! the same lifecycle, form validation, storage, limits and outbound grant as
//! in production. Only the network is replaced: every call the app makes
//! (through `keruj:plugin/http` or `wasi:http`) and every Keruj API call
//! goes to the test's handlers, after the app's `allowed_hosts`, call count
//! and size limits are applied (`keruj-host dev --answer-outbound`).
//!
//! The binary is `KERUJ_HOST_BIN` if set, else `keruj-host` on `PATH`; when
//! there is none, the test fails with the command that installs it.
//!
//! ```no_run
//! use keruj_test::{OutboundResponse, TestApp};
//! use serde_json::json;
//!
//! // In the app crate's `tests/`, with `keruj-test` as a dev-dependency.
//! let app = TestApp::builder()
//!     .allow_host("api.example.com")
//!     .config("mode", "test")
//!     .on_http(|request| {
//!         assert_eq!(request.host().as_deref(), Some("api.example.com"));
//!         OutboundResponse::json(json!({"valid": request.json()["key"] == "k-1"}))
//!     })
//!     .build(env!("CARGO_MANIFEST_DIR"))
//!     .unwrap();
//!
//! app.install("company-1").expect_done();
//! let form = app.configure().expect_form();
//! assert_eq!(form.reply, "key_submitted");
//! let again = app.submit("key_submitted", json!({"key": "nope"})).expect_form();
//! assert!(again.errors.contains_key("key"));
//! app.submit("key_submitted", json!({"key": "k-1"})).expect_done();
//! assert_eq!(app.secret_get("company-1", "key").as_deref(), Some("k-1"));
//! assert_eq!(app.requests().len(), 2);
//! ```
//!
//! A handler that panics (a failed `assert!` on the request, say) fails the
//! test at the event that made the call; the app meanwhile got a 500.

mod answer;
mod binary;
mod build;
mod builder;
mod data;
mod made;
mod sidecar;
mod triggers;
mod wire;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use answer::{Answer, Delivery, OutboundRequest, OutboundResponse};
pub use binary::BIN_VAR;
pub use build::{Built, Folder, Profile, build_app};
pub use builder::TestAppBuilder;
pub use data::plaintext_in;
pub use made::MadeSchedule;

/// The `account_id` the harness sends with every event.
pub const ACCOUNT_ID: &str = "test-account";

/// The company events go to until [`TestApp::install`] or
/// [`TestApp::use_company`] picks another.
pub const DEFAULT_COMPANY: &str = "test-company";

/// Keruj's API URL as the harness configures it: calls to it go to
/// [`TestAppBuilder::on_keruj_api`], never to Keruj.
pub const KERUJ_API_URL: &str = "https://api.keruj.test/api/graphql";

/// An app served by `keruj-host dev` on temporary folders (stopped and
/// deleted on drop), driven as Keruj drives it.
pub struct TestApp {
    /// First to drop: the host stops before its folders go.
    running: binary::Running,
    name: String,
    company: Mutex<String>,
    /// The `account_api_key` the install of each company carried.
    api_keys: Mutex<BTreeMap<String, String>>,
    requests: Arc<Mutex<Vec<OutboundRequest>>>,
    /// The first panic of a handler, raised again by the event that caused it.
    panicked: Arc<Mutex<Option<String>>>,
    last_logs: Mutex<Vec<String>>,
    _server: wire::Server,
    dir: TempDir,
}

impl TestApp {
    /// Settings first: `allowed_hosts`, `[config]`, handlers.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// Serves the component at `wasm`, with no grant and no handlers.
    pub fn load(wasm: impl AsRef<Path>) -> Result<TestApp, Error> {
        TestApp::builder().load(wasm)
    }

    /// Builds the app crate at `crate_dir` for `wasm32-wasip2` and serves it.
    pub fn build(crate_dir: impl AsRef<Path>) -> Result<TestApp, Error> {
        TestApp::builder().build(crate_dir)
    }

    /// The app id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address (its `/_dev/api` and the app's routes).
    pub fn url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// The folder of the host's plugins, data and log.
    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    /// The company events go to now.
    pub fn company(&self) -> String {
        self.company.lock().expect("company lock").clone()
    }

    /// Sends the next events for `company`, without installing.
    pub fn use_company(&self, company: impl Into<String>) {
        *self.company.lock().expect("company lock") = company.into();
    }

    /// `application_install` for `company`, with a newly generated
    /// `account_api_key` ([`TestApp::api_key`]); the next events go to it.
    #[track_caller]
    pub fn install(&self, company: &str) -> Answer {
        self.use_company(company);
        self.event(keruj_guest::event::INSTALL, json!({}))
    }

    /// The `account_api_key` [`TestApp::install`] sent for `company`: the
    /// key the app's Keruj API calls must carry.
    pub fn api_key(&self, company: &str) -> Option<String> {
        self.api_keys
            .lock()
            .expect("keys lock")
            .get(company)
            .cloned()
    }

    /// `application_configure` for the current company.
    #[track_caller]
    pub fn configure(&self) -> Answer {
        self.event(keruj_guest::event::CONFIGURE, json!({}))
    }

    /// The user's answers to a form: the event `reply` (the form's `reply`)
    /// with `data`, the object of answers by element name.
    #[track_caller]
    pub fn submit(&self, reply: &str, data: Value) -> Answer {
        self.event(reply, json!({ "data": data }))
    }

    /// `application_uninstall` for the current company: the host deletes all
    /// it holds for the company, whatever the app answers.
    #[track_caller]
    pub fn uninstall(&self) -> Answer {
        self.event(keruj_guest::event::UNINSTALL, json!({}))
    }

    /// Any event `name` for the current company; `body`'s fields (a JSON
    /// object) go beside `event`, `company_id` and `account_id`.
    #[track_caller]
    pub fn event(&self, name: &str, body: Value) -> Answer {
        let Value::Object(mut fields) = body else {
            panic!("the body of event {name} must be a JSON object, not {body}");
        };
        fields
            .entry("account_id")
            .or_insert_with(|| ACCOUNT_ID.into());
        let company = self.company();
        let sent = self.api(
            "POST",
            "/_dev/api/send",
            &json!({"app": self.name, "event": name, "company": company, "body": fields}),
        );
        if let Some(key) = sent["request"]["account_api_key"].as_str() {
            let mut keys = self.api_keys.lock().expect("keys lock");
            keys.insert(company, key.to_owned());
        }
        self.keep_logs(&sent);
        self.raise_handler_panic();
        answer_of(&sent)
    }

    /// Every outbound request the app made so far, Keruj API calls included,
    /// in order, as the handlers saw them.
    pub fn requests(&self) -> Vec<OutboundRequest> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// What the app logged while the host handled the last event, schedule
    /// run or delivery, as `LEVEL message` lines.
    pub fn last_logs(&self) -> Vec<String> {
        self.last_logs.lock().expect("logs lock").clone()
    }

    /// The host's own log (its stderr) so far: where a test looks when an
    /// answer is a bare 500.
    pub fn host_log(&self) -> String {
        self.running.log_tail()
    }

    fn keep_logs(&self, sent: &Value) {
        let lines = sent["logs"].as_array().map_or(&[][..], Vec::as_slice);
        let lines = lines.iter().map(|line| {
            let level = line["level"].as_str().unwrap_or_default();
            format!("{level} {}", line["message"].as_str().unwrap_or_default())
        });
        *self.last_logs.lock().expect("logs lock") = lines.collect();
    }

    /// Fails the test at the event whose outbound call made a handler panic.
    #[track_caller]
    fn raise_handler_panic(&self) {
        if let Some(message) = self.panicked.lock().expect("panic lock").take() {
            panic!("{message}");
        }
    }

    /// One call to the dev host's API; panics, with the host's log, when it
    /// answers anything but 200.
    #[track_caller]
    fn api(&self, method: &str, target: &str, body: &Value) -> Value {
        let (status, answer) = self.try_api(method, target, body);
        if status != 200 {
            panic!(
                "keruj-host refused {method} {target}: {status} {}\nits log:\n{}",
                answer["error"].as_str().unwrap_or(&answer.to_string()),
                self.host_log()
            );
        }
        answer
    }

    /// One call to the dev host's API: its status and JSON answer.
    #[track_caller]
    fn try_api(&self, method: &str, target: &str, body: &Value) -> (u16, Value) {
        let body = match body {
            Value::Null => Vec::new(),
            body => body.to_string().into_bytes(),
        };
        let headers = [("content-type", "application/json")];
        let response = wire::call(self.running.addr, method, target, &headers, &body)
            .unwrap_or_else(|why| panic!("{why}\nthe host's log:\n{}", self.host_log()));
        let answer = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&response.body).into_owned())
        });
        (response.status, answer)
    }

    /// Fails when the host serves no app of this name, with its reason.
    fn check_loaded(&self) -> Result<(), Error> {
        let (_, apps) = self.try_api("GET", "/_dev/api/apps", &Value::Null);
        let apps = apps["apps"].as_array().cloned().unwrap_or_default();
        match apps.iter().find(|app| app["app"] == self.name.as_str()) {
            Some(app) if app["ok"] == true => Ok(()),
            Some(app) => Err(Error::new(format!(
                "keruj-host cannot load {}: {}",
                self.name,
                app["problem"].as_str().unwrap_or("(no reason given)")
            ))),
            None => Err(Error::new(format!(
                "keruj-host does not serve {}; its log:\n{}",
                self.name,
                self.host_log()
            ))),
        }
    }
}

/// `/_dev/api/send`'s answer, typed.
fn answer_of(sent: &Value) -> Answer {
    let status = sent["status"].as_u64().unwrap_or(0) as u16;
    match (status, &sent["reply"]) {
        (200, Value::Null) => Answer::Done,
        (200, form) => match serde_json::from_value(form.clone()) {
            Ok(form) => Answer::Form(form),
            Err(error) => {
                panic!("the host answered a form keruj-test cannot read ({error}): {form}")
            }
        },
        (status, _) => Answer::Error {
            status,
            message: sent["error"].as_str().unwrap_or_default().to_owned(),
        },
    }
}

/// Why a [`TestApp`] could not start: the binary missing, the build failing,
/// the app not loading. Its `Debug` is the message as is, so that
/// `.expect("...")` shows it readably.
pub struct Error(String);

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }

    fn io(doing: &'static str) -> impl Fn(std::io::Error) -> Error {
        move |error| Error(format!("cannot {doing}: {error}"))
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A folder under the system's temporary folder, deleted on drop (a
/// `tempfile` of our own: one crate less in every app's test build).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, Error> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.subsec_nanos());
        let name = format!(
            "keruj-test-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).map_err(Error::io("create a temporary folder"))?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_keruj_reads_them() {
        assert_eq!(
            answer_of(&json!({"status": 200, "reply": null})),
            Answer::Done
        );
        let form = json!({"reply": "next", "title": "T", "elements": []});
        let answer = answer_of(&json!({"status": 200, "reply": form}));
        assert_eq!(answer.expect_form().reply, "next");
        let failed = answer_of(&json!({"status": 504, "reply": null, "error": "too slow"}));
        assert_eq!(failed.expect_error(), (504, "too slow".to_owned()));
    }
}
