//! What an operator's Prometheus scrapes: events per app by class and
//! status, event latency, plugin failures, busy refusals, reloads and their
//! compile times, the version each app serves, open connections and the
//! build. Served as text (OpenMetrics, which Prometheus reads) at
//! `GET /metrics` on a separate admin listener (`crate::server::admin`),
//! never on the public port: Keruj's requests and the operator's scrapes do
//! not mix. A leaf: the dispatcher and the reloader report into it, and it
//! knows nothing of them.
//!
//! Every label value is bounded: app ids (bounded by the plugins folder),
//! an event *class* (never the event name a body carries), a status code,
//! a fixed set of kinds. No company id, no request id.

mod triggers;

pub use triggers::{Delivery, TriggerMetrics};

use std::sync::OnceLock;
use std::time::Duration;

use keruj_guest::event::{CONFIGURE, INSTALL, UNINSTALL, UPDATE};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

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
    /// A run the host started on a sidecar schedule.
    scheduled,
    /// A webhook delivery from a third party.
    webhook,
    /// A body that is not a Keruj event (400).
    invalid,
}

impl Class {
    /// How many classes there are.
    const COUNT: usize = Class::webhook as usize + 1;

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
    answered: [OnceLock<Counter>; Class::COUNT],
}

/// Why an event got no successful answer, as the metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The HTTP status the event was answered with.
    pub status: u16,
    pub kind: FailureKind,
}

/// What the metrics tell apart among failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The app's concurrency limit was full (`busy_refusals`).
    Busy,
    /// The plugin let the event down (`plugin_errors`).
    Plugin(PluginError),
    /// Anything else: counted by its status alone.
    Other,
}

/// How a plugin let an event down.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum PluginError {
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

/// The host's metrics; one per host, updated where things happen.
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
    /// Scheduled runs and webhook deliveries.
    pub triggers: TriggerMetrics,
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
        let triggers = TriggerMetrics::register(&mut registry);
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
            triggers,
        }
    }

    /// The registry, for other parts' metrics (the store's) to join before
    /// the host starts serving.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// One event's end: its class, its outcome and how long it took. A
    /// success (the common case) goes through the app's own handles in
    /// `handles`, made on its first event: no label set built, hashed or
    /// looked up per event.
    pub fn event(
        &self,
        app: &str,
        handles: &AppMetrics,
        class: Class,
        result: Result<(), Failure>,
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
        match error.kind {
            FailureKind::Busy => {
                self.busy
                    .get_or_create(&AppLabels { app: app.clone() })
                    .inc();
            }
            FailureKind::Plugin(kind) => {
                let labels = PluginErrorLabels {
                    app: app.clone(),
                    kind,
                };
                self.plugin_errors.get_or_create(&labels).inc();
            }
            FailureKind::Other => {}
        }
        let labels = EventLabels {
            app,
            class,
            status: error.status,
        };
        self.events.get_or_create(&labels).inc();
    }

    /// A reload's end, and how long its compile took.
    pub fn reload(&self, app: &str, result: ReloadResult, took: Duration) {
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
    pub fn serving(&self, app: &str, old: Option<&str>, new: Option<&str>) {
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
    pub fn connection(&self) -> OpenConnection {
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
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
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
        let not_installed = Failure {
            status: 409,
            kind: FailureKind::Other,
        };
        metrics.event(
            "hello",
            &handles,
            Class::configure,
            Err(not_installed),
            took,
        );
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
