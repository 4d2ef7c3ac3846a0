//! Reading apps from the plugins folder: its `<app>.wasm` files, each with
//! its sidecar, compiled (or taken from the compile cache) and configured.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::{App, AppEntry, Apps, Problem};
use crate::metrics::AppMetrics;
use crate::runtime::Runtime;
use crate::settings::{AppSettings, is_app_name};
use crate::throttle::Throttle;

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
    let files = Files::read(name, wasm_path, runtime.services().min_schedule_interval)?;
    build(runtime, name, files, previous)
}

/// An app's files as read from the plugins folder, the `.wasm` hashed once.
struct Files {
    settings: AppSettings,
    wasm: Vec<u8>,
    /// Hex SHA-256 of `wasm`: the version, and the compile cache's key.
    digest: String,
}

impl Files {
    fn read(name: &str, wasm_path: &Path, min_interval: Duration) -> anyhow::Result<Files> {
        let settings =
            AppSettings::load_with(name, &wasm_path.with_extension("toml"), min_interval)?;
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
    let background = settings.background_concurrency();
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
        background_gate: Arc::new(Semaphore::new(background as usize)),
        busy_log: Throttle::default(),
        metrics: AppMetrics::default(),
    })
}

/// Loads the plugins of the folder whose compiled code is in the compile
/// cache (in parallel, on blocking threads: milliseconds each), and returns
/// the others' names: those need a compile (seconds, up to tens of seconds
/// for a large JavaScript or Python app), which the caller runs in the
/// background so the apps already compiled serve at once. Their entries
/// say [`Problem::Compiling`] meanwhile.
pub async fn load_folder(runtime: &Runtime, dir: &Path) -> anyhow::Result<(Apps, Vec<String>)> {
    let mut tasks = Vec::new();
    for (name, path) in scan_folder(dir)? {
        let runtime = runtime.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            // Read and hashed once, whether it loads now or compiles later.
            let loaded = match Files::read(&name, &path, runtime.services().min_schedule_interval) {
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
                    problem: Some(Problem::Refused(format!("{error:#}"))),
                    ..AppEntry::default()
                }
            }
            None => {
                to_compile.push(name.clone());
                AppEntry {
                    problem: Some(Problem::Compiling),
                    ..AppEntry::default()
                }
            }
        };
        apps.insert(name, entry);
    }
    Ok((apps, to_compile))
}
