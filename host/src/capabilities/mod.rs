//! Host capabilities: what a plugin may import.
//!
//! Each WIT interface is one module here, with the same shape every time
//! (after Spin's "factors"):
//! 1. its `add_to_linker` links the interface into the engine's one linker,
//!    once; [`CAPABILITIES`] lists them all, a line each;
//! 2. per-app state comes from the app's sidecar ([`AppSettings`]) and what
//!    the host shares ([`Services`]);
//! 3. per-instance state is [`InstanceState`], built for each event and bound
//!    to it ([`Scope`]); the module implements its interface's generated
//!    trait on it.
//!
//! Because an instance is bound to the event's app and company, a plugin
//! never names either: it can only reach its own.

pub mod config;
pub mod http;
pub mod keruj_api;
pub mod kv;
pub mod log;
pub mod outbound;
pub mod outbound_override;
pub mod schedules;
mod scope;
pub mod secrets;
mod since_0_1_0;
mod wasi;
pub mod wasi_http;
pub mod webhook_urls;
pub mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::plugin_text::LogBudget;
use crate::settings::{AppSettings, KerujApiConfig};
use crate::storage::{Generation, Storage};
pub use scope::Scope;

/// Links one capability's interfaces into the linker.
type Link = fn(&mut Linker<InstanceState>) -> wasmtime::Result<()>;

/// Every capability a plugin may import, linked once for the whole engine.
/// Of `wasi:http`, only `types` and `outgoing-handler`: the host never calls
/// a plugin's `incoming-handler`. Each `keruj:plugin` version the host
/// serves is linked beside the current one (an app imports one of them).
/// The exports have not changed since 0.1.0 (`types` is the same), so one
/// set of generated exports calls any app; a version that changes them
/// will need a dispatch per version in `runtime`.
pub const CAPABILITIES: &[Link] = &[
    wasi::add_to_linker,
    wasi_http::add_to_linker,
    log::add_to_linker,
    kv::add_to_linker,
    secrets::add_to_linker,
    config::add_to_linker,
    http::add_to_linker,
    keruj_api::add_to_linker,
    schedules::add_to_linker,
    webhooks::add_to_linker,
    since_0_1_0::add_to_linker,
];

/// Links every capability of [`CAPABILITIES`].
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    CAPABILITIES.iter().try_for_each(|link| link(linker))
}

/// What capabilities share across the host: built once at start.
pub struct Services {
    pub storage: Arc<Storage>,
    /// One connection pool for every plugin's outbound calls. It follows no
    /// redirects itself: each hop comes back to the grant ([`outbound`]).
    pub client: reqwest::Client,
    pub keruj_api: KerujApiConfig,
    /// Answers plugins' outbound calls and Keruj API calls instead of the
    /// network: `None` but in tests ([`outbound_override`]).
    pub outbound_override: Option<outbound_override::OutboundOverride>,
    /// What an app's sidecar schedules (and those it makes at run time)
    /// are checked against.
    pub min_schedule_interval: std::time::Duration,
    /// Mints and opens webhook URLs; the host's is keyed from its identity
    /// and names `--public-url`.
    pub webhook_urls: Arc<webhook_urls::WebhookUrls>,
    /// Companies whose made schedules changed here, for the scheduler.
    pub schedule_changes: Arc<schedules::Changes>,
}

impl Services {
    pub fn new(storage: Arc<Storage>, keruj_api: KerujApiConfig) -> anyhow::Result<Services> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("keruj-host/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let webhook_urls = webhook_urls::WebhookUrls::new(
            storage.derived_key("webhook ids"),
            crate::settings::DEFAULT_PUBLIC_URL,
        );
        Ok(Services {
            webhook_urls: Arc::new(webhook_urls),
            schedule_changes: Arc::default(),
            storage,
            client,
            keruj_api,
            outbound_override: None,
            min_schedule_interval: crate::settings::DEFAULT_MIN_SCHEDULE_INTERVAL,
        })
    }
}

/// Whom an instance acts for. Every capability of the instance is bound to it.
#[derive(Debug, Clone)]
pub struct Bound {
    pub app: Arc<str>,
    /// Empty for a health check, which acts for no company.
    pub company: Arc<str>,
    pub request_id: Arc<str>,
}

/// Everything one instance holds; dropped with the instance after the event.
/// Each capability implements its interface on it.
pub struct InstanceState {
    /// WASI with nothing granted: no files, no environment, no sockets, no
    /// stdio. Present because Rust's standard library imports it; built on
    /// the plugin's first WASI call (seeding its random generators and
    /// boxing its clocks and streams cost more than most events' WASI use,
    /// which is none).
    wasi: Option<WasiCtx>,
    /// `wasi:http`'s own state; its requests go through [`InstanceState::http`].
    wasi_http: WasiHttpCtx,
    table: ResourceTable,
    /// Memory, table and instance limits for this event.
    pub limits: StoreLimits,
    /// Whom the instance acts for, and the event's access to the store.
    scope: Scope,
    /// The `[config]` table of the app's sidecar.
    config: Arc<BTreeMap<String, String>>,
    /// The sidecar's `[[webhook]]`s, which minted URLs deliver as.
    webhooks: Arc<[crate::settings::Webhook]>,
    /// The outbound HTTP grant, for `keruj:plugin/http` and `wasi:http` both.
    http: outbound::Grant,
    services: Arc<Services>,
}

/// What one event brings to its instance besides whom it acts for.
#[derive(Clone, Default)]
pub struct EventScope {
    /// The install the event acts for (`None`: no company, or not installed):
    /// every write checks it is still there.
    pub install: Option<Generation>,
    /// A scheduled run's claim: every write checks it still holds, so a run
    /// whose lease ran out (its replica paused, another took the due time
    /// over) cannot write beside the run that replaced it.
    pub lease: Option<Arc<crate::storage::Lease>>,
    /// Raised when the plugin changes stored data, so the caller knows to
    /// flush before it answers.
    pub wrote: Arc<AtomicBool>,
    /// What the event may still log of its plugin's text.
    pub log_budget: Arc<LogBudget>,
    /// Raised when a store call failed because the store is unreachable:
    /// the event is answered 503, not with what the plugin made without it.
    pub store_unreachable: Arc<AtomicBool>,
}

impl InstanceState {
    pub fn new(
        services: &Arc<Services>,
        settings: &AppSettings,
        bound: Bound,
        event: &EventScope,
    ) -> Self {
        InstanceState {
            wasi: None,
            wasi_http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(settings.limits.memory_bytes)
                .instances(100)
                .build(),
            http: outbound::Grant::new(services.client.clone(), settings, bound.clone())
                .answered_by(services.outbound_override.clone()),
            scope: Scope::new(services.storage.clone(), bound, event),
            config: settings.config.clone(),
            webhooks: settings.webhooks.clone(),
            services: services.clone(),
        }
    }
}
