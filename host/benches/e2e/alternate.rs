//! `-- --alternate <rounds>`: native, this build's keruj-host (serving
//! `hello`, and serving the null plugin answering hello's form) and, with
//! `KERUJ_BENCH_BEFORE=<keruj-host binary>`, an earlier build, all started
//! side by side and measured in turn at c=64, round after round (the order
//! rotating each round), then the median of each. On 2 cores shared with
//! other work one point moves by ±25%; alternated rounds put every target
//! through the same weather, and the medians are what BENCHMARKS.md reports.

use std::path::PathBuf;
use std::time::Duration;

use crate::load::{Generator, Stats};
use crate::servers::{Server, keruj_binary};
use crate::{Plan, TOKEN};

/// The concurrency of the target.
const CONNECTIONS: usize = 64;

pub fn run(plan: &Plan, generator: &Generator, hello: &[u8], rounds: usize) {
    // The floor: this build serving a plugin that does nothing but answer
    // hello's form (`null_reply.wat`). The same HTTP path and the same reply
    // as hello, and the cheapest sandboxed event there is: the most any
    // plugin-side saving could give end to end.
    let floor = wat::parse_str(include_str!("../null_reply.wat")).expect("null_reply.wat");
    let mut targets: Vec<(String, Server)> = vec![
        ("native".into(), Server::native()),
        ("keruj-host".into(), Server::keruj(hello)),
        ("keruj-host, floor".into(), Server::keruj(&floor)),
    ];
    if let Some(before) = std::env::var_os("KERUJ_BENCH_BEFORE").filter(|v| !v.is_empty()) {
        let before = PathBuf::from(before);
        targets.push((
            "keruj-host before".into(),
            Server::keruj_binary(&before, hello),
        ));
    }
    println!(
        "\nalternated runs at c={CONNECTIONS}, {} s each; keruj-host is {}",
        plan.seconds,
        keruj_binary().display()
    );
    for (_, server) in &targets {
        crate::warm_up(generator, server);
    }
    let mut stats: Vec<Vec<Stats>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for turn in 0..targets.len() {
            let at = (turn + round) % targets.len();
            let (name, server) = &targets[at];
            let load = || {
                let duration = Duration::from_secs(plan.seconds);
                generator.run(
                    &server.addr,
                    TOKEN,
                    &server.configure(),
                    CONNECTIONS,
                    duration,
                )
            };
            let point = server.measure(load, plan.seconds);
            println!(
                "   round {:>2}  {:<18} {:>9.0} req/s  p99 {:>7.3} ms  {:>6} CPU µs/req  errors {}",
                round + 1,
                name,
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
        "target", "req/s", "vs native", "p99 ms", "CPU µs/req"
    );
    let native_rps = median(stats[0].iter().map(|s| s.rps));
    for ((name, _), points) in targets.iter().zip(&stats) {
        let rps = median(points.iter().map(|s| s.rps));
        println!(
            "   {:<18} {:>9.0} {:>8.0}% {:>9.3} {:>10.1}",
            name,
            rps,
            100.0 * rps / native_rps,
            median(points.iter().map(|s| s.p99_us)) / 1000.0,
            median(points.iter().filter_map(|s| s.cpu_us)),
        );
    }
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
