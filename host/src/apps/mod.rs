//! The apps the host serves: one compiled plugin and its settings per app id,
//! read from the plugins folder ([`load`]) and followed live ([`reload`]).

mod load;
pub mod reload;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use tokio::sync::Semaphore;

use crate::metrics::AppMetrics;
use crate::runtime::Plugin;
use crate::settings::AppSettings;
use crate::throttle::Throttle;

pub use load::{load, load_folder, load_over, plugin_name, scan_folder};

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
    /// The app's share for the events the host starts itself (scheduled
    /// runs, webhook deliveries): [`AppSettings::background_concurrency`]
    /// permits, apart from `gate`.
    pub background_gate: Arc<Semaphore>,
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
    /// Why the latest file does not serve (yet), if it does not.
    pub problem: Option<Problem>,
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
            (None, None) => Err(self
                .problem
                .map_or_else(|| "not loaded".into(), |problem| problem.to_string())),
        }
    }

    /// Whether the app's first compile is still running.
    pub fn is_compiling(&self) -> bool {
        self.serving.is_none() && self.problem == Some(Problem::Compiling)
    }
}

/// Why an app's latest file does not serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its first compile runs in the background (at start, for an app not
    /// in the compile cache).
    Compiling,
    /// It could not be loaded: why (the previous version, if any, serves).
    Refused(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Compiling => f.write_str(
                "compiling: this version is not in the compile cache yet; the app serves once compiled",
            ),
            Problem::Refused(why) => f.write_str(why),
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
