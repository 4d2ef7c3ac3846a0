//! The host: the apps, the runtime, the storage and the dispatcher that
//! joins them, started together and behind one cheap handle.

use std::sync::Arc;

use crate::apps::reload::{self, Reloader};
use crate::apps::{self, Apps};
use crate::capabilities::Services;
use crate::dispatch::{AppHealth, Budget, DispatchError, Dispatcher, Reply, WebhookUrls};
use crate::metrics::Metrics;
use crate::runtime::Runtime;
use crate::settings::{DEFAULT_PUBLIC_URL, HostConfig};
use crate::storage::Storage;
use crate::triggers;
use crate::triggers::webhooks::Webhooks;

/// A running keruj-host. Clone it freely: clones share everything.
///
/// Build one with [`Host::start`], then either [`serve`](crate::server::serve)
/// it over HTTP, mount [`server::service`](crate::server::service) in your
/// own hyper server, or call [`Host::dispatch`] yourself.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    dispatcher: Dispatcher,
    /// The dispatcher with what webhook deliveries share (rates, turns).
    webhooks: Webhooks,
    apps: Arc<Apps>,
    /// Follows the plugins folder for as long as the host lives.
    reloader: Arc<Reloader>,
    storage: Arc<Storage>,
    metrics: Arc<Metrics>,
    /// `true` once every app of the first scan is loaded or its problem known.
    loaded: tokio::sync::watch::Receiver<bool>,
    /// Delivers sidecar schedules for as long as the host lives.
    _scheduler: StopOnDrop,
}

/// A background task stopped with its owner.
struct StopOnDrop(tokio::task::JoinHandle<()>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether the host can take traffic: see [`Host::readiness`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Why the store did not answer, if it did not.
    pub store_problem: Option<String>,
    /// Whether apps found at start are still being compiled.
    pub loading: bool,
    /// Which ones (their first compile is not done yet).
    pub compiling: Vec<String>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.store_problem.is_none() && !self.loading
    }
}

impl Host {
    /// Opens the storage (creating the identity on first start), builds the
    /// engine and loads the plugins of the folder, then follows the folder
    /// (unless [`HostConfig::watch`] is off). Compiled plugins are cached in
    /// `DATA/cache/`, so a restart does not compile them again.
    ///
    /// It returns once the plugins found in the compile cache are loaded; the
    /// others compile in the background, one at a time, and serve as each is
    /// ready (their health says `compiling` until then). [`Host::loaded`]
    /// waits for them all.
    pub async fn start(config: HostConfig) -> anyhow::Result<Host> {
        let identity = config.identity_path();
        let storage = Storage::connect(&config.store, &config.data_dir, &identity).await?;
        let storage = Arc::new(storage);
        let mut services = Services::new(storage.clone(), config.keruj_api.clone())?;
        services.outbound_override = config.outbound_override.clone();
        services.min_schedule_interval = config.min_schedule_interval;
        services.webhook_urls = Arc::new(WebhookUrls::new(
            storage.derived_key("webhook ids"),
            config.public_url.as_deref().unwrap_or(DEFAULT_PUBLIC_URL),
        ));
        let services = Arc::new(services);
        let runtime = match &config.function_cache {
            Some(dir) => Runtime::with_function_cache(services.clone(), dir).or_else(|error| {
                tracing::warn!("{error:#}; every function compiles");
                Runtime::new(services)
            })?,
            None => Runtime::new(services)?,
        };
        let runtime = runtime.with_cache(config.data_dir.join("cache"));
        // Watch before the scan: whatever changes during start-up is in the
        // watcher's queue and reloads once the host is up.
        let watching = match config.watch {
            true if config.plugins_dir.is_dir() => reload::watch(&config.plugins_dir)
                .inspect_err(|error| {
                    tracing::error!(
                        "cannot watch {}: {error:#}; hot reload is off, restart to pick up changes",
                        config.plugins_dir.display()
                    )
                })
                .ok(),
            // Not watched when off, or when missing (the scan says so).
            _ => None,
        };
        let (apps, to_compile) = apps::load_folder(&runtime, &config.plugins_dir).await?;
        match to_compile.is_empty() {
            true => tracing::info!(apps = ?apps.names(), "plugins loaded"),
            false => tracing::info!(
                apps = ?apps.names(), compiling = ?to_compile,
                "plugins loaded from the compile cache; compiling the others in the background"
            ),
        }
        let apps = Arc::new(apps);
        if let Some(cache) = runtime.cache() {
            cache.retain(&apps.digests());
        }
        let mut metrics = Metrics::new();
        storage.metrics().register(metrics.registry_mut());
        for name in apps.names() {
            if let Some(serving) = apps.get(&name).and_then(|entry| entry.serving) {
                metrics.serving(&name, None, Some(&serving.plugin.digest));
            }
        }
        let metrics = Arc::new(metrics);
        let reloader = Reloader::new(
            apps.clone(),
            runtime.clone(),
            metrics.clone(),
            config.plugins_dir.clone(),
            watching,
        );
        let (all_loaded, loaded) = tokio::sync::watch::channel(to_compile.is_empty());
        if !to_compile.is_empty() {
            let reloader = Arc::downgrade(&reloader);
            tokio::spawn(async move {
                for app in to_compile {
                    let Some(reloader) = reloader.upgrade() else {
                        return;
                    };
                    reloader.reload(&app).await;
                }
                let _ = all_loaded.send(true);
            });
        }
        let dispatcher = Dispatcher::new(
            apps.clone(),
            runtime,
            storage.clone(),
            metrics.clone(),
            Budget::new(config.background_concurrency),
        );
        let scheduler = StopOnDrop(triggers::schedules::start(dispatcher.clone()));
        let webhooks = Webhooks::new(dispatcher.clone(), config.webhook_dedup_window);
        Ok(Host {
            inner: Arc::new(Inner {
                config,
                dispatcher,
                webhooks,
                apps,
                reloader,
                storage,
                metrics,
                loaded,
                _scheduler: scheduler,
            }),
        })
    }

    /// Handles one event for `app` (the Keruj lifecycle, see
    /// [`crate::dispatch`]), for callers that authenticated it themselves.
    pub async fn dispatch(
        &self,
        app: &str,
        body: &[u8],
        request_id: &str,
    ) -> Result<Reply, DispatchError> {
        let app = self.inner.dispatcher.app(app)?;
        self.inner.dispatcher.dispatch(&app, body, request_id).await
    }

    /// The dispatcher every trigger calls.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.inner.dispatcher
    }

    /// What webhook deliveries go through: the dispatcher with their rate
    /// limits, ordered keys' turns and pruning of delivery ids.
    pub fn webhooks(&self) -> &Webhooks {
        &self.inner.webhooks
    }

    /// The live status of one app; `None` for an unknown app.
    pub async fn health(&self, app: &str) -> Option<AppHealth> {
        self.inner.dispatcher.health(app).await
    }

    /// Whether the store answers a read and every app found at start is
    /// loaded or its problem known (an app that cannot load is known, not
    /// pending: the host is ready without it).
    pub async fn readiness(&self) -> Readiness {
        let store_problem = self
            .inner
            .storage
            .ping()
            .await
            .err()
            .map(|error| format!("the store does not answer: {error:#}"));
        let loading = !*self.inner.loaded.borrow();
        let compiling = match loading {
            false => Vec::new(),
            true => (self.inner.apps.names().into_iter())
                .filter(|name| {
                    (self.inner.apps.get(name)).is_some_and(|entry| entry.is_compiling())
                })
                .collect(),
        };
        Readiness {
            store_problem,
            loading,
            compiling,
        }
    }

    /// Reads `app`'s files in the plugins folder again, as the watcher does
    /// when they change: the new version serves once compiled; one that
    /// cannot load leaves the old one serving, with a `problem`; a deleted
    /// `.wasm` unloads the app. For embedders with [`HostConfig::watch`] off.
    pub async fn reload(&self, app: &str) {
        self.inner.reloader.reload(app).await
    }

    /// Waits until every plugin found at start is loaded or its problem is
    /// known (the background compiles of [`Host::start`] are done).
    pub async fn loaded(&self) {
        let mut loaded = self.inner.loaded.clone();
        let _ = loaded.wait_for(|done| *done).await;
    }

    /// The configuration the host started with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The ids of the apps the host knows, loaded or not.
    pub fn app_names(&self) -> Vec<String> {
        self.inner.apps.names()
    }

    /// What Prometheus scrapes (see [`crate::metrics`]).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The store, for tools that read or seed what apps hold (the test
    /// harness).
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Flushes the database; the server calls it on shutdown.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.inner.storage.flush().await
    }
}
