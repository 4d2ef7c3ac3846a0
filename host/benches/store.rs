//! The two stores compared (issue 13); not a test. `scripts/bench-store`
//! runs it against a real PostgreSQL server it starts on loopback, with the
//! real `keruj-host` binary serving `hello`, loaded by `wrk`:
//!
//! 1. configure events per second at c=64 (they do not write): sled against
//!    PostgreSQL, alternated, medians; and events whose plugin reads one
//!    `kv` value (the `probe` test plugin), a round trip to PostgreSQL each;
//! 2. installs per second at c=64 (each a write and a commit);
//! 3. two replicas on one PostgreSQL database against one, on this machine;
//! 4. the uninstall-visibility bound: after an uninstall is acknowledged by
//!    one replica, how long until another answers 409 for that company.
//!
//! `--smoke`: one short point of each (for CI). Inputs: `KERUJ_BENCH_PLUGINS`
//! (a folder with `hello.wasm` and `probe.wasm`).

#[path = "e2e/load.rs"]
#[allow(dead_code)]
mod load;
#[path = "../support/postgres.rs"]
mod postgres;
#[path = "../support/serve.rs"]
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use load::{Conn, Generator, Req, Stats};
use postgres::Postgres;

const TOKEN: &str = "bench-token";
const EVENTS: &str = "/apps/hello/events";
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A `keruj-host serve` of `hello`, killed when dropped.
struct Host {
    addr: String,
    child: Child,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a host on `dir` (plugins and data) with `store`, `identity`.
fn start(dir: &Path, store: &str, identity: &Path) -> Host {
    let log = std::fs::File::create(dir.join("host.log")).unwrap();
    let mut command = serve::serve_command(
        Path::new(env!("CARGO_BIN_EXE_keruj-host")),
        &dir.join("plugins"),
        &dir.join("data"),
    );
    command
        .arg("--no-watch")
        .env("KERUJ_APP_TOKEN_HELLO", TOKEN)
        .env("KERUJ_APP_TOKEN_PROBE", TOKEN)
        .env("KERUJ_STORE", store)
        .env("KERUJ_IDENTITY", identity)
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = command.spawn().expect("keruj-host starts");
    let url = serve::wait_for_listening(&mut child, START_TIMEOUT).unwrap_or_else(|why| {
        let log = std::fs::read_to_string(dir.join("host.log")).unwrap_or_default();
        panic!("keruj-host did not start: {why}\n{log}")
    });
    Host {
        addr: url.trim_start_matches("http://").to_owned(),
        child,
    }
}

/// A folder with `hello.wasm` and `probe.wasm` (the concurrency limit
/// lifted: speed, not 503s).
fn app_folder(root: &Path, name: &str, apps: &[(&str, Vec<u8>)]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    for (app, wasm) in apps {
        std::fs::write(dir.join(format!("plugins/{app}.wasm")), wasm).unwrap();
        std::fs::write(
            dir.join(format!("plugins/{app}.toml")),
            "max_concurrency = 1000\n",
        )
        .unwrap();
    }
    dir
}

fn install_body(company: &str) -> String {
    format!(
        r#"{{"event":"application_install","company_id":"{company}","account_id":"acc","account_api_key":"kj_bench"}}"#
    )
}

fn event_body(name: &str, company: &str) -> String {
    format!(r#"{{"event":"{name}","company_id":"{company}","account_id":"acc"}}"#)
}

fn post(addr: &str, body: &str) -> u16 {
    post_to(addr, EVENTS, body)
}

fn post_to(addr: &str, path: &str, body: &str) -> u16 {
    let mut conn = Conn::open(addr).expect("connects");
    conn.post(path, TOKEN, body).expect("answers")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Bench {
    generator: Generator,
    seconds: Duration,
    rounds: usize,
    apps: Vec<(&'static str, Vec<u8>)>,
    root: tempfile::TempDir,
    server: Postgres,
    folders: usize,
}

impl Bench {
    /// A new host folder and a store URL: `sled`, or a new PostgreSQL database.
    fn fresh(&mut self, postgres: bool) -> (PathBuf, String) {
        self.folders += 1;
        let dir = app_folder(self.root.path(), &format!("h{}", self.folders), &self.apps);
        let store = match postgres {
            true => self.server.new_database(),
            false => "sled".into(),
        };
        (dir, store)
    }

    fn load(&self, addr: &str, reqs: &[Req], connections: usize) -> Stats {
        self.generator
            .run(addr, TOKEN, reqs, connections, self.seconds)
    }

    /// Configure events at c=64 on one host of `store`, the company installed.
    fn configure(&mut self, postgres: bool) -> Stats {
        let (dir, store) = self.fresh(postgres);
        let host = start(&dir, &store, &dir.join("identity.txt"));
        assert_eq!(post(&host.addr, &install_body("co-bench")), 200);
        let reqs = [Req {
            path: EVENTS.into(),
            body: event_body("application_configure", "co-bench"),
            ..Req::default()
        }];
        self.load(&host.addr, &reqs, 64)
    }

    /// Events whose plugin reads one stored `kv` value, at c=64.
    fn kv_reads(&mut self, postgres: bool) -> Stats {
        let (dir, store) = self.fresh(postgres);
        let host = start(&dir, &store, &dir.join("identity.txt"));
        let probe = "/apps/probe/events";
        assert_eq!(post_to(&host.addr, probe, &install_body("co-bench")), 200);
        let set =
            r#"{"event":"kv_set","company_id":"co-bench","data":{"key":"city","value":"Kyiv"}}"#;
        assert_eq!(post_to(&host.addr, probe, set), 200);
        let reqs = [Req {
            path: probe.into(),
            body: r#"{"event":"kv_get","company_id":"co-bench","data":{"key":"city"}}"#.into(),
            ..Req::default()
        }];
        self.load(&host.addr, &reqs, 64)
    }

    /// Installs at c=64, each of another company (a write, a commit).
    fn installs(&mut self, postgres: bool) -> Stats {
        let (dir, store) = self.fresh(postgres);
        let host = start(&dir, &store, &dir.join("identity.txt"));
        let reqs: Vec<Req> = (0..20_000)
            .map(|n| Req {
                path: EVENTS.into(),
                body: install_body(&format!("co-install-{n}")),
                ..Req::default()
            })
            .collect();
        self.load(&host.addr, &reqs, 64)
    }

    /// Configure at c=64 over `replicas` hosts of one PostgreSQL database,
    /// the connections split between them; requests/s summed.
    fn replicas(&mut self, replicas: usize) -> f64 {
        let (first, store) = self.fresh(true);
        let identity = first.join("identity.txt");
        let mut hosts = vec![start(&first, &store, &identity)];
        for _ in 1..replicas {
            let (dir, _) = self.fresh(false);
            hosts.push(start(&dir, &store, &identity));
        }
        assert_eq!(post(&hosts[0].addr, &install_body("co-bench")), 200);
        let reqs = [Req {
            path: EVENTS.into(),
            body: event_body("application_configure", "co-bench"),
            ..Req::default()
        }];
        let per_host = 64 / replicas;
        std::thread::scope(|scope| {
            let runs: Vec<_> = hosts
                .iter()
                .map(|host| scope.spawn(|| self.load(&host.addr, &reqs, per_host)))
                .collect();
            runs.into_iter().map(|run| run.join().unwrap().rps).sum()
        })
    }

    /// Uninstalled on replica A: time until replica B (which had the install
    /// in memory) answers 409. In milliseconds, one per round.
    fn uninstall_visibility(&mut self, rounds: usize) -> Vec<f64> {
        let (first, store) = self.fresh(true);
        let identity = first.join("identity.txt");
        let a = start(&first, &store, &identity);
        let (second, _) = self.fresh(false);
        let b = start(&second, &store, &identity);
        let mut on_b = Conn::open(&b.addr).unwrap();
        let mut delays = Vec::new();
        for round in 0..rounds {
            let company = format!("co-visible-{round}");
            assert_eq!(post(&a.addr, &install_body(&company)), 200);
            let configure = event_body("application_configure", &company);
            assert_eq!(on_b.post(EVENTS, TOKEN, &configure).unwrap(), 200);
            assert_eq!(
                post(&a.addr, &event_body("application_uninstall", &company)),
                200
            );
            let acknowledged = Instant::now();
            while on_b.post(EVENTS, TOKEN, &configure).unwrap() != 409 {
                assert!(acknowledged.elapsed() < Duration::from_secs(30));
            }
            delays.push(acknowledged.elapsed().as_secs_f64() * 1000.0);
        }
        delays
    }
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let plugins = std::env::var_os("KERUJ_BENCH_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "target/plugins/wasm32-wasip2/release".into());
    let read = |name: &str| {
        std::fs::read(plugins.join(format!("{name}.wasm"))).unwrap_or_else(|e| {
            panic!(
                "{}/{name}.wasm: {e} (scripts/bench-store builds it)",
                plugins.display()
            )
        })
    };
    let apps = vec![("hello", read("hello")), ("probe", read("probe"))];
    let server = Postgres::start().unwrap_or_else(|why| panic!("no PostgreSQL server: {why}"));
    let mut bench = Bench {
        generator: Generator::detect(),
        seconds: Duration::from_secs(if smoke { 1 } else { 5 }),
        rounds: if smoke { 1 } else { 3 },
        apps,
        root: tempfile::tempdir().unwrap(),
        server,
        folders: 0,
    };
    println!(
        "keruj-host store benchmark ({}), {} cores, load generator: {}, {} s per point, {} alternated rounds",
        if smoke { "smoke" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.generator.name(),
        bench.seconds.as_secs(),
        bench.rounds,
    );

    for (what, measure) in [
        (
            "configure (no write), c=64",
            Bench::configure as fn(&mut Bench, bool) -> Stats,
        ),
        ("an event reading one kv value, c=64", Bench::kv_reads),
        ("install (a write), c=64", Bench::installs),
    ] {
        let (mut sled, mut pg) = (Vec::new(), Vec::new());
        for _ in 0..bench.rounds {
            sled.push(measure(&mut bench, false));
            pg.push(measure(&mut bench, true));
        }
        let errors: u64 = sled.iter().chain(&pg).map(|s| s.errors).sum();
        let rps = |runs: &[Stats]| median(runs.iter().map(|s| s.rps).collect());
        let p99 = |runs: &[Stats]| median(runs.iter().map(|s| s.p99_us / 1000.0).collect());
        println!("\n{what}");
        println!("   store        req/s   p99 ms");
        println!("   sled      {:>8.0}  {:>7.2}", rps(&sled), p99(&sled));
        println!(
            "   postgres  {:>8.0}  {:>7.2}   {:.0}% of sled",
            rps(&pg),
            p99(&pg),
            100.0 * rps(&pg) / rps(&sled)
        );
        println!("   errors (non-2xx, socket): {errors}");
    }

    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..bench.rounds {
        one.push(bench.replicas(1));
        two.push(bench.replicas(2));
    }
    println!("\nconfigure c=64 on PostgreSQL, replicas on this machine");
    println!("   1 replica   {:>8.0} req/s", median(one.clone()));
    println!(
        "   2 replicas  {:>8.0} req/s   {:.2}x",
        median(two.clone()),
        median(two) / median(one)
    );

    let mut delays = bench.uninstall_visibility(if smoke { 3 } else { 50 });
    delays.sort_by(f64::total_cmp);
    println!(
        "\nuninstall on one replica -> another answers 409 ({} rounds)\n   median {:.2} ms   p90 {:.2} ms   max {:.2} ms",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() * 9 / 10],
        delays[delays.len() - 1]
    );
}
