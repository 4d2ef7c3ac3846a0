//! The WebAssembly runtime: one engine for the whole host, one compiled
//! component per app, one fresh store and instance per event.
//!
//! Isolation comes from the instance being new: nothing a plugin does in one
//! event (globals, memory, leaked resources) is visible to the next one,
//! whatever company it is for. Limits come from the store: memory through a
//! [`StoreLimits`](wasmtime::StoreLimits), time through epoch interruption.

pub mod cache;
mod engine;
pub mod function_cache;
pub mod hints;
pub mod inspect;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use function_cache::FunctionCache;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings::AppPre;
pub use crate::bindings::{CONTRACT_VERSION, CONTRACT_VERSIONS, Event, Outcome};
pub use cache::{CompileCache, Origin};
pub use engine::AllocationStrategy;
pub use inspect::Inspection;

use crate::capabilities::{self, Bound, EventScope, InstanceState, Services};
use crate::plugin_text::PluginText;
use crate::settings::AppSettings;

/// The shared engine and linker; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<InstanceState>>,
    /// Compiled components on disk; `None` compiles every time.
    cache: Option<Arc<CompileCache>>,
    /// What capabilities share: storage, the HTTP client, Keruj's API.
    services: Arc<Services>,
}

/// A compiled plugin, ready to instantiate many times.
#[derive(Clone)]
pub struct Plugin {
    pre: AppPre<InstanceState>,
    /// Hex SHA-256 of the `.wasm` bytes: which version serves.
    pub digest: String,
    /// Whether it imports `keruj:plugin/schedules`: only then does the
    /// scheduler look for schedules it made.
    pub makes_schedules: bool,
}

/// Why running a plugin gave no outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plugin returned `err`: its own message (escaped and bounded when shown).
    #[error("the plugin reported an error: {0}")]
    Failed(PluginText),
    /// The plugin ran past its time limit.
    #[error("the plugin ran past its time limit of {0:?}")]
    Timeout(std::time::Duration),
    /// A trap (panic, out of memory, stack overflow, ...) or a host fault.
    #[error("the plugin crashed: {0}")]
    Crashed(String),
}

impl RunError {
    fn failed(message: String) -> RunError {
        RunError::Failed(PluginText::new(message))
    }
}

/// One run of a plugin: whom it acts for and within which grant. Every
/// capability of the instance is bound to it.
pub struct Call<'a> {
    pub app: &'a str,
    pub request_id: &'a str,
    pub settings: &'a AppSettings,
    /// The install it acts for, whether it wrote, what it may still log.
    pub scope: EventScope,
}

impl Runtime {
    /// What the host gives every app (see [`Services`]).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Builds the engine (pooling allocator where the machine allows it) and
    /// links every host capability once.
    pub fn new(services: Arc<Services>) -> anyhow::Result<Runtime> {
        Runtime::build(services, None, None)
    }

    /// [`Runtime::new`] keeping each compiled function in `dir` across runs
    /// (see [`function_cache`]): for a development host, whose apps change
    /// and compile again and again.
    pub fn with_function_cache(
        services: Arc<Services>,
        dir: impl Into<PathBuf>,
    ) -> anyhow::Result<Runtime> {
        let dir = dir.into();
        let cache = FunctionCache::open(&dir)
            .with_context(|| format!("cannot use {} as the function cache", dir.display()))?;
        Runtime::build(services, None, Some(Arc::new(cache)))
    }

    /// [`Runtime::new`] with this instance allocator and no fallback: an
    /// error if the machine cannot reserve the pool. For benchmarks that
    /// compare the two, and embedders who must know which one they get.
    pub fn with_strategy(
        services: Arc<Services>,
        strategy: AllocationStrategy,
    ) -> anyhow::Result<Runtime> {
        Runtime::build(services, Some(strategy), None)
    }

    fn build(
        services: Arc<Services>,
        strategy: Option<AllocationStrategy>,
        functions: Option<Arc<FunctionCache>>,
    ) -> anyhow::Result<Runtime> {
        let engine = engine::build(strategy, functions)?;
        let mut linker = Linker::new(&engine);
        capabilities::add_to_linker(&mut linker)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache: None,
            services,
        })
    }

    /// Keeps compiled components in `dir` (see [`cache`]), so a restart
    /// deserializes them instead of compiling. Without a usable folder the
    /// runtime still works, compiling every time, and the log says why.
    pub fn with_cache(mut self, dir: impl Into<PathBuf>) -> Runtime {
        let dir = dir.into();
        match CompileCache::open(&dir, &self.engine) {
            Ok(cache) => self.cache = Some(Arc::new(cache)),
            Err(error) => tracing::warn!(
                dir = %dir.display(), %error,
                "compile cache unavailable: every start compiles every plugin"
            ),
        }
        self
    }

    /// The compile cache, if there is one.
    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_deref()
    }

    /// The pooling allocator's counters (live instances, warm slots and the
    /// bytes they keep resident), when the engine pools instances.
    pub fn pool_metrics(&self) -> Option<wasmtime::PoolingAllocatorMetrics> {
        self.engine.pooling_allocator_metrics()
    }

    /// Compiles a component and checks it against the contract: everything it
    /// imports must be provided and it must export the `app` world. CPU-heavy:
    /// call it off the request path. An error names what does not fit and
    /// what to do about it ([`hints`]).
    pub fn compile(&self, wasm: &[u8]) -> anyhow::Result<Plugin> {
        self.compile_cached(wasm).map(|(plugin, _)| plugin)
    }

    /// [`compile`](Runtime::compile), through the compile cache when there
    /// is one, telling whether it came from the cache.
    pub fn compile_cached(&self, wasm: &[u8]) -> anyhow::Result<(Plugin, Origin)> {
        self.compile_digested(wasm, digest(wasm))
    }

    /// Whether the compile cache holds the code of the `.wasm` whose
    /// [`digest`] this is (so loading it takes milliseconds, not a compile).
    pub fn is_cached(&self, digest: &str) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|cache| cache.entry_path(digest).exists())
    }

    /// [`Runtime::compile_cached`] for a caller that has hashed `wasm` already.
    pub(crate) fn compile_digested(
        &self,
        wasm: &[u8],
        digest: String,
    ) -> anyhow::Result<(Plugin, Origin)> {
        let (component, origin) = match &self.cache {
            Some(cache) => cache.compile(&self.engine, wasm, &digest),
            None => Component::new(&self.engine, wasm)
                .map(|component| (component, Origin::Compiled))
                .map_err(Into::into),
        }
        .map_err(with_hint)?;
        let fits = self
            .linker
            .instantiate_pre(&component)
            .and_then(AppPre::new);
        let makes_schedules = component
            .component_type()
            .imports(&self.engine)
            .any(|(name, _)| name.starts_with("keruj:plugin/schedules@"));
        match fits {
            Ok(pre) => Ok((
                Plugin {
                    pre,
                    digest,
                    makes_schedules,
                },
                origin,
            )),
            // Judge every import, to say all that is wrong and what to do.
            Err(error) => Err(
                match inspect::inspect(&self.engine, &self.linker, &component).problem() {
                    Some(problem) => anyhow::anyhow!(problem),
                    None => error.into(),
                },
            ),
        }
    }

    /// Runs `handle-event` in a fresh instance within the call's limits.
    pub async fn handle_event(
        &self,
        plugin: &Plugin,
        call: &Call<'_>,
        event: Event,
    ) -> Result<Outcome, RunError> {
        let (mut store, limits) = self.new_store(call, &event.company_id);
        // One timer for instantiation and the call together.
        let result = limits
            .run(async {
                let app = plugin.pre.instantiate_async(&mut store).await?;
                app.call_handle_event(&mut store, &event).await
            })
            .await?;
        result.map_err(RunError::failed)
        // The store (instance, memory, table) is dropped here, after the call.
    }

    /// Runs the plugin's `health` export in a fresh instance.
    pub async fn health(&self, plugin: &Plugin, call: &Call<'_>) -> Result<(), RunError> {
        let (mut store, limits) = self.new_store(call, "");
        let result = limits
            .run(async {
                let app = plugin.pre.instantiate_async(&mut store).await?;
                app.call_health(&mut store).await
            })
            .await?;
        result.map_err(RunError::failed)
    }

    /// Instantiates the plugin in a new store bound to the call and
    /// `company`, within the call's limits. [`handle_event`](Runtime::handle_event)
    /// is this plus one call; it is public so that benchmarks and embedders
    /// can see (and time) the pieces of an event: instantiate, call, drop.
    pub async fn instantiate(
        &self,
        plugin: &Plugin,
        call: &Call<'_>,
        company: &str,
    ) -> Result<Instance, RunError> {
        let (mut store, limits) = self.new_store(call, company);
        let app = limits.run(plugin.pre.instantiate_async(&mut store)).await?;
        Ok(Instance { store, app, limits })
    }

    /// A new store bound to the call and `company`, with its memory limit
    /// and time limit set; the deadline starts now.
    fn new_store(&self, call: &Call<'_>, company: &str) -> (Store<InstanceState>, Deadline) {
        let bound = Bound {
            app: call.app.into(),
            company: company.into(),
            request_id: call.request_id.into(),
        };
        let state = InstanceState::new(&self.services, call.settings, bound, &call.scope);
        let timeout = call.settings.limits.timeout;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);

        // Every epoch tick the running plugin yields to tokio (so a busy
        // plugin does not hold a worker thread) and is stopped once past its
        // deadline. The deadline covers instantiation and the call together.
        let deadline = Instant::now() + timeout;
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        let limits = Deadline {
            at: deadline.into(),
            timeout,
        };
        (store, limits)
    }
}

/// A plugin instantiated in its own store, for one event. Dropping it frees
/// the store, the instance's memory and its pool slot.
pub struct Instance {
    store: Store<InstanceState>,
    app: crate::bindings::App,
    limits: Deadline,
}

impl Instance {
    /// Calls `handle-event`. An instance serves one event: call it once.
    pub async fn handle_event(&mut self, event: &Event) -> Result<Outcome, RunError> {
        let Instance { store, app, limits } = self;
        let result = limits.run(app.call_handle_event(store, event)).await?;
        result.map_err(RunError::failed)
    }
}

/// The time limit of one instance, set when its store was made:
/// instantiation and the call share it.
struct Deadline {
    at: tokio::time::Instant,
    timeout: std::time::Duration,
}

impl Deadline {
    /// Runs `work` until the deadline, mapping traps and timeouts. The epoch
    /// stops wasm code; this also stops a plugin waiting in a host call.
    async fn run<R>(&self, work: impl Future<Output = wasmtime::Result<R>>) -> Result<R, RunError> {
        match tokio::time::timeout_at(self.at, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(RunError::Timeout(self.timeout))
            }
            Ok(Err(error)) => Err(RunError::Crashed(describe(&error))),
            Err(_elapsed) => Err(RunError::Timeout(self.timeout)),
        }
    }
}

/// A one-line description of a trap or host error, without the wasm backtrace.
/// wasmtime's own text of a trap already starts with "wasm trap: ".
fn describe(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        // Rust keeps its stack in linear memory, below the data: a plugin
        // that overflows it reads or writes out of bounds before wasmtime's
        // own (call) stack is exhausted, so wasmtime cannot tell it is one.
        Some(trap @ Trap::MemoryOutOfBounds) => format!(
            "{trap} (a plugin that overflows its own stack, in linear memory, fails this way too)"
        ),
        Some(Trap::StackOverflow) => "wasm trap: stack overflow (call stack exhausted)".into(),
        Some(trap) => trap.to_string(),
        None => format!("{error}"),
    }
}

/// A compile error with what to do about it, when [`hints`] knows.
fn with_hint(error: anyhow::Error) -> anyhow::Error {
    match hints::for_compile_error(&format!("{error:#}")) {
        Some(hint) => error.context(hint),
        None => error,
    }
}

/// The host's engine and linker without its services (no database, no
/// server): what `keruj-host check` compiles and inspects a component with.
pub struct Checker {
    engine: Engine,
    linker: Linker<InstanceState>,
}

impl Checker {
    pub fn new() -> anyhow::Result<Checker> {
        let engine = engine::for_checks()?;
        let mut linker = Linker::new(&engine);
        capabilities::add_to_linker(&mut linker)?;
        Ok(Checker { engine, linker })
    }

    /// Compiles `wasm` as the host would (without its compile cache).
    pub fn compile(&self, wasm: &[u8]) -> anyhow::Result<Component> {
        Component::new(&self.engine, wasm).map_err(|error| with_hint(error.into()))
    }

    /// Each import and whether the host provides it; whether the exports fit.
    pub fn inspect(&self, component: &Component) -> Inspection {
        inspect::inspect(&self.engine, &self.linker, component)
    }
}

/// Hex SHA-256 of a `.wasm`: the version of a plugin.
pub fn digest(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}
