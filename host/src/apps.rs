//! The apps the host serves: one compiled plugin and its settings per app id,
//! read from the plugins folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

use crate::config::{AppSettings, is_app_name};
use crate::metrics::AppMetrics;
use crate::runtime::{Plugin, Runtime};
use crate::throttle::Throttle;

/// One app, ready to serve: immutable, so a request holds the version it
/// started with even if the folder changes meanwhile.
pub struct App {
    pub name: String,
    pub settings: AppSettings,
    pub plugin: Plugin,
    /// The app's concurrency limit: one permit per event running, at most
    /// `settings.max_concurrency`. An event that finds none left is answered
    /// 503 at once: a slow or stuck app fills its own gate, not the host's
    /// memory, and the other apps are not queued behind it. A reload that
    /// keeps the limit shares the previous version's gate, so the events
    /// still running on the old version count against the new one too.
    pub gate: Arc<Semaphore>,
    /// Busy refusals can come by the thousand: one log line a second.
    pub busy_log: Throttle,
    /// This version's metric series, found on its first event.
    pub metrics: AppMetrics,
}

/// What the host knows of one app id.
#[derive(Clone, Default)]
pub struct AppEntry {
    /// The version that serves, if any loaded.
    pub serving: Option<Arc<App>>,
    /// Why the latest file could not be loaded, if it could not.
    pub problem: Option<String>,
    /// Set by the table when another app reads the same token variable:
    /// either app's token would then pass for the other, so neither serves.
    pub token_clash: Option<String>,
}

impl AppEntry {
    /// The version that may serve events now, or why none may.
    pub fn serving(self) -> Result<Arc<App>, String> {
        match (self.serving, self.token_clash) {
            (_, Some(clash)) => Err(clash),
            (Some(serving), None) => Ok(serving),
            (None, None) => Err(self.problem.unwrap_or_else(|| "not loaded".into())),
        }
    }
}

/// The table of apps, shared by every request.
#[derive(Default)]
pub struct Apps {
    entries: RwLock<HashMap<String, AppEntry>>,
}

impl Apps {
    pub fn get(&self, name: &str) -> Option<AppEntry> {
        self.entries.read().expect("apps lock").get(name).cloned()
    }

    pub fn insert(&self, name: String, entry: AppEntry) {
        let mut entries = self.entries.write().expect("apps lock");
        entries.insert(name, entry);
        find_token_clashes(&mut entries);
    }

    pub fn remove(&self, name: &str) -> Option<AppEntry> {
        let mut entries = self.entries.write().expect("apps lock");
        let removed = entries.remove(name);
        find_token_clashes(&mut entries);
        removed
    }

    /// The SHA-256 of every serving `.wasm` (what the compile cache keeps).
    pub fn digests(&self) -> std::collections::HashSet<String> {
        let entries = self.entries.read().expect("apps lock");
        entries
            .values()
            .filter_map(|entry| Some(entry.serving.as_ref()?.plugin.digest.clone()))
            .collect()
    }

    /// App ids in order.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self
            .entries
            .read()
            .expect("apps lock")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }
}

/// Marks every app that reads its token from the same variable as another
/// (`twin-app` and `twin_app` both default to `KERUJ_APP_TOKEN_TWIN_APP`),
/// and clears the mark once that is no longer so. Logs each new clash once.
fn find_token_clashes(entries: &mut HashMap<String, AppEntry>) {
    let mut readers: HashMap<String, Vec<String>> = HashMap::new();
    for (name, entry) in entries.iter() {
        if let Some(app) = &entry.serving {
            let var = app.settings.token_source.clone();
            readers.entry(var).or_default().push(name.clone());
        }
    }
    for (name, entry) in entries.iter_mut() {
        let clash = entry.serving.as_ref().and_then(|app| {
            let var = &app.settings.token_source;
            let mut others: Vec<&str> = readers[var]
                .iter()
                .map(String::as_str)
                .filter(|other| *other != name)
                .collect();
            others.sort();
            (!others.is_empty()).then(|| {
                format!(
                    "its token variable {var} is also the token of {}: either app's token would \
                     pass for the other, so neither serves; give each its own `token_env` in its sidecar",
                    others.join(", ")
                )
            })
        });
        if clash.is_some() && clash != entry.token_clash {
            tracing::error!(
                app = name.as_str(),
                "app refused: {}",
                clash.as_deref().unwrap_or("")
            );
        }
        entry.token_clash = clash;
    }
}

/// The `<app>.wasm` files of the plugins folder, by app id. Other files are
/// skipped with a warning (sidecars `<app>.toml` silently).
pub fn scan_folder(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the plugins folder {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        match plugin_name(&path) {
            Some(name) => found.push((name, path)),
            None if path.extension().is_some_and(|ext| ext == "toml") => {}
            None => tracing::warn!(path = %path.display(),
                "ignoring: not `<app>.wasm` with an app id matching ^[a-z0-9][a-z0-9_-]{{0,62}}$"),
        }
    }
    found.sort();
    Ok(found)
}

/// The app id of a plugin file `<app>.wasm`, if the name is valid.
pub fn plugin_name(path: &Path) -> Option<String> {
    if path.extension()? != "wasm" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    is_app_name(stem).then(|| stem.to_owned())
}

/// Reads, compiles and configures one app. CPU-heavy: run it off the request path.
pub fn load(runtime: &Runtime, name: &str, wasm_path: &Path) -> anyhow::Result<App> {
    load_over(runtime, name, wasm_path, None)
}

/// [`load`], reusing `previous`'s compiled plugin when the `.wasm` has the
/// same bytes: a sidecar change, or a touched file, re-reads the settings
/// without compiling. Otherwise compiles through the runtime's compile cache.
pub fn load_over(
    runtime: &Runtime,
    name: &str,
    wasm_path: &Path,
    previous: Option<&App>,
) -> anyhow::Result<App> {
    build(runtime, name, Files::read(name, wasm_path)?, previous)
}

/// An app's files as read from the plugins folder, the `.wasm` hashed once.
struct Files {
    settings: AppSettings,
    wasm: Vec<u8>,
    /// Hex SHA-256 of `wasm`: the version, and the compile cache's key.
    digest: String,
}

impl Files {
    fn read(name: &str, wasm_path: &Path) -> anyhow::Result<Files> {
        let settings = AppSettings::load(name, &wasm_path.with_extension("toml"))?;
        let wasm = std::fs::read(wasm_path)
            .map_err(|e| anyhow::anyhow!("cannot read {name}.wasm: {e}"))?;
        let digest = crate::runtime::digest(&wasm);
        Ok(Files {
            settings,
            wasm,
            digest,
        })
    }
}

/// Compiles (or reuses) and configures an app from its files.
fn build(
    runtime: &Runtime,
    name: &str,
    files: Files,
    previous: Option<&App>,
) -> anyhow::Result<App> {
    let Files {
        settings,
        wasm,
        digest,
    } = files;
    let (plugin, code) = match previous {
        Some(previous) if previous.plugin.digest == digest => (previous.plugin.clone(), "reused"),
        _ => runtime
            .compile_digested(&wasm, digest)
            .map(|(plugin, origin)| (plugin, origin.as_str()))
            .map_err(|e| anyhow::anyhow!("{name}.wasm is not a keruj:plugin component: {e:#}"))?,
    };
    let limit = settings.max_concurrency;
    let gate = match previous {
        Some(previous) if previous.settings.max_concurrency == limit => previous.gate.clone(),
        // A new limit starts a new gate; events on the old one finish there.
        _ => Arc::new(Semaphore::new(limit as usize)),
    };
    match &settings.token {
        Some(_) => tracing::info!(
            app = name,
            version = &plugin.digest[..12],
            code,
            timeout_ms = settings.limits.timeout.as_millis() as u64,
            memory_mb = settings.limits.memory_bytes / (1024 * 1024),
            max_concurrency = limit,
            "app loaded"
        ),
        None => tracing::warn!(
            app = name,
            version = &plugin.digest[..12],
            code,
            "app loaded without a token: set {} (or `token_env` in {name}.toml); \
             until then every event is refused with 401",
            settings.token_source
        ),
    }
    Ok(App {
        name: name.to_owned(),
        settings,
        plugin,
        gate,
        busy_log: Throttle::default(),
        metrics: AppMetrics::default(),
    })
}

/// What an app's entry says while its first compile runs.
pub const COMPILING: &str =
    "compiling: this version is not in the compile cache yet; the app serves once compiled";

/// Loads the plugins of the folder whose compiled code is in the compile
/// cache (in parallel, on blocking threads: milliseconds each), and returns
/// the others' names: those need a compile (seconds, up to tens of seconds
/// for a large JavaScript or Python app), which the caller runs in the
/// background so the apps already compiled serve at once. Their entries
/// say [`COMPILING`] meanwhile.
pub async fn load_folder(runtime: &Runtime, dir: &Path) -> anyhow::Result<(Apps, Vec<String>)> {
    let mut tasks = Vec::new();
    for (name, path) in scan_folder(dir)? {
        let runtime = runtime.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            // Read and hashed once, whether it loads now or compiles later.
            let loaded = match Files::read(&name, &path) {
                Ok(files) if !runtime.is_cached(&files.digest) => None,
                Ok(files) => Some(build(&runtime, &name, files, None)),
                Err(error) => Some(Err(error)),
            };
            (name, loaded)
        }));
    }
    let apps = Apps::default();
    let mut to_compile = Vec::new();
    for task in tasks {
        let (name, loaded) = task.await?;
        let entry = match loaded {
            Some(Ok(app)) => AppEntry {
                serving: Some(Arc::new(app)),
                ..AppEntry::default()
            },
            Some(Err(error)) => {
                tracing::error!(app = name, "cannot load: {error:#}");
                AppEntry {
                    problem: Some(format!("{error:#}")),
                    ..AppEntry::default()
                }
            }
            None => {
                to_compile.push(name.clone());
                AppEntry {
                    problem: Some(COMPILING.into()),
                    ..AppEntry::default()
                }
            }
        };
        apps.insert(name, entry);
    }
    Ok((apps, to_compile))
}
