//! The host: the apps, the runtime and the storage, behind one cheap handle.

use std::sync::Arc;

use crate::apps::{self, Apps};
use crate::config::HostConfig;
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
    pub storage: Storage,
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

impl Host {
    /// Opens the storage (creating the identity on first start), builds the
    /// engine and loads every plugin of the folder.
    pub async fn start(config: HostConfig) -> anyhow::Result<Host> {
        let storage = Storage::open(&config.data_dir, &config.identity_path())?;
        let runtime = Runtime::new()?;
        let apps = apps::load_folder(&runtime, &config.plugins_dir).await?;
        tracing::info!(apps = ?apps.names(), "plugins loaded");
        Ok(Host {
            inner: Arc::new(Inner {
                config,
                runtime,
                apps,
                storage,
            }),
        })
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
        let request_id = crate::http::new_request_id();
        let call = Call {
            app,
            request_id: &request_id,
            limits: serving.settings.limits,
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
