//! [`TestAppBuilder`]: the app's sidecar and handlers, then a host on
//! temporary folders serving it.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::{DEFAULT_COMPANY, KERUJ_API_URL, OutboundRequest, OutboundResponse, TestApp};
use crate::capabilities::outbound_override::{self, OutboundOverride};
use crate::host::Host;
use crate::settings::{HostConfig, is_app_name};
use keruj_test::{Folder, Profile, build_app};

type Handler = Arc<dyn Fn(&OutboundRequest) -> OutboundResponse + Send + Sync>;

/// How a [`TestApp`] is set up: the app's sidecar (`allowed_hosts`,
/// `[config]`, limits) and the handlers that answer its outbound calls.
/// Finish with [`load`](TestAppBuilder::load) or [`build`](TestAppBuilder::build).
#[derive(Default)]
pub struct TestAppBuilder {
    name: Option<String>,
    allowed_hosts: Vec<String>,
    config: BTreeMap<String, String>,
    limits: toml::Table,
    on_http: Option<Handler>,
    on_keruj_api: Option<Handler>,
    target_dir: Option<PathBuf>,
}

impl TestAppBuilder {
    /// The app id (the `.wasm`'s name in the plugins folder). By default the
    /// crate's name for [`build`](Self::build), the file stem for [`load`](Self::load).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Lets the app call `host[:port]`, as the sidecar's `allowed_hosts`
    /// does. A call to any other host is refused before the handler sees it.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// A `[config]` entry the app reads with `config::get`.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Another sidecar setting, as in `<app>.toml`: `timeout_ms`,
    /// `memory_mb`, `http_timeout_ms`, `max_concurrency` (an array of
    /// tables works too, but [`schedule`](Self::schedule) and
    /// [`webhook`](Self::webhook) say it shorter).
    pub fn sidecar(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.limits.insert(key.to_owned(), value.into());
        self
    }

    /// A `[[schedule]]` of `event` every `every` (`"15m"`, `"1h"`): fire its
    /// run with [`TestApp::run_schedule`]. A cron schedule goes through
    /// [`sidecar`](Self::sidecar) with its table.
    pub fn schedule(self, event: &str, every: &str) -> Self {
        let table = [("event", event), ("every", every)];
        self.push_table("schedule", &table)
    }

    /// A `[[webhook]]` `name` delivering `event`, verified per `verify`
    /// (`"none"`, `"github"`, `"standard-webhooks"`, `"stripe"`,
    /// `"shopify"`) with `secret` (`"secret:<name>"`, `"env:<VAR>"`, or
    /// `None` with `"none"`): deliver with [`TestApp::deliver_signed`].
    pub fn webhook<'a>(
        self,
        name: &str,
        event: &str,
        verify: &str,
        secret: impl Into<Option<&'a str>>,
    ) -> Self {
        let mut table = vec![("name", name), ("event", event), ("verify", verify)];
        if let Some(secret) = secret.into() {
            table.push(("secret", secret));
        }
        self.push_table("webhook", &table)
    }

    /// Appends a table to the sidecar's array of tables `key`.
    fn push_table(mut self, key: &str, fields: &[(&str, &str)]) -> Self {
        let table: toml::Table = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), toml::Value::from(*v)))
            .collect();
        let entry = self
            .limits
            .entry(key.to_owned())
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(tables) = entry {
            tables.push(table.into());
        }
        self
    }

    /// Answers the app's outbound HTTP (both `keruj:plugin/http` and
    /// `wasi:http`). Without one, every allowed call gets 502 with a body
    /// saying no handler was given.
    pub fn on_http(
        mut self,
        handler: impl Fn(&OutboundRequest) -> OutboundResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_http = Some(Arc::new(handler));
        self
    }

    /// Answers the app's calls to Keruj's GraphQL API (`keruj::graphql`),
    /// posted to [`KERUJ_API_URL`] with the company's API key in
    /// `x-keruj-api-key`. Without one, they get 502.
    pub fn on_keruj_api(
        mut self,
        handler: impl Fn(&OutboundRequest) -> OutboundResponse + Send + Sync + 'static,
    ) -> Self {
        self.on_keruj_api = Some(Arc::new(handler));
        self
    }

    /// Where [`build`](Self::build) has cargo put the `.wasm`; by default
    /// `keruj-test/` inside the crate's target folder (apart from the folder
    /// a running `cargo test` holds locked).
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// Starts a host serving the component at `wasm`.
    pub fn load(self, wasm: impl AsRef<Path>) -> anyhow::Result<TestApp> {
        let wasm = wasm.as_ref();
        let name = match &self.name {
            Some(name) => name.clone(),
            None => wasm
                .file_stem()
                .and_then(|stem| stem.to_str())
                .with_context(|| format!("{} has no file name", wasm.display()))?
                .to_owned(),
        };
        self.start(name, wasm)
    }

    /// Builds the app crate at `crate_dir` (its folder or its `Cargo.toml`)
    /// with `cargo build --release --target wasm32-wasip2`, then starts a
    /// host serving it, named after the crate.
    pub fn build(self, crate_dir: impl AsRef<Path>) -> anyhow::Result<TestApp> {
        // Release, in a folder of its own inside the crate's target folder.
        let folder = match &self.target_dir {
            Some(dir) => Folder::At(dir),
            None => Folder::WithinCrate("keruj-test"),
        };
        let built = build_app(crate_dir.as_ref(), folder, Profile::Release)?;
        let name = self.name.clone().unwrap_or(built.crate_name);
        self.start(name, &built.wasm)
    }

    fn start(self, name: String, wasm: &Path) -> anyhow::Result<TestApp> {
        anyhow::ensure!(
            is_app_name(&name),
            "{name:?} is not a valid app id (1 to 63 of a-z, 0-9, `_` and `-`, starting with a \
             letter or digit): choose one with TestApp::builder().name(...)"
        );
        let dir = tempfile::Builder::new().prefix("keruj-test-").tempdir()?;
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins)?;
        std::fs::copy(wasm, plugins.join(format!("{name}.wasm"))).with_context(|| {
            format!(
                "cannot read the app {}: build it first (cargo build --release --target \
                 wasm32-wasip2) or use TestApp::build",
                wasm.display()
            )
        })?;
        std::fs::write(plugins.join(format!("{name}.toml")), self.sidecar_text()?)?;

        let requests = Arc::new(Mutex::new(Vec::new()));
        let panicked = Arc::new(Mutex::new(None));
        let mut config = HostConfig::new(&plugins, dir.path().join("data"));
        config.watch = false;
        config.keruj_api.url = KERUJ_API_URL.into();
        config.outbound_override = Some(self.outbound(requests.clone(), panicked.clone()));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let host = runtime.block_on(Host::start(config))?;
        // A test's app is never in the (new) compile cache: wait for it.
        runtime.block_on(host.loaded());
        if let Err(problem) = host.dispatcher().app(&name) {
            anyhow::bail!("the host cannot load {}: {problem}", wasm.display());
        }
        Ok(TestApp {
            host,
            runtime,
            name,
            company: Mutex::new(DEFAULT_COMPANY.into()),
            api_keys: Mutex::new(BTreeMap::new()),
            requests,
            panicked,
            dir,
        })
    }

    fn sidecar_text(&self) -> anyhow::Result<String> {
        let mut sidecar = self.limits.clone();
        let hosts = self.allowed_hosts.iter().cloned().map(toml::Value::from);
        sidecar.insert("allowed_hosts".into(), hosts.collect::<Vec<_>>().into());
        let config = self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()));
        sidecar.insert("config".into(), config.collect::<toml::Table>().into());
        Ok(toml::to_string(&sidecar)?)
    }

    /// One override for the host: Keruj's API to its handler, the rest to
    /// the app's; every request recorded first.
    fn outbound(
        &self,
        requests: Arc<Mutex<Vec<OutboundRequest>>>,
        panicked: Arc<Mutex<Option<String>>>,
    ) -> OutboundOverride {
        let on_http = self.on_http.clone();
        let on_keruj_api = self.on_keruj_api.clone();
        OutboundOverride::new(move |seen| {
            let request = OutboundRequest {
                method: seen.method,
                url: seen.url,
                headers: seen.headers,
                body: seen.body,
            };
            requests
                .lock()
                .expect("requests lock")
                .push(request.clone());
            let (handler, what) = match request.url == KERUJ_API_URL {
                true => (&on_keruj_api, "on_keruj_api"),
                false => (&on_http, "on_http"),
            };
            let answer = match handler {
                Some(handler) => {
                    let answer = panic::catch_unwind(AssertUnwindSafe(|| handler(&request)));
                    answer.unwrap_or_else(|payload| {
                        let message = panic_message(payload.as_ref());
                        let message = format!(
                            "the {what} handler panicked on {} {}: {message}",
                            request.method, request.url
                        );
                        panicked.lock().expect("panic lock").get_or_insert(message);
                        OutboundResponse::text("the test's handler panicked").with_status(500)
                    })
                }
                None => OutboundResponse::text(format!(
                    "keruj_host::testing: the test gave no {what} handler for {} {}",
                    request.method, request.url
                ))
                .with_status(502),
            };
            outbound_override::OutboundResponse {
                status: answer.status,
                headers: answer.headers,
                body: answer.body,
            }
        })
    }
}

/// The text a panic was raised with, if it is text.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    match (
        payload.downcast_ref::<&str>(),
        payload.downcast_ref::<String>(),
    ) {
        (Some(text), _) => text,
        (_, Some(text)) => text,
        _ => "(not a text)",
    }
}
