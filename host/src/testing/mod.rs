//! Test a Keruj app with `cargo test`: the app's `.wasm` in an in-process
//! host on temporary folders, events sent as Keruj sends them, typed answers,
//! the company's stored data at hand, and the app's outbound HTTP answered
//! by the test (no network). Behind the `testing` feature.
//!
//! The host is the real one ([`Host::dispatch`]): the same lifecycle, form
//! validation, storage (sled, secrets encrypted with age), limits and
//! outbound grant as in production. Only the network is replaced: every call
//! the app makes (through `keruj:plugin/http` or `wasi:http`) and every
//! Keruj API call goes to the test's handlers, after the app's
//! `allowed_hosts`, call count and size limits are applied
//! ([`crate::capabilities::outbound_override`]).
//!
//! The API blocks (it runs its own Tokio runtime): call it from plain
//! `#[test]` functions, not from inside `#[tokio::test]`. A handler that
//! panics (a failed `assert!` on the request, say) fails the test at the
//! event that made the call; the app meanwhile got a 500 for that call.
//!
//! ```no_run
//! use keruj_host::testing::{OutboundResponse, TestApp};
//! use serde_json::json;
//!
//! // In the app crate's `tests/`, with `keruj-host` (feature `testing`) as a dev-dependency.
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
//! Schedules and webhooks ([`TestAppBuilder::schedule`],
//! [`TestAppBuilder::webhook`]) are driven without waiting:
//! [`TestApp::run_schedule`] fires a run now, [`TestApp::deliver_signed`]
//! posts a delivery signed as the provider would.

mod answer;
mod builder;
mod made;
mod triggers;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::host::Host;
use crate::storage::{Space, Tenant};

pub use builder::TestAppBuilder;
/// The answers and outbound calls, typed as the light `keruj-test` harness
/// types them: one vocabulary for both harnesses.
pub use keruj_test::{Answer, Delivery, MadeSchedule, OutboundRequest, OutboundResponse};

use answer::answer_of;

/// The `account_id` the harness sends with every event.
pub const ACCOUNT_ID: &str = "test-account";

/// The company events go to until [`TestApp::install`] or
/// [`TestApp::use_company`] picks another.
pub const DEFAULT_COMPANY: &str = "test-company";

/// Keruj's API URL as the harness configures it: calls to it go to
/// [`TestAppBuilder::on_keruj_api`], never to Keruj.
pub const KERUJ_API_URL: &str = "https://api.keruj.test/api/graphql";

/// An app served by an in-process host on temporary folders (deleted on
/// drop), driven as Keruj drives it. See the [module](self) for an example.
pub struct TestApp {
    host: Host,
    /// Dropped after `host`: the host's tasks live on it.
    runtime: tokio::runtime::Runtime,
    name: String,
    company: Mutex<String>,
    /// The `account_api_key` generated for each company installed.
    api_keys: Mutex<BTreeMap<String, String>>,
    requests: Arc<Mutex<Vec<OutboundRequest>>>,
    /// The first panic of a handler, raised again by the event that caused it.
    panicked: Arc<Mutex<Option<String>>>,
    dir: tempfile::TempDir,
}

impl TestApp {
    /// Settings first: `allowed_hosts`, `[config]`, handlers.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// Serves the component at `wasm`, with no grant and no handlers.
    pub fn load(wasm: impl AsRef<Path>) -> anyhow::Result<TestApp> {
        TestApp::builder().load(wasm)
    }

    /// Builds the app crate at `crate_dir` for `wasm32-wasip2` and serves it.
    pub fn build(crate_dir: impl AsRef<Path>) -> anyhow::Result<TestApp> {
        TestApp::builder().build(crate_dir)
    }

    /// The app id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host, for what the harness does not cover.
    pub fn host(&self) -> &Host {
        &self.host
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
        let key = format!("kj_test_{}", uuid::Uuid::new_v4().simple());
        self.api_keys
            .lock()
            .expect("keys lock")
            .insert(company.to_owned(), key.clone());
        self.use_company(company);
        self.send(json!({
            "event": keruj_guest::event::INSTALL,
            "company_id": company,
            "account_id": ACCOUNT_ID,
            "account_api_key": key,
        }))
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

    /// Any event `name` for the current company; `body`'s fields (a JSON
    /// object) go beside `event`, `company_id` and `account_id`.
    #[track_caller]
    pub fn event(&self, name: &str, body: Value) -> Answer {
        let Value::Object(fields) = body else {
            panic!("the body of event {name} must be a JSON object, not {body}");
        };
        let mut event = Map::new();
        event.insert("event".into(), name.into());
        event.insert("company_id".into(), self.company().into());
        event.insert("account_id".into(), ACCOUNT_ID.into());
        event.extend(fields);
        self.send(Value::Object(event))
    }

    /// `application_uninstall` for the current company: the host deletes all
    /// it holds for the company, whatever the app answers.
    #[track_caller]
    pub fn uninstall(&self) -> Answer {
        self.event(keruj_guest::event::UNINSTALL, json!({}))
    }

    /// Sends a raw event body, as Keruj would post it.
    #[track_caller]
    pub fn send(&self, body: Value) -> Answer {
        let request_id = crate::dispatch::new_request_id();
        let host = &self.host;
        let body = body.to_string();
        let result = self
            .runtime
            .block_on(host.dispatch(&self.name, body.as_bytes(), &request_id));
        self.raise_handler_panic();
        answer_of(result)
    }

    /// Fails the test at the event whose outbound call made a handler panic.
    #[track_caller]
    fn raise_handler_panic(&self) {
        if let Some(message) = self.panicked.lock().expect("panic lock").take() {
            panic!("{message}");
        }
    }

    /// Every outbound request the app made so far, Keruj API calls included,
    /// in order, as the handlers saw them.
    pub fn requests(&self) -> Vec<OutboundRequest> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// What the app stored in `kv` under `key` for `company`.
    pub fn kv_get(&self, company: &str, key: &str) -> Option<Vec<u8>> {
        self.get(Space::Data, company, key)
    }

    /// [`TestApp::kv_get`] read as JSON (what `kv::set_json` stored).
    #[track_caller]
    pub fn kv_get_json<T: DeserializeOwned>(&self, company: &str, key: &str) -> Option<T> {
        let bytes = self.kv_get(company, key)?;
        Some(serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!("kv {key:?} of {company} is not the JSON expected: {error}")
        }))
    }

    /// Stores `value` in `kv` under `key` for `company`, as the app would.
    /// The company must be installed.
    #[track_caller]
    pub fn kv_set(&self, company: &str, key: &str, value: impl AsRef<[u8]>) {
        self.set(Space::Data, company, key, value.as_ref())
    }

    /// The secret `name` of `company`, decrypted.
    #[track_caller]
    pub fn secret_get(&self, company: &str, name: &str) -> Option<String> {
        let bytes = self.get(Space::Secrets, company, name)?;
        Some(String::from_utf8(bytes).expect("a secret is text"))
    }

    /// Stores the secret `name` for `company` (encrypted, as the app's
    /// `secrets::set` does). The company must be installed.
    #[track_caller]
    pub fn secret_set(&self, company: &str, name: &str, value: &str) {
        self.set(Space::Secrets, company, name, value.as_bytes())
    }

    /// Whether `company` has the app installed.
    pub fn is_installed(&self, company: &str) -> bool {
        let storage = self.host.storage();
        self.runtime
            .block_on(storage.is_installed(Tenant::new(&self.name, company)))
            .expect("the test database reads")
    }

    /// Whether `needle` appears as is anywhere in the database files, after
    /// a flush: a secret never should (it is stored encrypted).
    pub fn stored_in_plaintext(&self, needle: &[u8]) -> bool {
        self.runtime
            .block_on(self.host.flush())
            .expect("the test database flushes");
        let db = self.dir.path().join("data/db");
        keruj_test::plaintext_in(&db, needle)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", db.display()))
    }

    #[track_caller]
    fn get(&self, space: Space, company: &str, key: &str) -> Option<Vec<u8>> {
        let storage = self.host.storage();
        self.runtime
            .block_on(storage.plugin_get(space, Tenant::new(&self.name, company), key))
            .unwrap_or_else(|error| panic!("reading {key:?} of {company} failed: {error}"))
    }

    #[track_caller]
    fn set(&self, space: Space, company: &str, key: &str, value: &[u8]) {
        let storage = self.host.storage();
        let generation = self
            .runtime
            .block_on(storage.generation(Tenant::new(&self.name, company)))
            .expect("the test database reads")
            .unwrap_or_else(|| {
                panic!(
                    "{company} has not installed {}: call install({company:?}) first",
                    self.name
                )
            });
        self.runtime
            .block_on(storage.plugin_set(
                space,
                Tenant::new(&self.name, company),
                generation,
                key,
                value,
            ))
            .unwrap_or_else(|error| panic!("storing {key:?} for {company} failed: {error}"));
    }
}
