//! The host: the apps, the runtime and the storage, behind one cheap handle.

use std::sync::Arc;

use crate::apps::{self, Apps};
use crate::capabilities::Services;
use crate::config::HostConfig;
use crate::metrics::Metrics;
use crate::reload::{self, Reloads};
use crate::runtime::{Call, Runtime};
use crate::storage::Storage;

/// A running keruj-host. Clone it freely: clones share everything.
///
/// Build one with [`Host::start`], then either [`serve`](crate::http::serve)
/// it over HTTP, mount [`Host::service`] in your own hyper server, or call
/// [`Host::dispatch`] yourself.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: HostConfig,
    pub runtime: Runtime,
    pub apps: Apps,
    /// The plugins folder's watcher, alive as long as the host.
    pub reloads: Reloads,
    pub storage: Arc<Storage>,
    /// `true` once every app of the first scan is loaded or its problem known.
    pub loaded: tokio::sync::watch::Receiver<bool>,
    pub metrics: Metrics,
}

/// An app's status for Keruj's status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHealth {
    /// Whether the app can serve events now.
    pub ok: bool,
    /// SHA-256 of the serving `.wasm`, if one is loaded.
    pub version: Option<String>,
    /// Why it cannot serve, or what went wrong with the latest file.
    pub problem: Option<String>,
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
        let compiling = match *self.inner.loaded.borrow() {
            true => Vec::new(),
            false => self
                .inner
                .apps
                .names()
                .into_iter()
                .filter(|name| {
                    self.inner.apps.get(name).is_some_and(|entry| {
                        entry.serving.is_none()
                            && entry.problem.as_deref() == Some(crate::apps::COMPILING)
                    })
                })
                .collect(),
        };
        Readiness {
            store_problem,
            loading: !*self.inner.loaded.borrow(),
            compiling,
        }
    }

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
        let runtime = Runtime::new(Arc::new(services))?.with_cache(config.data_dir.join("cache"));
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
        let (all_loaded, loaded) = tokio::sync::watch::channel(to_compile.is_empty());
        if let Some(cache) = runtime.cache() {
            cache.retain(&apps.digests());
        }
        let (reloads, events) = Reloads::new(watching);
        let mut metrics = Metrics::new();
        metrics.register_store(storage.metrics());
        for name in apps.names() {
            if let Some(serving) = apps.get(&name).and_then(|entry| entry.serving) {
                metrics.serving(&name, None, Some(&serving.plugin.digest));
            }
        }
        let host = Host {
            inner: Arc::new(Inner {
                config,
                runtime,
                apps,
                reloads,
                storage,
                loaded,
                metrics,
            }),
        };
        if !to_compile.is_empty() {
            let host = Arc::downgrade(&host.inner);
            tokio::spawn(async move {
                for app in to_compile {
                    let Some(inner) = host.upgrade() else { return };
                    reload::reload(&inner, &app).await;
                }
                let _ = all_loaded.send(true);
            });
        }
        if let Some(events) = events {
            reload::spawn(Arc::downgrade(&host.inner), events);
            tracing::info!(folder = %host.inner.config.plugins_dir.display(), "following the plugins folder");
        }
        Ok(host)
    }

    /// Reads `app`'s files in the plugins folder again, as the watcher does
    /// when they change: the new version serves once compiled; one that
    /// cannot load leaves the old one serving, with a `problem`; a deleted
    /// `.wasm` unloads the app. For embedders with [`HostConfig::watch`] off.
    pub async fn reload(&self, app: &str) {
        reload::reload(&self.inner, app).await
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

    /// The live status of one app; `None` for an unknown app.
    pub async fn health(&self, app: &str) -> Option<AppHealth> {
        let entry = self.inner.apps.get(app)?;
        let Some(serving) = entry.serving else {
            return Some(AppHealth {
                ok: false,
                version: None,
                problem: entry.problem,
            });
        };
        let version = Some(serving.plugin.digest.clone());
        if let Some(clash) = entry.token_clash {
            return Some(AppHealth {
                ok: false,
                version,
                problem: Some(clash),
            });
        }
        if serving.settings.token.is_none() {
            let problem = format!(
                "no token configured ({} is not set)",
                serving.settings.token_source
            );
            return Some(AppHealth {
                ok: false,
                version,
                problem: Some(problem),
            });
        }
        // Health runs the plugin without a token: it takes a permit of the
        // app's concurrency limit like an event, so a flood of health checks
        // cannot run more instances than the limit either.
        let Ok(_permit) = serving.gate.clone().try_acquire_owned() else {
            return Some(AppHealth {
                ok: false,
                version,
                problem: Some(format!(
                    "busy: {} events already running",
                    serving.settings.max_concurrency
                )),
            });
        };
        let request_id = crate::http::new_request_id();
        let call = Call {
            app,
            request_id: &request_id,
            settings: &serving.settings,
            scope: Default::default(),
        };
        match self.inner.runtime.health(&serving.plugin, &call).await {
            Ok(()) => Some(AppHealth {
                ok: true,
                version,
                problem: entry.problem,
            }),
            Err(error) => Some(AppHealth {
                ok: false,
                version,
                problem: Some(error.to_string()),
            }),
        }
    }

    /// Flushes the database; the server calls it on shutdown.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.inner.storage.flush().await
    }
}
