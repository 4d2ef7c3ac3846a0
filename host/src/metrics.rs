//! What an operator's Prometheus scrapes: events per app by class and
//! status, event latency, plugin failures, busy refusals, reloads and their
//! compile times, the version each app serves, open connections and the
//! build. Served as text (OpenMetrics, which Prometheus reads) at
//! `GET /metrics` on a separate admin listener ([`serve_admin`]), never on
//! the public port: Keruj's requests and the operator's scrapes do not mix.
//!
//! Every label value is bounded: app ids (bounded by the plugins folder),
//! an event *class* (never the event name a body carries), a status code,
//! a fixed set of kinds. No company id, no request id.

use std::convert::Infallible;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use keruj_guest::event::{CONFIGURE, INSTALL, UNINSTALL, UPDATE};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::dispatch::DispatchError;
use crate::host::Host;
use crate::runtime::RunError;

/// The admin listener's default address: loopback, off the public port.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// What `/metrics` answers with (Prometheus reads OpenMetrics text).
const CONTENT_TYPE_OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The kind of Keruj event, from its name: a bounded label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Class {
    install,
    configure,
    update,
    uninstall,
    /// Any other name: form submissions and the app's own events.
    other,
    /// A body that is not a Keruj event (400).
    invalid,
}

impl Class {
    /// The class of an event named `name`.
    pub fn of(name: &str) -> Class {
        match name {
            INSTALL => Class::install,
            CONFIGURE => Class::configure,
            UPDATE => Class::update,
            UNINSTALL => Class::uninstall,
            _ => Class::other,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    app: String,
    class: Class,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    app: String,
}

/// One app's metric handles, kept with the app (see [`Metrics::event`]).
#[derive(Default)]
pub struct AppMetrics(OnceLock<AppHandles>);

/// The series every answered event of an app updates, found once.
struct AppHandles {
    seconds: Histogram,
    /// `events{app, class, status="200"}`, indexed by [`Class`].
    answered: [OnceLock<Counter>; 6],
}

/// How a plugin let an event down.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum PluginError {
    /// It returned an error.
    failed,
    /// It trapped (panic, out of memory, ...).
    crashed,
    /// It ran past its time limit.
    timeout,
    /// Its reply broke the form format.
    invalid_reply,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginErrorLabels {
    app: String,
    kind: PluginError,
}

/// What a reload of an app's files ended in.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReloadResult {
    /// The new version serves.
    loaded,
    /// It could not load; the previous version (if any) keeps serving.
    refused,
    /// Its `.wasm` was deleted.
    unloaded,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    app: String,
    result: ReloadResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    app: String,
    /// The first 12 hex digits of the serving `.wasm`'s SHA-256.
    version: String,
}

/// The host's metrics; one per [`Host`], updated where things happen.
pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    event_seconds: Family<AppLabels, Histogram>,
    plugin_errors: Family<PluginErrorLabels, Counter>,
    busy: Family<AppLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
    compile_seconds: Family<AppLabels, Histogram>,
    versions: Family<VersionLabels, Gauge>,
    open_connections: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("keruj");
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "events",
            "Events answered, by app, event class and HTTP status",
            events.clone(),
        );
        // 1 ms to about 65 s: the plugin's time limit is within.
        let event_seconds = Family::<AppLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 17))
        });
        registry.register(
            "event_duration_seconds",
            "Time from a verified event to its answer (the plugin and the store), by app",
            event_seconds.clone(),
        );
        let plugin_errors = Family::<PluginErrorLabels, Counter>::default();
        registry.register(
            "plugin_errors",
            "Events a plugin failed: kind failed, crashed, timeout or invalid_reply",
            plugin_errors.clone(),
        );
        let busy = Family::<AppLabels, Counter>::default();
        registry.register(
            "busy_refusals",
            "Events refused with 503 because the app ran its concurrency limit",
            busy.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "reloads",
            "Reloads of an app's files (background compiles at start included), by result",
            reloads.clone(),
        );
        // 10 ms to about 160 s: large JavaScript or Python apps compile for tens of seconds.
        let compile_seconds = Family::<AppLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 15))
        });
        registry.register(
            "reload_duration_seconds",
            "Time a reload took to read, compile and check an app's .wasm",
            compile_seconds.clone(),
        );
        let versions = Family::<VersionLabels, Gauge>::default();
        registry.register(
            "app_version",
            "1 for the version each app serves (a prefix of its .wasm's SHA-256)",
            versions.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Connections open on the public listener",
            open_connections.clone(),
        );
        registry.register(
            "build",
            "The keruj-host build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Metrics {
            registry,
            events,
            event_seconds,
            plugin_errors,
            busy,
            reloads,
            compile_seconds,
            versions,
            open_connections,
        }
    }

    /// Adds the store's operation and pool metrics.
    pub(crate) fn register_store(&mut self, store: &crate::storage::StoreMetrics) {
        store.register(&mut self.registry);
    }

    /// One event's end: its class, its outcome and how long it took. A
    /// success (the common case) goes through the app's own handles in
    /// `handles`, made on its first event: no label set built, hashed or
    /// looked up per event.
    pub(crate) fn event(
        &self,
        app: &str,
        handles: &AppMetrics,
        class: Class,
        result: Result<(), &DispatchError>,
        took: Duration,
    ) {
        let handles = handles.0.get_or_init(|| AppHandles {
            seconds: self
                .event_seconds
                .get_or_create(&AppLabels {
                    app: app.to_owned(),
                })
                .clone(),
            answered: Default::default(),
        });
        handles.seconds.observe(took.as_secs_f64());
        let error = match result {
            Ok(()) => {
                // Made on the class's first success, so that /metrics shows
                // only the series that happened, as before.
                let answered = handles.answered[class as usize].get_or_init(|| {
                    let labels = EventLabels {
                        app: app.to_owned(),
                        class,
                        status: 200,
                    };
                    self.events.get_or_create(&labels).clone()
                });
                answered.inc();
                return;
            }
            Err(error) => error,
        };
        let app = app.to_owned();
        let kind = match error {
            DispatchError::Busy(_) => {
                self.busy
                    .get_or_create(&AppLabels { app: app.clone() })
                    .inc();
                None
            }
            DispatchError::Plugin(RunError::Failed(_)) => Some(PluginError::failed),
            DispatchError::Plugin(RunError::Crashed(_)) => Some(PluginError::crashed),
            DispatchError::Plugin(RunError::Timeout(_)) => Some(PluginError::timeout),
            DispatchError::InvalidReply { .. } => Some(PluginError::invalid_reply),
            _ => None,
        };
        if let Some(kind) = kind {
            let labels = PluginErrorLabels {
                app: app.clone(),
                kind,
            };
            self.plugin_errors.get_or_create(&labels).inc();
        }
        let labels = EventLabels {
            app,
            class,
            status: error.status(),
        };
        self.events.get_or_create(&labels).inc();
    }

    /// A reload's end, and how long its compile took.
    pub(crate) fn reload(&self, app: &str, result: ReloadResult, took: Duration) {
        let labels = ReloadLabels {
            app: app.to_owned(),
            result,
        };
        self.reloads.get_or_create(&labels).inc();
        let labels = AppLabels { app: labels.app };
        self.compile_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// `app` now serves the `.wasm` with this SHA-256 (`None`: nothing).
    pub(crate) fn serving(&self, app: &str, old: Option<&str>, new: Option<&str>) {
        let labels = |digest: &str| VersionLabels {
            app: app.to_owned(),
            version: digest[..digest.len().min(12)].to_owned(),
        };
        if let Some(old) = old {
            self.versions.remove(&labels(old));
        }
        if let Some(new) = new {
            self.versions.get_or_create(&labels(new)).set(1);
        }
    }

    /// A connection on the public listener, counted until it is dropped.
    pub(crate) fn connection(&self) -> OpenConnection {
        self.open_connections.inc();
        OpenConnection(self.open_connections.clone())
    }

    /// Everything, as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// One open connection; dropping it lowers the gauge.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `GET /metrics` on `listener` (anything else: 404) until
/// `shutdown` completes. Scrapes are small and rare: no connection bound
/// beyond the header timeout.
pub async fn serve_admin(
    host: Host,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "admin listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let header_timeout = host.config().header_timeout;
        let host = host.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let host = host.clone();
            async move {
                let mut response = match (request.method(), request.uri().path()) {
                    (&Method::GET, "/metrics") => {
                        let mut response =
                            Response::new(Full::new(Bytes::from(host.inner.metrics.encode())));
                        response.headers_mut().insert(
                            CONTENT_TYPE,
                            HeaderValue::from_static(CONTENT_TYPE_OPENMETRICS),
                        );
                        response
                    }
                    _ => {
                        let mut response = Response::new(Full::new(Bytes::from_static(
                            b"not found: the admin listener serves GET /metrics\n",
                        )));
                        *response.status_mut() = StatusCode::NOT_FOUND;
                        response
                    }
                };
                response
                    .headers_mut()
                    .insert("cache-control", HeaderValue::from_static("no-store"));
                Ok::<_, Infallible>(response)
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "admin connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_classes_and_statuses_never_names() {
        let metrics = Metrics::new();
        let took = Duration::from_millis(3);
        let handles = AppMetrics::default();
        metrics.event(
            "hello",
            &handles,
            Class::of("application_install"),
            Ok(()),
            took,
        );
        metrics.event(
            "hello",
            &handles,
            Class::of("company-42-secret"),
            Ok(()),
            took,
        );
        let error = DispatchError::NotInstalled;
        metrics.event("hello", &handles, Class::configure, Err(&error), took);
        let text = metrics.encode();
        assert!(
            text.contains(r#"keruj_events_total{app="hello",class="install",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keruj_events_total{app="hello",class="other",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keruj_events_total{app="hello",class="configure",status="409"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keruj_event_duration_seconds_count{app="hello"} 3"#),
            "{text}"
        );
        assert!(!text.contains("company-42"), "{text}");
        assert!(text.contains("keruj_build_info{version="), "{text}");
    }

    #[test]
    fn a_reloaded_app_counts_on_in_the_same_series() {
        let metrics = Metrics::new();
        let took = Duration::from_millis(3);
        let (old, new) = (AppMetrics::default(), AppMetrics::default());
        metrics.event("hello", &old, Class::configure, Ok(()), took);
        metrics.event("hello", &new, Class::configure, Ok(()), took);
        metrics.event(
            "other",
            &AppMetrics::default(),
            Class::configure,
            Ok(()),
            took,
        );
        let text = metrics.encode();
        assert!(
            text.contains(r#"keruj_events_total{app="hello",class="configure",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keruj_event_duration_seconds_count{app="hello"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"keruj_events_total{app="other",class="configure",status="200"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"class="install""#), "{text}");
    }

    #[test]
    fn a_new_version_replaces_the_old_one() {
        let metrics = Metrics::new();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        metrics.serving("hello", None, Some(&a));
        metrics.serving("hello", Some(&a), Some(&b));
        let text = metrics.encode();
        assert!(
            text.contains(r#"keruj_app_version{app="hello",version="bbbbbbbbbbbb"} 1"#),
            "{text}"
        );
        assert!(!text.contains("aaaaaaaaaaaa"), "{text}");
    }
}
