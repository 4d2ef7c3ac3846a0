//! End-to-end benchmark (issue 6); not a test. Over loopback, with a load
//! generator (`wrk`, see [`load`]), it measures requests/s and p50/p99
//! latency of hello's configure event served by:
//!
//! - `native`: hello's logic compiled into a plain hyper server ([`native`]);
//! - `keruj-host`: the real binary serving `hello.wasm`;
//! - peers, when built (`scripts/bench` builds them, `bench/peers/`): an
//!   Extism host and `wasmtime serve` with a wasi-http component;
//!
//! at concurrency 1, 16 and 64, in one table with ratios to native measured
//! in the same run. Then the scale runs: keruj-host with 1, 10 and 100 apps
//! and up to 1,000 installed companies, with its RSS idle and under load.
//!
//! `scripts/bench` builds everything and runs it; `--smoke` is one short
//! point of each (seconds, for CI). Inputs, from the environment:
//! `KERUJ_BENCH_PLUGINS` (folder with `hello.wasm`), `KERUJ_BENCH_PEERS`
//! (folder with `extism-host`, `extism_hello.wasm`, `http_hello.wasm`),
//! `KERUJ_BENCH_WASMTIME` (a `wasmtime` CLI), `KERUJ_BENCH_HOST` (another
//! `keruj-host` binary, to compare builds: before/after an optimisation).
//! `-- --alternate <rounds>` measures native and keruj-host (and
//! `KERUJ_BENCH_BEFORE`, an earlier build) in turn instead ([`alternate`]);
//! `-- --apps <rounds> <n>` one app against `n` apps, in turn;
//! `-- --sequential <rounds> <plugin.wasm>...` the latency of one event at
//! a time on a keep-alive connection, this build against the earlier one;
//! `-- --schedules <rounds> <companies>` Keruj's configure with and without
//! `companies` scheduled runs a minute beside it ([`schedules`]);
//! `-- --webhooks <rounds> <companies>` verified webhook deliveries a
//! second, and configure beside them ([`webhooks`]).

mod alternate;
#[path = "../../../bench/front.rs"]
mod front;
#[path = "../../../bench/hello_logic.rs"]
#[allow(dead_code)]
mod hello_logic;
mod load;
mod native;
mod scale;
mod schedules;
#[path = "../../support/serve.rs"]
mod serve;
mod servers;
mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use keruj_guest::form::Form;
use load::{Conn, Generator, Req, Stats};
use servers::Server;

pub const TOKEN: &str = "bench-token";
pub const COMPANY: &str = "co-bench";

/// Starts one target's server.
type Starter<'a> = Box<dyn Fn() -> Server + 'a>;

pub struct Plan {
    pub smoke: bool,
    pub seconds: u64,
    pub concurrency: Vec<usize>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--native-serve") {
        return native::serve(&args[at + 1], TOKEN);
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let plan = match smoke {
        true => Plan {
            smoke,
            seconds: 1,
            concurrency: vec![16],
        },
        false => Plan {
            smoke,
            seconds: 5,
            concurrency: vec![1, 16, 64],
        },
    };
    let generator = Generator::detect();
    println!(
        "keruj-host end-to-end benchmark ({}), {} cores, load generator: {}, {} s per point",
        if smoke { "smoke" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        generator.name(),
        plan.seconds,
    );
    let plugins = env_dir("KERUJ_BENCH_PLUGINS")
        .unwrap_or_else(|| repo().join("target/plugins/wasm32-wasip2/release"));
    let hello = std::fs::read(plugins.join("hello.wasm"))
        .expect("hello.wasm: run scripts/bench (or scripts/build-plugins) first");
    // The operands after a flag, up to `cargo bench`'s own `--bench`.
    let operands = |at: usize| -> Vec<String> {
        let rest = args[at + 1..].iter();
        rest.take_while(|a| !a.starts_with("--")).cloned().collect()
    };
    let rounds = |operands: &[String]| operands.first().and_then(|n| n.parse().ok()).unwrap_or(5);
    if let Some(at) = args.iter().position(|a| a == "--alternate") {
        return alternate::run(&plan, &generator, &hello, rounds(&operands(at)));
    }
    if let Some(at) = args.iter().position(|a| a == "--apps") {
        let operands = operands(at);
        let apps = operands.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
        return alternate::apps(&plan, &generator, &hello, rounds(&operands), apps);
    }
    if let Some(at) = args.iter().position(|a| a == "--schedules") {
        let operands = operands(at);
        let companies = operands
            .get(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        return schedules::run(&plan, &generator, &hello, rounds(&operands), companies);
    }
    if let Some(at) = args.iter().position(|a| a == "--webhooks") {
        let operands = operands(at);
        let companies = operands.get(1).and_then(|n| n.parse().ok()).unwrap_or(100);
        return webhooks::run(&plan, &generator, &hello, rounds(&operands), companies);
    }
    if let Some(at) = args.iter().position(|a| a == "--sequential") {
        let operands = operands(at);
        assert!(
            operands.len() >= 2,
            "usage: --sequential <rounds> <plugin.wasm>..."
        );
        return alternate::sequential(rounds(&operands), &operands[1..]);
    }

    let mut targets: Vec<(&str, Starter)> = vec![
        ("native", Box::new(Server::native)),
        ("keruj-host", Box::new(|| Server::keruj(&hello))),
    ];
    match env_dir("KERUJ_BENCH_PEERS").filter(|d| d.join("extism-host").exists()) {
        Some(peers) => {
            let peers2 = peers.clone();
            targets.push(("extism", Box::new(move || Server::extism(&peers))));
            match servers::wasmtime_cli() {
                Some(cli) => targets.push((
                    "wasmtime serve",
                    Box::new(move || Server::wasmtime_serve(&cli, &peers2)),
                )),
                None => println!(
                    "note: no `wasmtime` CLI (KERUJ_BENCH_WASMTIME): `wasmtime serve` skipped"
                ),
            }
        }
        None => println!(
            "note: peers not built (KERUJ_BENCH_PEERS): Extism and `wasmtime serve` skipped{}",
            if smoke { " in the smoke run" } else { "" }
        ),
    }

    let mut rows: Vec<Row> = Vec::new();
    let mut reference: Option<Form> = None;
    for (name, start) in &targets {
        let server = start();
        let form = server.configure_form();
        // Every target must give the same answer, or the comparison is void.
        match &reference {
            None => reference = Some(form),
            Some(expected) => assert_eq!(&form, expected, "{name} answers another form"),
        }
        if !plan.smoke {
            warm_up(&generator, &server);
        }
        for &c in &plan.concurrency {
            let load = || {
                let duration = Duration::from_secs(plan.seconds);
                generator.run(&server.addr, TOKEN, &server.configure(), c, duration)
            };
            let stats = server.measure(load, plan.seconds);
            rows.push((*name, c, stats, server.rss_kib()));
        }
    }
    print_table(&plan, &rows);
    scale::run(&plan, &generator, &hello);
}

/// One point of the comparison: target, concurrency, what it measured, RSS in KiB.
type Row<'a> = (&'a str, usize, Stats, Option<u64>);

fn print_table(plan: &Plan, rows: &[Row]) {
    println!("\n1. hello's configure event over loopback (ratios to native, same run)");
    println!(
        "   {:<15} {:>4} {:>10} {:>9} {:>9} {:>9} {:>7} {:>9} {:>10} {:>10}",
        "target",
        "c",
        "req/s",
        "vs native",
        "p50 ms",
        "p99 ms",
        "errors",
        "RSS MiB",
        "CPU µs/req",
        "vs native"
    );
    for &c in &plan.concurrency {
        let native = rows.iter().find(|r| r.0 == "native" && r.1 == c);
        for (name, _, stats, rss) in rows.iter().filter(|r| r.1 == c) {
            let rps_ratio = native.map_or("-".into(), |n| {
                format!("{:.0}%", 100.0 * stats.rps / n.2.rps)
            });
            // The server's CPU per request: the measure that a busy machine
            // disturbs least (it does not depend on the share of the cores
            // the server got). Shown as a multiple of native's.
            let cpu_ratio = match (stats.cpu_us, native.and_then(|n| n.2.cpu_us)) {
                (Some(cpu), Some(base)) if base > 0.0 => format!("{:.1}x", cpu / base),
                _ => "-".into(),
            };
            println!(
                "   {:<15} {:>4} {:>10.0} {:>9} {:>9.3} {:>9.3} {:>7} {:>9} {:>10} {:>10}",
                name,
                c,
                stats.rps,
                rps_ratio,
                stats.p50_us / 1000.0,
                stats.p99_us / 1000.0,
                stats.errors,
                rss.map_or("-".into(), |kib| format!("{:.0}", kib as f64 / 1024.0)),
                stats.cpu_us.map_or("-".into(), |us| format!("{us:.1}")),
                cpu_ratio,
            );
        }
    }
}

/// A second of load before measuring (pool slots, connections, caches); not reported.
pub fn warm_up(generator: &Generator, server: &Server) {
    generator.run(
        &server.addr,
        TOKEN,
        &server.configure(),
        16,
        Duration::from_secs(1),
    );
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The configure event for `company`.
pub fn configure_body(company: &str) -> String {
    format!(r#"{{"event":"application_configure","company_id":"{company}","account_id":"acc"}}"#)
}

/// Posts one event over a fresh connection: status and body.
pub fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut conn = Conn::open(addr).unwrap_or_else(|| panic!("cannot connect to {addr}"));
    conn.request(path, TOKEN, body)
        .unwrap_or_else(|e| panic!("{addr}{path}: {e}"))
}

impl Server {
    /// The one request of the comparison: configure for the installed company.
    pub fn configure(&self) -> Vec<Req> {
        vec![Req {
            path: "/apps/hello/events".into(),
            body: configure_body(COMPANY),
            ..Req::default()
        }]
    }

    /// The form this server answers configure with; panics on anything else.
    pub fn configure_form(&self) -> Form {
        let req = &self.configure()[0];
        let (status, body) = post(&self.addr, &req.path, &req.body);
        assert_eq!(
            status, 200,
            "{}: configure answered {status}: {body}",
            self.name
        );
        Form::from_json(&body).unwrap_or_else(|e| panic!("{}: {e}: {body}", self.name))
    }
}
