//! Hot reload: the host follows the plugins folder live, one app at a time.
//!
//! Operators deploy by dropping a file in the folder, so the folder is the
//! source of truth while the host runs, not only at start. A notify watcher
//! reports changes; [`Debouncer`] turns each burst (a `cp` is a create and
//! many writes; an editor writes a temporary file and renames it) into one
//! reload per app once the burst has settled. Reloads run one at a time, like
//! Zed's extension host and unlike a watch mode that restarts everything:
//! the other apps never notice, and a machine with few cores is not flooded
//! by parallel compiles.
//!
//! A reload compiles on a blocking thread, off the request path, then swaps
//! the app's entry in one write to [`Apps`]. A request
//! holds the `Arc<App>` it started with, so it finishes on that version
//! whatever happens meanwhile, and no request waits for a compile. When the
//! new file cannot be used (it does not compile, does not fit the WIT world,
//! is half written, or its sidecar is invalid), the previous version keeps
//! serving and the entry's `problem` says why (`GET /apps/<app>/health`,
//! and the log); the next write is picked up the same way. A deleted `.wasm`
//! unloads the app (404); its stored data stays, so putting the file back
//! serves the same installs again.
//!
//! The watcher starts before the host's first scan of the folder, so a file
//! written during start-up is never missed: its events wait in the channel
//! and reload it once the host is up (a no-op when the scan already saw the
//! final bytes: an unchanged `.wasm` reuses its compiled plugin).

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::{App, AppEntry, Apps, Problem};
use crate::metrics::{Metrics, ReloadResult};
use crate::runtime::Runtime;
use crate::settings::is_app_name;

/// How long a burst of events must be quiet before its app reloads.
pub const SETTLE: Duration = Duration::from_millis(150);
/// The same once the writer said it is done (closed the file it wrote,
/// renamed it into place, deleted it): only the burst's tail can follow.
pub const SETTLE_COMPLETE: Duration = Duration::from_millis(20);

type Events = mpsc::UnboundedReceiver<notify::Result<notify::Event>>;

/// Hot reload of one plugins folder: reloads one app at a time into the
/// table, following the folder's watcher (if any) until it is dropped.
pub struct Reloader {
    apps: Arc<Apps>,
    runtime: Runtime,
    metrics: Arc<Metrics>,
    plugins_dir: PathBuf,
    one_at_a_time: tokio::sync::Mutex<()>,
    /// The folder's watcher: its events stop when it drops, with the host.
    _watcher: Option<RecommendedWatcher>,
}

/// A watcher on the plugins folder whose events are not consumed yet.
pub struct Watching {
    watcher: RecommendedWatcher,
    events: Events,
}

impl Reloader {
    /// Reloads apps of `plugins_dir` into `apps`; with `watching`, as the
    /// folder changes, until the reloader is dropped.
    pub fn new(
        apps: Arc<Apps>,
        runtime: Runtime,
        metrics: Arc<Metrics>,
        plugins_dir: PathBuf,
        watching: Option<Watching>,
    ) -> Arc<Reloader> {
        let (watcher, events) = match watching {
            Some(Watching { watcher, events }) => (Some(watcher), Some(events)),
            None => (None, None),
        };
        let reloader = Arc::new(Reloader {
            apps,
            runtime,
            metrics,
            plugins_dir,
            one_at_a_time: Default::default(),
            _watcher: watcher,
        });
        if let Some(events) = events {
            follow(Arc::downgrade(&reloader), events);
            tracing::info!(folder = %reloader.plugins_dir.display(), "following the plugins folder");
        }
        reloader
    }

    /// Reads `app`'s files again and applies the result: serve the new
    /// version, keep the old one with a `problem`, or unload the app if its
    /// `.wasm` is gone.
    pub async fn reload(&self, app: &str) {
        let _one = self.one_at_a_time.lock().await;
        let started = Instant::now();
        let serving = self.apps.get(app).and_then(|entry| entry.serving);
        let wasm_path = self.plugins_dir.join(format!("{app}.wasm"));
        let runtime = self.runtime.clone();
        let (name, previous) = (app.to_owned(), serving.clone());
        let loaded = tokio::task::spawn_blocking(move || match wasm_path.try_exists() {
            Ok(false) => Ok(None),
            _ => super::load_over(&runtime, &name, &wasm_path, previous.as_deref()).map(Some),
        })
        .await
        .unwrap_or_else(|panic| Err(anyhow::anyhow!("the compile panicked: {panic}")));
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match loaded {
            Ok(None) => {
                if self.apps.remove(app).is_some() {
                    let old = serving.as_ref().map(|s| s.plugin.digest.as_str());
                    self.metrics.serving(app, old, None);
                    self.metrics
                        .reload(app, ReloadResult::unloaded, started.elapsed());
                    tracing::info!(
                        app,
                        "app unloaded: {app}.wasm was deleted (its stored data stays)"
                    );
                }
            }
            Ok(Some(new)) => {
                let (old, new): (Option<&str>, Arc<App>) = (
                    serving.as_ref().map(|s| &s.plugin.digest[..12]),
                    Arc::new(new),
                );
                tracing::info!(
                    app,
                    version = &new.plugin.digest[..12],
                    previous = old.unwrap_or("none"),
                    elapsed_ms,
                    "app reloaded"
                );
                let metrics = &self.metrics;
                let old = serving.as_ref().map(|s| s.plugin.digest.as_str());
                metrics.serving(app, old, Some(&new.plugin.digest));
                metrics.reload(app, ReloadResult::loaded, started.elapsed());
                let entry = AppEntry {
                    serving: Some(new),
                    ..AppEntry::default()
                };
                self.apps.insert(app.to_owned(), entry);
            }
            Err(error) => {
                let problem = format!("{error:#}");
                self.metrics
                    .reload(app, ReloadResult::refused, started.elapsed());
                match &serving {
                    Some(old) => tracing::error!(
                        app,
                        serving = &old.plugin.digest[..12],
                        "new version refused, the previous one keeps serving: {problem}"
                    ),
                    None => tracing::error!(app, "cannot load: {problem}"),
                }
                let entry = AppEntry {
                    serving,
                    problem: Some(Problem::Refused(problem)),
                    ..AppEntry::default()
                };
                self.apps.insert(app.to_owned(), entry);
            }
        }
    }
}

/// Starts watching `dir` (not its subfolders). Events queue until a
/// [`Reloader`] follows them.
pub fn watch(dir: &Path) -> anyhow::Result<Watching> {
    let (sender, events) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = sender.send(event);
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(Watching { watcher, events })
}

/// Reloads apps as their files change, until the reloader is dropped.
fn follow(reloader: Weak<Reloader>, mut events: Events) {
    tokio::spawn(async move {
        let mut debouncer = Debouncer::default();
        let mut warned = HashSet::new();
        loop {
            let deadline = debouncer.next_deadline();
            let wake = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => note(&reloader, &mut debouncer, &mut warned, event),
                    None => return,
                },
                () = wake => {
                    while let Some(app) = debouncer.take_due(Instant::now()) {
                        let Some(live) = reloader.upgrade() else { return };
                        live.reload(&app).await;
                        drop(live);
                        // What happened during the compile, for the next turn.
                        while let Ok(event) = events.try_recv() {
                            note(&reloader, &mut debouncer, &mut warned, event);
                        }
                    }
                }
            }
        }
    });
}

/// Feeds one watcher event to the debouncer.
fn note(
    reloader: &Weak<Reloader>,
    debouncer: &mut Debouncer,
    warned: &mut HashSet<OsString>,
    event: notify::Result<notify::Event>,
) {
    let now = Instant::now();
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            // Typically the kernel's queue overflowed: events were lost.
            tracing::warn!(%error, "plugins folder watcher error: rescanning");
            return rescan(reloader, debouncer, now);
        }
    };
    let Some(complete) = settles(&event.kind) else {
        return;
    };
    if event.need_rescan() {
        return rescan(reloader, debouncer, now);
    }
    for path in &event.paths {
        match app_of(path) {
            Touched::App(app) => debouncer.note(app, complete, now),
            Touched::Everything => return rescan(reloader, debouncer, now),
            Touched::Nothing => {
                let name = path.file_name().unwrap_or_default();
                let wasm = path.extension().is_some_and(|e| e == "wasm");
                if wasm && warned.insert(name.to_owned()) {
                    tracing::warn!(path = %path.display(),
                        "ignoring: not `<app>.wasm` with an app id matching ^[a-z0-9][a-z0-9_-]{{0,62}}$");
                } else {
                    tracing::trace!(path = %path.display(), "ignoring");
                }
            }
        }
    }
}

/// Every app of the folder and of the table, to reload (or unload).
fn rescan(reloader: &Weak<Reloader>, debouncer: &mut Debouncer, now: Instant) {
    let Some(reloader) = reloader.upgrade() else {
        return;
    };
    let mut names: HashSet<String> = reloader.apps.names().into_iter().collect();
    if let Ok(entries) = std::fs::read_dir(&reloader.plugins_dir) {
        for entry in entries.flatten() {
            if let Touched::App(app) = app_of(&entry.path()) {
                names.insert(app);
            }
        }
    }
    for app in names {
        debouncer.note(app, false, now);
    }
}

/// Whether an event kind can change an app: `None` when it cannot (reads,
/// including the host's own), else whether the writer is done.
fn settles(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(true),
        EventKind::Access(_) => None,
        EventKind::Remove(_) => Some(true),
        EventKind::Modify(ModifyKind::Name(RenameMode::From | RenameMode::Any)) => Some(false),
        EventKind::Modify(ModifyKind::Name(_)) => Some(true),
        _ => Some(false),
    }
}

/// What a changed path means for the apps.
#[derive(Debug, PartialEq, Eq)]
enum Touched {
    /// `<app>.wasm` or its sidecar `<app>.toml`.
    App(String),
    /// An atomic swap of the whole folder's contents, as Kubernetes does for
    /// mounted volumes (`..data` renamed): every app may have changed.
    Everything,
    /// Anything else: editors' temporary files, other names.
    Nothing,
}

fn app_of(path: &Path) -> Touched {
    if let Some(app) = super::plugin_name(path) {
        return Touched::App(app);
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Touched::Nothing;
    };
    if name == "..data" {
        return Touched::Everything;
    }
    match name.strip_suffix(".toml") {
        Some(app) if is_app_name(app) => Touched::App(app.to_owned()),
        _ => Touched::Nothing,
    }
}

/// Per-app debouncing: an app is due once no event touched it for
/// [`SETTLE`] (or [`SETTLE_COMPLETE`] after a completing event).
#[derive(Debug, Default)]
pub struct Debouncer {
    due: HashMap<String, Instant>,
}

impl Debouncer {
    /// An event touched `app` at `now`; `complete` when the writer is done.
    pub fn note(&mut self, app: String, complete: bool, now: Instant) {
        let settle = if complete { SETTLE_COMPLETE } else { SETTLE };
        // Each event restarts the wait, also shortening it after a completing one.
        self.due.insert(app, now + settle);
    }

    /// When the next app is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// One app whose burst has settled by `now` (the longest due first).
    pub fn take_due(&mut self, now: Instant) -> Option<String> {
        let (app, _) = self
            .due
            .iter()
            .filter(|(_, due)| **due <= now)
            .min_by_key(|(_, due)| **due)?;
        let app = app.clone();
        self.due.remove(&app);
        Some(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, RemoveKind};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_is_one_reload_after_it_settles() {
        let t0 = Instant::now();
        let mut debouncer = Debouncer::default();
        for i in 0..50 {
            debouncer.note("hello".into(), false, t0 + i * 10 * MS);
        }
        let last = t0 + 490 * MS;
        assert_eq!(debouncer.next_deadline(), Some(last + SETTLE));
        assert_eq!(debouncer.take_due(last + SETTLE - MS), None, "too early");
        assert_eq!(debouncer.take_due(last + SETTLE), Some("hello".into()));
        assert_eq!(debouncer.take_due(last + SETTLE * 10), None, "only once");
        assert_eq!(debouncer.next_deadline(), None);
    }

    #[test]
    fn apps_settle_independently_one_at_a_time() {
        let t0 = Instant::now();
        let mut debouncer = Debouncer::default();
        debouncer.note("a".into(), false, t0);
        debouncer.note("b".into(), false, t0 + 100 * MS);
        debouncer.note("c".into(), false, t0 + 100 * MS);
        debouncer.note("c".into(), false, t0 + 400 * MS);
        let later = t0 + 300 * MS;
        assert_eq!(debouncer.take_due(later), Some("a".into()));
        assert_eq!(debouncer.take_due(later), Some("b".into()));
        assert_eq!(debouncer.take_due(later), None, "c is still changing");
        assert_eq!(debouncer.take_due(t0 + 400 * MS + SETTLE), Some("c".into()));
    }

    #[test]
    fn a_completing_event_shortens_the_wait() {
        let t0 = Instant::now();
        let mut debouncer = Debouncer::default();
        debouncer.note("hello".into(), false, t0);
        debouncer.note("hello".into(), true, t0 + 5 * MS);
        assert_eq!(
            debouncer.next_deadline(),
            Some(t0 + 5 * MS + SETTLE_COMPLETE)
        );
        // A write after the close starts a full wait again.
        debouncer.note("hello".into(), false, t0 + 10 * MS);
        assert_eq!(debouncer.next_deadline(), Some(t0 + 10 * MS + SETTLE));
    }

    #[test]
    fn only_changes_count_and_closing_a_write_completes() {
        let close_write = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert_eq!(settles(&close_write), Some(true));
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        assert_eq!(settles(&open), None, "the host's own reads");
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert_eq!(settles(&read), None);
        let create = EventKind::Create(CreateKind::File);
        assert_eq!(settles(&create), Some(false));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(settles(&write), Some(false));
        let renamed_in = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(settles(&renamed_in), Some(true));
        assert_eq!(settles(&EventKind::Remove(RemoveKind::File)), Some(true));
    }

    #[test]
    fn paths_map_to_apps() {
        let app = |name: &str| Touched::App(name.into());
        assert_eq!(app_of(Path::new("/p/hello.wasm")), app("hello"));
        assert_eq!(app_of(Path::new("/p/nova-poshta.toml")), app("nova-poshta"));
        assert_eq!(app_of(Path::new("/p/..data")), Touched::Everything);
        for other in [
            "/p/Hello.wasm",
            "/p/.hello.wasm.swp",
            "/p/hello.wasm~",
            "/p/hello.wasm.tmp",
            "/p/4913",
            "/p/.#hello.toml",
            "/p/hello.toml.bak",
            "/p/-x.toml",
            "/p",
        ] {
            assert_eq!(app_of(Path::new(other)), Touched::Nothing, "{other}");
        }
    }
}
