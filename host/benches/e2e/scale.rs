//! Scale: keruj-host's cost as apps and installed companies grow. Each
//! point starts the host on the same data folder (so the compile cache and
//! earlier installs carry over) with `apps` copies of hello loaded and
//! `companies` installed per app, then spreads the load over every (app,
//! company). Reported beside requests/s and latency: the host's RSS idle
//! (after start-up and the installs) and its peak while under load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::load::{Conn, Generator, Req};
use crate::servers::{Server, install_body, write_apps};
use crate::{Plan, TOKEN, configure_body};

/// Concurrency of every scale point: the target load.
const CONCURRENCY: usize = 64;

/// Installs run this many at a time (each flushes the database before it is
/// answered). Concurrent flushes once froze sled (spacejam/sled#1308); the
/// host serializes them now, and its test
/// `crashes::concurrent_durable_writes_never_freeze_the_host` guards that.
const INSTALLERS: usize = 4;

pub fn run(plan: &Plan, generator: &Generator, hello: &[u8]) {
    let points: &[(usize, usize)] = match plan.smoke {
        true => &[(1, 1), (10, 10)],
        false => &[(1, 1), (10, 1), (100, 1), (1, 1000), (100, 10)],
    };
    let concurrency = if plan.smoke { 16 } else { CONCURRENCY };
    println!(
        "\n2. scale: keruj-host, load spread over every app and company, c={concurrency}, {} s per point",
        plan.seconds
    );
    println!(
        "   {:>5} {:>10} {:>10} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>10}",
        "apps",
        "companies",
        "req/s",
        "vs first",
        "p50 ms",
        "p99 ms",
        "errors",
        "idle MiB",
        "load MiB",
        "CPU µs/req"
    );
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let mut installed = std::collections::HashSet::new();
    let mut first = None;
    for &(apps, companies) in points {
        let names: Vec<String> = (0..apps).map(|i| format!("app-{i:03}")).collect();
        let _ = std::fs::remove_dir_all(&plugins);
        write_apps(&plugins, hello, &names);
        // The same folder each time: keep it when the server is dropped.
        let kept = tempfile::TempDir::with_prefix_in("point", dir.path()).unwrap();
        let server = Server::keruj_in(own(&dir, kept), &names);
        let pairs: Vec<(String, String)> = names
            .iter()
            .flat_map(|app| (0..companies).map(move |c| (app.clone(), format!("co-{c:04}"))))
            .collect();
        let missing: Vec<_> = pairs.iter().filter(|p| !installed.contains(*p)).collect();
        let started = std::time::Instant::now();
        install_all(&server.addr, &server.log_path(), &missing);
        if !missing.is_empty() {
            eprintln!(
                "   ({} installs in {:.1?})",
                missing.len(),
                started.elapsed()
            );
        }
        installed.extend(pairs.iter().cloned());
        std::thread::sleep(Duration::from_millis(500));
        let idle = server.rss_kib().unwrap_or(0);

        // Interleave apps and companies: consecutive requests differ in both.
        let reqs: Vec<Req> = (0..pairs.len())
            .map(|k| {
                let app = &names[k % apps];
                let company = format!("co-{:04}", (k / apps) % companies);
                Req {
                    path: format!("/apps/{app}/events"),
                    body: configure_body(&company),
                    ..Req::default()
                }
            })
            .collect();
        if !plan.smoke {
            generator.run(
                &server.addr,
                TOKEN,
                &reqs,
                concurrency,
                Duration::from_secs(1),
            );
        }
        let (stats, peak) = while_sampling(&server, || {
            let duration = Duration::from_secs(plan.seconds);
            let load = || generator.run(&server.addr, TOKEN, &reqs, concurrency, duration);
            server.measure(load, plan.seconds)
        });
        let base = *first.get_or_insert(stats.rps);
        println!(
            "   {:>5} {:>10} {:>10.0} {:>7.0}% {:>9.3} {:>9.3} {:>7} {:>9.0} {:>9.0} {:>10}",
            apps,
            apps * companies,
            stats.rps,
            100.0 * stats.rps / base,
            stats.p50_us / 1000.0,
            stats.p99_us / 1000.0,
            stats.errors,
            idle as f64 / 1024.0,
            peak as f64 / 1024.0,
            stats.cpu_us.map_or("-".into(), |us| format!("{us:.1}")),
        );
    }
}

/// Every point's server uses `dir/plugins` and `dir/data`; the TempDir it
/// owns is a throwaway inside `dir`, so dropping the server keeps the data.
pub fn own(dir: &tempfile::TempDir, kept: tempfile::TempDir) -> tempfile::TempDir {
    // keruj_in reads `plugins` and `data` under the TempDir it is given:
    // point them at the shared ones.
    let _ = std::os::unix::fs::symlink(dir.path().join("plugins"), kept.path().join("plugins"));
    let _ = std::fs::create_dir_all(dir.path().join("data"));
    let _ = std::os::unix::fs::symlink(dir.path().join("data"), kept.path().join("data"));
    kept
}

/// Installs (app, company) pairs, [`INSTALLERS`] at a time (each install flushes).
pub fn install_all(addr: &str, log: &std::path::Path, pairs: &[&(String, String)]) {
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..INSTALLERS {
            // A connection per install, as Keruj would.
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((app, company)) = pairs.get(i) else {
                        break;
                    };
                    let path = format!("/apps/{app}/events");
                    let status = Conn::open(addr)
                        .ok_or_else(|| std::io::Error::other("cannot connect"))
                        .and_then(|mut conn| conn.post(&path, TOKEN, &install_body(company)));
                    assert!(
                        matches!(status, Ok(200)),
                        "install of {app}/{company}: {status:?}; the host's log ({}):\n{}",
                        log.display(),
                        log_tail(log)
                    );
                }
            });
        }
    });
}

/// Runs `work` while sampling the server's RSS; the peak, in KiB.
fn while_sampling<R>(server: &Server, work: impl FnOnce() -> R) -> (R, u64) {
    let (stop, peak) = (AtomicBool::new(false), AtomicU64::new(0));
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(server.rss_kib().unwrap_or(0), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let result = work();
        stop.store(true, Ordering::Relaxed);
        result
    });
    (result, peak.load(Ordering::Relaxed))
}

fn log_tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
