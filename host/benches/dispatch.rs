//! Micro benchmark of one event's host cost (issue 6); not a test.
//!
//! Criterion timings, per event, for `hello`'s `application_configure`:
//! - `event/<allocator>`: the whole sandboxed part: instantiate, call,
//!   validate the reply, drop; the number the issue's 20 µs target is about;
//! - its pieces, each timed alone on fresh instances: `instantiate`, `call`,
//!   `validate` (the reply against the form format), `drop`;
//! - `dispatch`: [`Host::dispatch`], what the HTTP front calls after the
//!   token check: parse the body, look the install up, the event above.
//!
//! The same event and pieces for the null plugin (`null_plugin.wat`: the
//! world with nothing inside, no imports, one page of memory) give the floor
//! of a sandboxed event: what any plugin costs before its own code runs.
//!
//! `spread/<plugin>/<n> apps`: one event at a time, each to the next of `n`
//! loaded copies of the plugin (pooling), as events to many apps arrive.
//! Each copy is its own compiled code and memory image, as distinct apps
//! are (deserialized afresh from the compile cache: no compile per copy).
//!
//! `<allocator>` is `pooling` (what the host uses) or `on-demand` (mmap per
//! instance, the fallback), built with [`Runtime::with_strategy`].
//!
//! `scripts/bench --micro` runs it (or `cargo bench --bench
//! dispatch`); `-- --smoke` takes a few seconds in all, for CI. The plugin is
//! read from `KERUJ_BENCH_PLUGINS` (a folder holding `hello.wasm`).
//!
//! `-- --count <plugin> <apps> <events>` is no criterion run: it sends
//! `events` events round-robin to `apps` loaded copies of `plugin` (`hello`,
//! `null`, or a path to a `.wasm`), after one untimed round, and prints the
//! wall time per event. Under `perf stat` (less a run with 0 events) it gives
//! counts per event: system calls, page faults, TLB flushes, CPU time.
//!
//! `-- --compare <events> <apps> <plugin>...` compares plugins paired: one
//! event to each plugin in turn (each to the next of its `apps` copies),
//! every event timed alone, then the median per plugin and its ratio to the
//! first plugin's. A noisy machine slows every plugin alike within a round
//! of a few microseconds, and a preempted event lands in the tail, not the
//! median: differences of a few percent show that separate runs hide.
//! `plugin@N` loads `N` copies of that plugin instead of `apps`, so that
//! `--compare 5000 1 hello hello@100` prices 100 loaded apps against one.
//!
//! Both print the pooling allocator's warm memory slots and the bytes they
//! keep resident at the end (`Engine::pooling_allocator_metrics`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use keruj_guest::form::Form;
use keruj_host::capabilities::Services;
use keruj_host::event::IncomingEvent;
use keruj_host::runtime::{AllocationStrategy, Call, Event, Outcome, Plugin, Runtime};
use keruj_host::settings::KerujApiConfig;
use keruj_host::storage::Storage;
use keruj_host::{AppSettings, Host, HostConfig};

const COMPANY: &str = "co-bench";
const CONFIGURE: &[u8] =
    br#"{"event":"application_configure","company_id":"co-bench","account_id":"acc"}"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` adds `--bench` after the arguments given to it.
    let operands = |at: usize| -> Vec<String> {
        let rest = args[at + 1..].iter();
        rest.take_while(|a| !a.starts_with("--")).cloned().collect()
    };
    if let Some(at) = args.iter().position(|a| a == "--count") {
        return count(&operands(at));
    }
    if let Some(at) = args.iter().position(|a| a == "--compare") {
        return compare(&operands(at));
    }
    let smoke = std::env::args().any(|a| a == "--smoke");
    let mut criterion = match smoke {
        // One short point of each: it must run, not measure well.
        true => Criterion::default()
            .warm_up_time(Duration::from_millis(50))
            .measurement_time(Duration::from_millis(200))
            .sample_size(10)
            .without_plots(),
        false => Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args(),
    };
    let wasm = std::fs::read(plugins_dir().join("hello.wasm"))
        .expect("hello.wasm: run scripts/bench (or scripts/build-plugins) first");
    let dir = tempfile::tempdir().unwrap();
    let (tokio, settings, services) = setup(dir.path());

    let null = wat::parse_str(include_str!("null_plugin.wat")).expect("null_plugin.wat");
    let plugins = [("hello", &wasm[..]), ("null", &null[..])];

    for strategy in [AllocationStrategy::Pooling, AllocationStrategy::OnDemand] {
        let runtime = match Runtime::with_strategy(services.clone(), strategy) {
            Ok(runtime) => runtime,
            Err(error) => {
                println!("{strategy}: unavailable on this machine ({error:#}); skipped");
                continue;
            }
        };
        for (name, wasm) in plugins {
            let plugin = runtime.compile(wasm).unwrap();
            let bench = Bench {
                name,
                runtime: &runtime,
                plugin: &plugin,
                settings: &settings,
                tokio: &tokio,
            };
            bench.check();
            bench.pieces(&mut criterion, strategy);
        }
    }
    spread(&mut criterion, &services, &settings, &tokio, plugins, smoke);
    dispatch(&mut criterion, &tokio, &wasm);
    criterion.final_summary();
}

/// The pieces of an event, each timed alone.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece {
    Instantiate,
    Call,
    Drop,
}

impl Piece {
    fn name(self) -> &'static str {
        match self {
            Piece::Instantiate => "instantiate",
            Piece::Call => "call",
            Piece::Drop => "drop",
        }
    }
}

/// One runtime with a plugin (`hello` or `null`) compiled in it.
struct Bench<'a> {
    name: &'static str,
    runtime: &'a Runtime,
    plugin: &'a Plugin,
    settings: &'a AppSettings,
    tokio: &'a tokio::runtime::Runtime,
}

impl Bench<'_> {
    fn call(&self) -> Call<'_> {
        Call {
            app: "hello",
            request_id: "bench",
            settings: self.settings,
            scope: Default::default(),
        }
    }

    fn event() -> Event {
        let parsed = IncomingEvent::parse(CONFIGURE).unwrap();
        Event {
            name: parsed.name,
            company_id: parsed.company_id,
            account_id: parsed.account_id,
            body: parsed.body,
        }
    }

    /// The whole sandboxed part of an event, as the host runs it: the form
    /// the plugin answered, validated, or `None` for done.
    async fn event_once(&self, event: Event) -> Option<Form> {
        let call = self.call();
        match self.runtime.handle_event(self.plugin, &call, event).await {
            Ok(Outcome::Reply(json)) => Some(Form::from_json(&json).expect("a valid form")),
            Ok(Outcome::Done) => None,
            Err(error) => panic!("{} failed configure: {error}", self.name),
        }
    }

    /// One event, instantiate then call then drop, timing only `piece`.
    async fn time_piece(&self, piece: Piece, call: &Call<'_>, event: &Event) -> Duration {
        let mut took = Duration::ZERO;
        let started = Instant::now();
        let mut instance = self
            .runtime
            .instantiate(self.plugin, call, COMPANY)
            .await
            .unwrap();
        if piece == Piece::Instantiate {
            took = started.elapsed();
        }
        let started = Instant::now();
        instance.handle_event(event).await.unwrap();
        if piece == Piece::Call {
            took = started.elapsed();
        }
        let started = Instant::now();
        drop(instance);
        if piece == Piece::Drop {
            took = started.elapsed();
        }
        took
    }

    /// Fails loudly before measuring if hello does not answer its form, or
    /// the null plugin anything but done.
    fn check(&self) {
        let form = self.tokio.block_on(self.event_once(Self::event()));
        match self.name {
            "hello" => assert_eq!(form.expect("hello's form").title, "Say hello"),
            _ => assert_eq!(form, None, "the null plugin answers done"),
        }
    }

    fn pieces(&self, c: &mut Criterion, strategy: AllocationStrategy) {
        let name = strategy.to_string();
        let event = Self::event();
        let call = self.call();
        let mut group = c.benchmark_group(format!("{} configure", self.name));

        group.bench_function(BenchmarkId::new("event", &name), |b| {
            b.iter(|| self.tokio.block_on(self.event_once(event.clone())))
        });

        // Each piece alone: the others run around it, untimed.
        for piece in [Piece::Instantiate, Piece::Call, Piece::Drop] {
            group.bench_function(BenchmarkId::new(piece.name(), &name), |b| {
                b.iter_custom(|iters| {
                    self.tokio.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += self.time_piece(piece, &call, &event).await;
                        }
                        total
                    })
                })
            });
        }
        let reply = self.tokio.block_on(self.event_once(event.clone()));
        if let (AllocationStrategy::Pooling, Some(form)) = (strategy, reply) {
            // The same for both allocators: measured once.
            let reply = form.to_json();
            group.bench_function("validate", |b| {
                b.iter(|| Form::from_json(std::hint::black_box(&reply)).unwrap())
            });
        }
        group.finish();
    }
}

/// Events to `n` apps in turn: how the event's cost grows with the number of
/// apps loaded, with the HTTP front and the load generator out of the picture.
fn spread(
    c: &mut Criterion,
    services: &Arc<Services>,
    settings: &AppSettings,
    tokio: &tokio::runtime::Runtime,
    plugins: [(&'static str, &[u8]); 2],
    smoke: bool,
) {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::with_strategy(services.clone(), AllocationStrategy::Pooling)
        .expect("the pooling allocator")
        .with_cache(cache.path());
    let counts: &[usize] = if smoke { &[1, 10] } else { &[1, 10, 100] };
    let event = Bench::event();
    let mut group = c.benchmark_group("spread");
    for (name, wasm) in plugins {
        let copies: Vec<Plugin> = (0..counts[counts.len() - 1])
            .map(|_| runtime.compile(wasm).unwrap())
            .collect();
        for &n in counts {
            let apps: Vec<Bench> = copies[..n]
                .iter()
                .map(|plugin| Bench {
                    name,
                    runtime: &runtime,
                    plugin,
                    settings,
                    tokio,
                })
                .collect();
            apps.iter().for_each(Bench::check);
            let mut next = 0;
            group.bench_function(BenchmarkId::new(name, format!("{n} apps")), |b| {
                b.iter(|| {
                    next = (next + 1) % n;
                    tokio.block_on(apps[next].event_once(event.clone()))
                })
            });
        }
    }
    group.finish();
}

/// [`Host::dispatch`] on a started host (pooling allocator, real storage),
/// with the company installed: parse, find the install, the event, validate.
fn dispatch(c: &mut Criterion, tokio: &tokio::runtime::Runtime, wasm: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("hello.wasm"), wasm).unwrap();
    let mut config = HostConfig::new(&plugins, dir.path().join("data"));
    config.watch = false;
    let host = tokio.block_on(Host::start(config)).unwrap();
    tokio.block_on(host.loaded());
    let install = format!(
        r#"{{"event":"application_install","company_id":"{COMPANY}","account_id":"acc","account_api_key":"k"}}"#
    );
    tokio
        .block_on(host.dispatch("hello", install.as_bytes(), "bench"))
        .unwrap();
    let mut group = c.benchmark_group("hello configure");
    group.bench_function("dispatch", |b| {
        b.iter(|| {
            tokio
                .block_on(host.dispatch("hello", CONFIGURE, "bench"))
                .unwrap()
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| IncomingEvent::parse(std::hint::black_box(CONFIGURE)).unwrap())
    });
    group.finish();
}

/// The plugin a command line names: `null`, `hello`, or a path to a
/// `.wasm` or a `.wat`.
fn plugin_bytes(plugin: &str) -> Vec<u8> {
    match plugin {
        "null" => wat::parse_str(include_str!("null_plugin.wat")).expect("null_plugin.wat"),
        "hello" => std::fs::read(plugins_dir().join("hello.wasm")).expect("hello.wasm"),
        path if path.ends_with(".wat") => wat::parse_file(path).expect("the plugin's text"),
        path => std::fs::read(path).expect("the plugin"),
    }
}

/// `--compare <events> <apps> <plugin>...`: see the module's docs.
fn compare(args: &[String]) {
    let [events, apps, plugins @ ..] = args else {
        panic!("usage: --compare <events> <apps> <hello|null|path.wasm|path.wat>[@copies]...")
    };
    let (events, apps): (usize, usize) = (events.parse().unwrap(), apps.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (tokio, settings, services) = setup(dir.path());
    let runtime = Runtime::with_strategy(services, AllocationStrategy::Pooling)
        .expect("the pooling allocator")
        .with_cache(dir.path().join("cache"));
    let copies: Vec<Vec<Plugin>> = plugins
        .iter()
        .map(|name| {
            let (name, apps) = match name.rsplit_once('@') {
                Some((name, n)) if n.parse::<usize>().is_ok() => (name, n.parse().unwrap()),
                _ => (name.as_str(), apps),
            };
            let wasm = plugin_bytes(name);
            (0..apps).map(|_| runtime.compile(&wasm).unwrap()).collect()
        })
        .collect();
    let bench = |plugin| Bench {
        name: "compared",
        runtime: &runtime,
        plugin,
        settings: &settings,
        tokio: &tokio,
    };
    let event = Bench::event();
    for plugin in copies.iter().flatten() {
        tokio.block_on(bench(plugin).event_once(event.clone()));
    }
    let mut took: Vec<Vec<Duration>> = vec![Vec::with_capacity(events); plugins.len()];
    for i in 0..events {
        for (copies, took) in copies.iter().zip(&mut took) {
            let bench = bench(&copies[i % copies.len()]);
            let started = Instant::now();
            tokio.block_on(bench.event_once(event.clone()));
            took.push(started.elapsed());
        }
    }
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mut baseline = None;
    println!("{events} events each, {apps} copies each (plugin@N: N), paired; wall µs per event");
    println!(
        "{:>40} {:>8} {:>8} {:>8} {:>9}",
        "plugin", "p10", "median", "p90", "vs first"
    );
    for (name, took) in plugins.iter().zip(&mut took) {
        took.sort_unstable();
        let at = |q: f64| micros(took[((took.len() - 1) as f64 * q) as usize]);
        let median = at(0.5);
        let baseline = *baseline.get_or_insert(median);
        let name = Path::new(name).file_name().unwrap().to_string_lossy();
        println!(
            "{name:>40} {:>8.2} {median:>8.2} {:>8.2} {:>8.2}x",
            at(0.1),
            at(0.9),
            median / baseline
        );
    }
    print_pool(&runtime);
}

/// The pool's warm memory slots and what they keep resident.
fn print_pool(runtime: &Runtime) {
    if let Some(pool) = runtime.pool_metrics() {
        println!(
            "pool: {} warm memory slots keeping {:.1} MiB resident, {} warm table slots",
            pool.unused_warm_memories(),
            pool.unused_memory_bytes_resident() as f64 / (1 << 20) as f64,
            pool.unused_warm_tables(),
        );
    }
}

/// `--count <plugin> <apps> <events>`: see the module's docs.
fn count(args: &[String]) {
    let [plugin, apps, events] = args else {
        panic!("usage: --count <hello|null|path.wasm> <apps> <events>")
    };
    let (apps, events): (usize, usize) = (apps.parse().unwrap(), events.parse().unwrap());
    let wasm = plugin_bytes(plugin);
    let dir = tempfile::tempdir().unwrap();
    let (tokio, settings, services) = setup(dir.path());
    let runtime = Runtime::with_strategy(services, AllocationStrategy::Pooling)
        .expect("the pooling allocator")
        .with_cache(dir.path().join("cache"));
    let copies: Vec<Plugin> = (0..apps).map(|_| runtime.compile(&wasm).unwrap()).collect();
    let benches: Vec<Bench> = copies
        .iter()
        .map(|plugin| Bench {
            name: "counted",
            runtime: &runtime,
            plugin,
            settings: &settings,
            tokio: &tokio,
        })
        .collect();
    let event = Bench::event();
    for bench in &benches {
        tokio.block_on(bench.event_once(event.clone()));
    }
    let started = Instant::now();
    for i in 0..events {
        tokio.block_on(benches[i % apps].event_once(event.clone()));
    }
    let took = started.elapsed();
    if events > 0 {
        println!(
            "{plugin}: {events} events to {apps} apps, {:.2} µs per event (wall)",
            took.as_secs_f64() * 1e6 / events as f64
        );
        print_pool(&runtime);
    }
}

fn plugins_dir() -> PathBuf {
    std::env::var_os("KERUJ_BENCH_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/wasm32-wasip2/release")
        })
}

/// A current-thread runtime, default app settings and the services a
/// [`Runtime`] needs, with the store in `dir`.
fn setup(dir: &std::path::Path) -> (tokio::runtime::Runtime, AppSettings, Arc<Services>) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let storage = Arc::new(Storage::open(&dir.join("data"), &dir.join("identity.txt")).unwrap());
    let settings = AppSettings::load("hello", &dir.join("none.toml")).unwrap();
    let services = Arc::new(Services::new(storage, KerujApiConfig::default()).unwrap());
    (tokio, settings, services)
}
