//! `keruj-host dev`: a normal host plus a web page that plays Keruj.
//!
//! A plugin author needs to see their forms without a Keruj account. The
//! dev command starts the same [`Host`] as `serve` (with a temporary data
//! folder unless one is given) and serves, beside the host's own routes, a
//! console at `/` that installs, configures, renders every reply form as
//! Keruj would, submits it, sends custom events and uninstalls; with the
//! event log (the plugin's log lines from [`Capture`]) and the app's health.
//!
//! It is for a developer's machine: loopback only unless `--allow-remote`,
//! and `serve` never serves it. Apps without a token get a generated one
//! (see [`generate_tokens`]) so that nothing has to be set up first; the
//! console's own API posts events through [`Host::dispatch`], so the browser
//! never holds a token.

mod answer_outbound;
pub mod capture;
mod data;
mod made;
mod triggers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

pub use capture::{Capture, LogLine};

use crate::cli::send::{build_body, event_name};
use crate::dispatch::{Reply, new_request_id};
use crate::server::accept::{self, Limits};
use crate::settings::{AppSettings, DEFAULT_HEADER_TIMEOUT, is_app_name};
use crate::{Host, HostConfig};

/// Where the console listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// The largest body the console's own API reads.
const MAX_API_BODY: usize = 1024 * 1024;
/// How long requests in flight may take to finish at shutdown.
const GRACE: Duration = Duration::from_secs(5);

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
const CONSOLE_JS: &str = include_str!("assets/console.js");

/// What `keruj-host dev` was asked for.
#[derive(Debug, Clone)]
pub struct DevOptions {
    pub plugins: PathBuf,
    /// `None`: a temporary folder, deleted on exit.
    pub data: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Accept a listen address other than loopback.
    pub allow_remote: bool,
    /// Post every outbound call of the apps, and every Keruj API call, to
    /// this URL for a test to answer (see [`answer_outbound`]).
    pub answer_outbound: Option<String>,
    /// Keruj's GraphQL API [default: Keruj's own].
    pub keruj_api_url: Option<String>,
    /// Where compiled functions are kept across runs (see
    /// [`crate::runtime::function_cache`]).
    pub function_cache: Option<PathBuf>,
}

/// Runs the host and the console until `shutdown` completes.
pub async fn run(
    options: DevOptions,
    capture: Capture,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        options.allow_remote || options.listen.ip().is_loopback(),
        "{} is not a loopback address: the dev console plays Keruj for anyone who reaches it; \
         listen on 127.0.0.1 (the default) or add --allow-remote",
        options.listen
    );
    anyhow::ensure!(
        options.plugins.is_dir(),
        "the plugins folder {} does not exist: build your app and pass its folder with --plugins",
        options.plugins.display()
    );
    // Kept alive to the end: dropping it deletes the folder.
    let (data, _temporary) = match options.data {
        Some(data) => (data, None),
        None => {
            let dir = tempfile::Builder::new().prefix("keruj-dev-").tempdir()?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    for (app, variable) in generate_tokens(&options.plugins) {
        println!("keruj-host dev: {app} has no token; {variable} is set to a generated one");
    }
    // Bound first: webhook URLs point at the console, which serves `/hooks/`.
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let mut config = HostConfig::new(&options.plugins, &data);
    config.public_url = Some(format!("http://{}", listener.local_addr()?));
    if let Some(url) = &options.answer_outbound {
        config.outbound_override = Some(answer_outbound::forward_to(url)?);
    }
    if let Some(url) = options.keruj_api_url {
        config.keruj_api.url = url;
    }
    config.function_cache = options.function_cache;
    let host = Host::start(config).await?;
    // Read by the author and by the tests, as `serve`'s line.
    println!(
        "keruj-host dev console listening on http://{}/",
        listener.local_addr()?
    );
    let loading = host.clone();
    tokio::spawn(async move {
        loading.loaded().await;
        println!("keruj-host apps loaded: {}", loading.app_names().len());
    });
    let console = Console {
        host,
        capture,
        reveal_secrets: options.listen.ip().is_loopback(),
    };
    accept(console, listener, shutdown).await
}

/// Sets a generated token for every app of `plugins` whose token variable
/// (its sidecar's `token_env`, else `KERUJ_APP_TOKEN_<APP>`) is not set,
/// so that health says ok and `curl`/`send` work as they would in
/// production. Returns the apps and variables it set. An app added to the
/// folder later, while the console runs, gets none: restart `dev` for it.
pub fn generate_tokens(plugins: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(plugins) else {
        return Vec::new();
    };
    let mut set = Vec::new();
    let mut apps: Vec<String> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "wasm").then_some(())?;
            Some(path.file_stem()?.to_str()?.to_owned())
        })
        .filter(|app| is_app_name(app))
        .collect();
    apps.sort();
    for app in apps {
        let Ok(settings) = AppSettings::load(&app, &plugins.join(format!("{app}.toml"))) else {
            continue; // Its health says why it does not load.
        };
        if settings.token.is_none() {
            let token = format!("kj_dev_token_{}", uuid::Uuid::new_v4().simple());
            // SAFETY: called before `Host::start`, while the runtime's other
            // threads are idle and nothing else reads or writes the
            // environment.
            unsafe { std::env::set_var(&settings.token_source, token) };
            set.push((app, settings.token_source));
        }
    }
    set
}

/// The host and the log lines, behind the console's routes.
#[derive(Clone)]
struct Console {
    host: Host,
    capture: Capture,
    /// Whether `/_dev/api/data` shows secrets: only to this machine, never
    /// on an address `--allow-remote` opened to others.
    reveal_secrets: bool,
}

/// Serves the console (and the host's routes behind it) until `shutdown`.
async fn accept(
    console: Console,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let limits = Limits {
        max_connections: crate::server::default_max_connections(),
        header_timeout: DEFAULT_HEADER_TIMEOUT,
        drain_timeout: GRACE,
    };
    let serving = console.clone();
    let handler = move |request| {
        let console = serving.clone();
        async move { console.handle(request).await }
    };
    accept::accept(listener, limits, handler, || (), shutdown).await;
    console.host.flush().await
}

impl Console {
    /// The console's pages and API under `/_dev/`, the page itself at `/`,
    /// and every other path to the host's own routes.
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        match (request.method(), path.as_str()) {
            (&Method::GET, "/" | "/_dev" | "/_dev/") => asset(INDEX_HTML, "text/html"),
            (&Method::GET, "/_dev/console.css") => asset(CONSOLE_CSS, "text/css"),
            (&Method::GET, "/_dev/console.js") => asset(CONSOLE_JS, "text/javascript"),
            (&Method::GET, "/_dev/api/apps") => json(StatusCode::OK, &self.apps().await),
            (&Method::POST, "/_dev/api/send") => match read_json(request).await {
                Ok(send) => self.send(send).await,
                Err(message) => json(StatusCode::BAD_REQUEST, &json!({ "error": message })),
            },
            (&Method::GET, "/_dev/api/triggers") => {
                let query = request.uri().query().unwrap_or_default();
                let (app, company) = triggers::query_pair(query);
                self.triggers(&app, &company).await
            }
            (&Method::POST, "/_dev/api/run-schedule") => match read_json(request).await {
                Ok(run) => self.run_schedule(run).await,
                Err(message) => json(StatusCode::BAD_REQUEST, &json!({ "error": message })),
            },
            (&Method::POST, "/_dev/api/deliver") => match read_json(request).await {
                Ok(deliver) => self.deliver(deliver).await,
                Err(message) => json(StatusCode::BAD_REQUEST, &json!({ "error": message })),
            },
            (&Method::GET, "/_dev/api/data") => {
                self.data(request.uri().query().unwrap_or_default()).await
            }
            (&Method::PUT | &Method::POST, "/_dev/api/data") => match read_json(request).await {
                Ok(set) => self.set_data(set).await,
                Err(message) => json(StatusCode::BAD_REQUEST, &json!({ "error": message })),
            },
            // Writes what the store holds to disk now, so that a test can
            // look through the data folder's files (is a secret in plain text?).
            (&Method::POST, "/_dev/api/flush") => match self.host.flush().await {
                Ok(()) => json(StatusCode::OK, &json!({})),
                Err(error) => json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"error": format!("{error:#}")}),
                ),
            },
            (_, path) if path == "/" || path.starts_with("/_dev") => json(
                StatusCode::NOT_FOUND,
                &json!({"error": "no such console route"}),
            ),
            _ => crate::server::handle(&self.host, request).await,
        }
    }

    /// `GET /_dev/api/apps`: every app with its health and serving version,
    /// which the page polls to say when a rebuilt `.wasm` serves.
    async fn apps(&self) -> Value {
        let mut apps = Vec::new();
        for app in self.host.app_names() {
            let Some(health) = self.host.health(&app).await else {
                continue; // Unloaded between the two calls.
            };
            apps.push(json!({
                "app": app,
                "ok": health.ok,
                "version": health.version,
                "problem": health.problem,
            }));
        }
        json!({ "apps": apps })
    }

    /// `POST /_dev/api/send`: the event Keruj would send (an install with a
    /// generated `account_api_key`), dispatched, with what came back, how
    /// long it took and what the app logged meanwhile.
    async fn send(&self, send: SendRequest) -> Response<Full<Bytes>> {
        let bad = |message: String| json(StatusCode::BAD_REQUEST, &json!({ "error": message }));
        if !is_app_name(&send.app) {
            return bad(format!("{:?} is not an app id", send.app));
        }
        let company = send.company.trim();
        if company.is_empty() {
            return bad("type a company id".into());
        }
        let event = event_name(send.event.trim());
        let body_text = send.body.map(|body| Value::Object(body).to_string());
        let body = match build_body(event, company, &[], body_text.as_deref()) {
            Ok(body) => body,
            Err(error) => return bad(format!("{error:#}")),
        };
        let bytes = serde_json::to_vec(&body).expect("JSON values serialise");
        let request_id = new_request_id();
        let started = Instant::now();
        let answer = self.host.dispatch(&send.app, &bytes, &request_id).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, reply, error) = match answer {
            Ok(Reply::Done) => (200, Value::Null, Value::Null),
            Ok(Reply::Form(form)) => (200, json!(form), Value::Null),
            Err(error) => (error.status(), Value::Null, error.public_message().into()),
        };
        let (logs, logs_dropped) = self.capture.lines(&request_id);
        json(
            StatusCode::OK,
            &json!({
                "request_id": request_id,
                "app": send.app,
                "event": event,
                "company": company,
                "status": status,
                "ms": (ms * 10.0).round() / 10.0,
                "request": body,
                "reply": reply,
                "error": error,
                "logs": logs,
                "logs_dropped": logs_dropped,
            }),
        )
    }
}

/// The body of `POST /_dev/api/send`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    app: String,
    /// A full event name or `install`, `configure`, `update`, `uninstall`.
    event: String,
    company: String,
    /// More of the event's body, such as a form's `data`.
    #[serde(default)]
    body: Option<Map<String, Value>>,
}

async fn read_json<T: DeserializeOwned>(request: Request<Incoming>) -> Result<T, String> {
    let body = Limited::new(request.into_body(), MAX_API_BODY)
        .collect()
        .await
        .map_err(|e| format!("the body could not be read: {e}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("the body is not what this route takes: {e}"))
}

fn asset(text: &'static str, kind: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&format!("{kind}; charset=utf-8")).expect("a valid header"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
