//! Alternated runs: servers started side by side and measured in turn,
//! round after round (the order rotating each round), then the median of
//! each. On 2 cores shared with other work one point moves by ±25%;
//! alternated rounds put every target through the same weather, and the
//! medians are what BENCHMARKS.md reports.
//!
//! - `-- --alternate <rounds>`: native, this build's keruj-host (serving
//!   `hello`, and serving the null plugin answering hello's form) and, with
//!   `KERUJ_BENCH_BEFORE=<keruj-host binary>`, an earlier build, at c=64.
//! - `-- --apps <rounds> <n>`: this build serving one `hello`, then `n`
//!   copies of it with the load spread over all of them (and the same for
//!   `KERUJ_BENCH_BEFORE`), at c=64: what many loaded apps cost, paired.
//! - `-- --sequential <rounds> <plugin.wasm>...`: for each plugin, this
//!   build (and `KERUJ_BENCH_BEFORE`) serving it; each round sends
//!   [`SEQUENTIAL`] configure events one after the other on one keep-alive
//!   connection to each server in turn, and the latency of each is kept:
//!   what one event costs a client that waits for every answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keruj_guest::form::Form;

use crate::load::{Conn, Generator, Req, Stats};
use crate::servers::{Server, keruj_binary};
use crate::{Plan, TOKEN, configure_body};

/// The concurrency of the target.
const CONNECTIONS: usize = 64;

/// Events per server per round in `--sequential`.
const SEQUENTIAL: usize = 200;

/// One server under alternated load, with the requests it is sent.
struct Target {
    name: String,
    server: Server,
    reqs: Vec<Req>,
}

impl Target {
    fn hello(name: &str, server: Server) -> Target {
        let reqs = server.configure();
        Target {
            name: name.into(),
            server,
            reqs,
        }
    }
}

fn before() -> Option<PathBuf> {
    std::env::var_os("KERUJ_BENCH_BEFORE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `--alternate <rounds>`.
pub fn run(plan: &Plan, generator: &Generator, hello: &[u8], rounds: usize) {
    // The floor: this build serving a plugin that does nothing but answer
    // hello's form (`null_reply.wat`). The same HTTP path and the same reply
    // as hello, and the cheapest sandboxed event there is: the most any
    // plugin-side saving could give end to end.
    let floor = wat::parse_str(include_str!("../null_reply.wat")).expect("null_reply.wat");
    let mut targets = vec![
        Target::hello("native", Server::native()),
        Target::hello("keruj-host", Server::keruj(hello)),
        Target::hello("keruj-host, floor", Server::keruj(&floor)),
    ];
    if let Some(before) = before() {
        targets.push(Target::hello(
            "keruj-host before",
            Server::keruj_binary(&before, hello),
        ));
    }
    alternate(plan, generator, targets, rounds);
}

/// `--apps <rounds> <n>`.
pub fn apps(plan: &Plan, generator: &Generator, hello: &[u8], rounds: usize, apps: usize) {
    let mut builds = vec![("", keruj_binary())];
    builds.extend(before().map(|before| (" before", before)));
    let mut targets = Vec::new();
    for (suffix, binary) in builds {
        for n in [1, apps] {
            let (server, reqs) = Server::keruj_apps(&binary, hello, n);
            targets.push(Target {
                name: format!("{n} app{}{suffix}", if n == 1 { "" } else { "s" }),
                server,
                reqs,
            });
        }
    }
    alternate(plan, generator, targets, rounds);
}

fn alternate(plan: &Plan, generator: &Generator, targets: Vec<Target>, rounds: usize) {
    println!(
        "\nalternated runs at c={CONNECTIONS}, {} s each; keruj-host is {}",
        plan.seconds,
        keruj_binary().display()
    );
    for target in &targets {
        let warm = Duration::from_secs(1);
        generator.run(&target.server.addr, TOKEN, &target.reqs, 16, warm);
    }
    let mut stats: Vec<Vec<Stats>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for turn in 0..targets.len() {
            let at = (turn + round) % targets.len();
            let target = &targets[at];
            let load = || {
                let duration = Duration::from_secs(plan.seconds);
                generator.run(
                    &target.server.addr,
                    TOKEN,
                    &target.reqs,
                    CONNECTIONS,
                    duration,
                )
            };
            let point = target.server.measure(load, plan.seconds);
            println!(
                "   round {:>2}  {:<18} {:>9.0} req/s  p99 {:>7.3} ms  {:>6} CPU µs/req  errors {}",
                round + 1,
                target.name,
                point.rps,
                point.p99_us / 1000.0,
                point.cpu_us.map_or("-".into(), |us| format!("{us:.1}")),
                point.errors,
            );
            stats[at].push(point);
        }
    }
    println!("\n   medians of {rounds} rounds");
    println!(
        "   {:<18} {:>9} {:>9} {:>9} {:>10}",
        "target",
        "req/s",
        format!("vs {}", truncate(&targets[0].name, 6)),
        "p99 ms",
        "CPU µs/req"
    );
    let first_rps = median(stats[0].iter().map(|s| s.rps));
    for (target, points) in targets.iter().zip(&stats) {
        let rps = median(points.iter().map(|s| s.rps));
        println!(
            "   {:<18} {:>9.0} {:>8.0}% {:>9.3} {:>10.1}",
            target.name,
            rps,
            100.0 * rps / first_rps,
            median(points.iter().map(|s| s.p99_us)) / 1000.0,
            median(points.iter().filter_map(|s| s.cpu_us)),
        );
    }
}

/// `--sequential <rounds> <plugin>...`.
pub fn sequential(rounds: usize, plugins: &[String]) {
    let mut builds = vec![("this build", keruj_binary())];
    builds.extend(before().map(|before| ("before", before)));
    println!(
        "\nsequential configure events on one keep-alive connection per server, \
         {SEQUENTIAL} per server per round, {rounds} rounds, servers in turn; \
         this build is {}",
        keruj_binary().display()
    );
    println!(
        "   {:<28} {:<11} {:>8} {:>8} {:>8} {:>10} {:>9}",
        "plugin", "build", "p10 ms", "median", "p90 ms", "vs first", "CPU µs"
    );
    for plugin in plugins {
        let wasm = std::fs::read(plugin).unwrap_or_else(|e| panic!("{plugin}: {e}"));
        let servers: Vec<(&str, Server, Conn)> = builds
            .iter()
            .map(|(name, binary)| {
                let server = Server::keruj_binary(binary, &wasm);
                let conn = Conn::open(&server.addr).expect("connect");
                (*name, server, conn)
            })
            .collect();
        let mut servers = servers;
        let mut form: Option<Form> = None;
        for (name, server, conn) in &mut servers {
            let answer = server.configure_form();
            match &form {
                None => form = Some(answer),
                Some(first) => assert_eq!(&answer, first, "{name} answers another form"),
            }
            // Warm-up: pool slots, caches, the connection.
            for _ in 0..SEQUENTIAL / 4 {
                send(conn);
            }
        }
        let mut took: Vec<Vec<Duration>> = vec![Vec::new(); servers.len()];
        let mut cpu = vec![0.0; servers.len()];
        for round in 0..rounds {
            for turn in 0..servers.len() {
                let at = (turn + round) % servers.len();
                let (_, server, conn) = &mut servers[at];
                let cpu_before = server.cpu_seconds().unwrap_or(0.0);
                for _ in 0..SEQUENTIAL {
                    took[at].push(send(conn));
                }
                cpu[at] += server.cpu_seconds().unwrap_or(0.0) - cpu_before;
            }
        }
        let name = Path::new(plugin).file_name().unwrap().to_string_lossy();
        let mut first = None;
        for (((build, _, _), took), cpu) in servers.iter().zip(&mut took).zip(&cpu) {
            took.sort_unstable();
            let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
            let median = at(0.5);
            let first = *first.get_or_insert(median);
            println!(
                "   {:<28} {:<11} {:>8.3} {:>8.3} {:>8.3} {:>9.2}x {:>9.1}",
                truncate(&name, 28),
                build,
                at(0.1),
                median,
                at(0.9),
                median / first,
                cpu * 1e6 / took.len() as f64,
            );
        }
    }
}

/// One configure event on `conn`: how long until its answer was read.
fn send(conn: &mut Conn) -> Duration {
    let body = configure_body(crate::COMPANY);
    let started = Instant::now();
    let status = conn.post("/apps/hello/events", TOKEN, &body);
    let took = started.elapsed();
    assert!(matches!(status, Ok(200)), "configure answered {status:?}");
    took
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() % 2 {
        1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    }
}
