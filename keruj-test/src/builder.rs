//! [`TestAppBuilder`]: the app's sidecar and handlers, then `keruj-host dev`
//! on temporary folders serving it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::binary::{self, Running};
use crate::{
    DEFAULT_COMPANY, Error, Folder, KERUJ_API_URL, OutboundRequest, OutboundResponse, Profile,
    TempDir, TestApp, build, sidecar, wire,
};

type Handler = Arc<dyn Fn(&OutboundRequest) -> OutboundResponse + Send + Sync>;

/// How a [`TestApp`] is set up: the app's sidecar (`allowed_hosts`,
/// `[config]`, limits, schedules, webhooks) and the handlers that answer its
/// outbound calls. Finish with [`load`](Self::load) or [`build`](Self::build).
#[derive(Default)]
pub struct TestAppBuilder {
    name: Option<String>,
    allowed_hosts: Vec<String>,
    config: Map<String, Value>,
    settings: Map<String, Value>,
    on_http: Option<Handler>,
    on_keruj_api: Option<Handler>,
    target_dir: Option<PathBuf>,
    binary: Option<PathBuf>,
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
        self.config.insert(key.into(), Value::String(value.into()));
        self
    }

    /// Another sidecar setting, as in `<app>.toml`: `timeout_ms`,
    /// `memory_mb`, `http_timeout_ms`, `max_concurrency`... (an array of
    /// objects is an array of tables; [`schedule`](Self::schedule) and
    /// [`webhook`](Self::webhook) say those shorter).
    pub fn sidecar(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.settings.insert(key.to_owned(), value.into());
        self
    }

    /// A `[[schedule]]` of `event` every `every` (`"15m"`, `"1h"`): fire its
    /// run with [`TestApp::run_schedule`].
    pub fn schedule(self, event: &str, every: &str) -> Self {
        self.push_table("schedule", json!({"event": event, "every": every}))
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
        let mut table = json!({"name": name, "event": event, "verify": verify});
        if let Some(secret) = secret.into() {
            table["secret"] = secret.into();
        }
        self.push_table("webhook", table)
    }

    fn push_table(mut self, key: &str, table: Value) -> Self {
        let entry = self
            .settings
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(tables) = entry {
            tables.push(table);
        }
        self
    }

    /// Answers the app's outbound HTTP (both `keruj:plugin/http` and
    /// `wasi:http`) that its grant allowed. Without one, such a call gets
    /// 502 with a body saying no handler was given.
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

    /// Where [`build`](Self::build) has cargo put the `.wasm` [default: the
    /// crate's own target folder, whose proc macros the build reuses].
    pub fn target_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(dir.into());
        self
    }

    /// The `keruj-host` binary to run [default: `KERUJ_HOST_BIN`, else the
    /// one on `PATH`].
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Starts a host serving the component at `wasm`.
    pub fn load(self, wasm: impl AsRef<Path>) -> Result<TestApp, Error> {
        let wasm = wasm.as_ref();
        let name = match &self.name {
            Some(name) => name.clone(),
            None => wasm
                .file_stem()
                .and_then(|stem| stem.to_str())
                .ok_or_else(|| Error::new(format!("{} has no file name", wasm.display())))?
                .to_owned(),
        };
        self.start(name, wasm)
    }

    /// Builds the app crate at `crate_dir` (its folder or its `Cargo.toml`)
    /// with `cargo build --target wasm32-wasip2` (a debug build: seconds,
    /// see the `build` module), then starts a host serving it, named after
    /// the crate.
    pub fn build(self, crate_dir: impl AsRef<Path>) -> Result<TestApp, Error> {
        // The binary first: no point building the app without it.
        let binary = self.find_binary()?;
        let folder = self.target_dir.as_deref().map_or(Folder::Crate, Folder::At);
        let built = build::build_app(crate_dir.as_ref(), folder, Profile::Dev)?;
        let name = self.name.clone().unwrap_or(built.crate_name);
        Self {
            binary: Some(binary),
            ..self
        }
        .start(name, &built.wasm)
    }

    fn find_binary(&self) -> Result<PathBuf, Error> {
        match &self.binary {
            Some(path) => Ok(path.clone()),
            None => binary::find(),
        }
    }

    fn start(self, name: String, wasm: &Path) -> Result<TestApp, Error> {
        if !is_app_name(&name) {
            return Err(Error::new(format!(
                "{name:?} is not a valid app id (1 to 63 of a-z, 0-9, `_` and `-`, starting \
                 with a letter or digit): choose one with TestApp::builder().name(...)"
            )));
        }
        let binary = self.find_binary()?;
        let dir = TempDir::new()?;
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).map_err(Error::io("create the plugins folder"))?;
        std::fs::copy(wasm, plugins.join(format!("{name}.wasm"))).map_err(|_| {
            Error::new(format!(
                "cannot read the app {}: build it first (cargo build --target \
                 wasm32-wasip2) or use TestApp::build",
                wasm.display()
            ))
        })?;
        let sidecar = plugins.join(format!("{name}.toml"));
        std::fs::write(&sidecar, self.sidecar_text()).map_err(Error::io("write the sidecar"))?;

        let requests = Arc::new(Mutex::new(Vec::new()));
        let panicked = Arc::new(Mutex::new(None));
        let server = wire::Server::start(self.answerer(requests.clone(), panicked.clone()))
            .map_err(Error::io("listen for the app's outbound calls"))?;
        let running = Running::start(
            &binary,
            &plugins,
            &dir.path().join("data"),
            &dir.path().join("keruj-host.log"),
            &server.url(),
            KERUJ_API_URL,
        )?;
        let app = TestApp {
            running,
            name,
            company: Mutex::new(DEFAULT_COMPANY.into()),
            api_keys: Mutex::new(Default::default()),
            requests,
            panicked,
            last_logs: Mutex::new(Vec::new()),
            _server: server,
            dir,
        };
        app.check_loaded()?;
        Ok(app)
    }

    fn sidecar_text(&self) -> String {
        let mut settings = self.settings.clone();
        settings.insert("allowed_hosts".into(), json!(self.allowed_hosts));
        settings.insert("config".into(), Value::Object(self.config.clone()));
        sidecar::to_toml(&settings)
    }

    /// What the outbound server does with each call the host posts: record
    /// it, hand it to the right handler, send back its answer.
    fn answerer(
        &self,
        requests: Arc<Mutex<Vec<OutboundRequest>>>,
        panicked: Arc<Mutex<Option<String>>>,
    ) -> Arc<wire::Answer> {
        let on_http = self.on_http.clone();
        let on_keruj_api = self.on_keruj_api.clone();
        Arc::new(move |body| {
            let request = match envelope(body) {
                Ok(request) => request,
                Err(why) => return (400, why.into_bytes()),
            };
            requests.lock().expect("requests").push(request.clone());
            let (handler, what) = match request.url == KERUJ_API_URL {
                true => (&on_keruj_api, "on_keruj_api"),
                false => (&on_http, "on_http"),
            };
            let answer = match handler {
                Some(handler) => panic::catch_unwind(AssertUnwindSafe(|| handler(&request)))
                    .unwrap_or_else(|payload| {
                        let message = format!(
                            "the {what} handler panicked on {} {}: {}",
                            request.method,
                            request.url,
                            panic_message(payload.as_ref())
                        );
                        panicked.lock().expect("panic").get_or_insert(message);
                        OutboundResponse::text("the test's handler panicked").with_status(500)
                    }),
                None => OutboundResponse::text(format!(
                    "keruj-test: the test gave no {what} handler for {} {}",
                    request.method, request.url
                ))
                .with_status(502),
            };
            let answer = json!({
                "status": answer.status,
                "headers": answer.headers,
                "body_base64": BASE64.encode(&answer.body),
            });
            (200, answer.to_string().into_bytes())
        })
    }
}

/// The host's rule for an app id (its file name in the plugins folder).
fn is_app_name(name: &str) -> bool {
    let allowed = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-');
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(allowed)
}

/// The call the host posted (see `keruj-host dev --answer-outbound`).
fn envelope(body: &[u8]) -> Result<OutboundRequest, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let headers = value["headers"].as_array().map_or(&[][..], Vec::as_slice);
    let headers = headers
        .iter()
        .filter_map(|pair| Some((pair[0].as_str()?.into(), pair[1].as_str()?.into())))
        .collect();
    let body = BASE64
        .decode(text("body_base64"))
        .map_err(|e| e.to_string())?;
    Ok(OutboundRequest {
        method: text("method"),
        url: text("url"),
        headers,
        body,
    })
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
