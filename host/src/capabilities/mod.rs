//! Host capabilities: what a plugin may import.
//!
//! Each capability is one module per WIT interface, with the same shape
//! every time (after Spin's "factors"):
//! 1. `add_to_linker` links its interface once, for the whole engine;
//! 2. per-app state comes from the app's sidecar ([`AppSettings`]);
//! 3. a per-instance state struct, built for each event from [`Services`],
//!    the app's settings and [`Bound`], implements the interface's `Host` trait.
//!
//! Because the instance state is bound to the event's app and company, a
//! plugin never names either: it can only reach its own.

pub mod config;
pub mod http;
pub mod keruj_api;
pub mod kv;
pub mod log;
pub mod outbound;
pub mod outbound_override;
mod scope;
pub mod secrets;
pub mod wasi_http;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::{AppSettings, KerujApiConfig};
use crate::plugin_text::LogBudget;
use crate::runtime::bindings_for_capabilities as bindings;
use crate::storage::{Generation, Storage};
pub use scope::Scope;

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
}

impl Services {
    pub fn new(storage: Arc<Storage>, keruj_api: KerujApiConfig) -> anyhow::Result<Services> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("keruj-host/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Services {
            storage,
            client,
            keruj_api,
            outbound_override: None,
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
    log: log::LogState,
    kv: kv::KvState,
    secrets: secrets::SecretsState,
    config: config::ConfigState,
    /// The outbound HTTP grant, for `keruj:plugin/http` and `wasi:http` both.
    http: outbound::Grant,
    keruj_api: keruj_api::KerujApiState,
}

/// What one event brings to its instance besides whom it acts for.
#[derive(Clone, Default)]
pub struct EventScope {
    /// The install the event acts for (`None`: no company, or not installed):
    /// every write checks it is still there.
    pub install: Option<Generation>,
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
        services: &Services,
        settings: &AppSettings,
        bound: Bound,
        event: &EventScope,
    ) -> Self {
        let scope = Scope::new(services.storage.clone(), bound.clone(), event);
        InstanceState {
            wasi: None,
            wasi_http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(settings.limits.memory_bytes)
                .instances(100)
                .build(),
            log: log::LogState::new(bound.clone(), event.log_budget.clone()),
            kv: kv::KvState(scope.clone()),
            secrets: secrets::SecretsState(scope.clone()),
            config: config::ConfigState::new(settings),
            http: outbound::Grant::new(services.client.clone(), settings, bound.clone())
                .answered_by(services.outbound_override.clone()),
            keruj_api: keruj_api::KerujApiState::new(services, scope),
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| WasiCtx::builder().build()),
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.wasi_http,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}

/// Links WASI, `wasi:http`'s outgoing side and every keruj capability into
/// the engine's one linker. Of `wasi:http`, only `types` and
/// `outgoing-handler`: the host never calls a plugin's `incoming-handler`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::log::add_to_linker::<_, HasSelf<log::LogState>>(linker, |s| &mut s.log)?;
    bindings::kv::add_to_linker::<_, HasSelf<kv::KvState>>(linker, |s| &mut s.kv)?;
    bindings::secrets::add_to_linker::<_, HasSelf<secrets::SecretsState>>(linker, |s| {
        &mut s.secrets
    })?;
    bindings::config::add_to_linker::<_, HasSelf<config::ConfigState>>(linker, |s| &mut s.config)?;
    bindings::http::add_to_linker::<_, HasSelf<outbound::Grant>>(linker, |s| &mut s.http)?;
    bindings::keruj_api::add_to_linker::<_, HasSelf<keruj_api::KerujApiState>>(linker, |s| {
        &mut s.keruj_api
    })?;
    Ok(())
}
