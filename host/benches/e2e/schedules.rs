//! `--schedules <rounds> <companies>` (issue 21): do scheduled runs delay
//! Keruj's own requests? keruj-host serves two apps from one data folder:
//! `front` (hello, one company), loaded by the generator with configure
//! events, and `ticker` (hello again), installed for `companies` companies
//! with a `[[schedule]]` every minute: `companies` due runs per minute,
//! spread over the minute. Each round measures `front` twice, in turn
//! (order rotating): with `ticker`'s schedule, and with it removed from the
//! sidecar (the same installs, no runs). Reported: configure's requests/s,
//! p50/p99 and CPU per request both ways, and with the schedule the runs
//! started per second and their lag (due → start) from `/metrics`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::load::{Generator, Req, Stats};
use crate::scale::{install_all, own};
use crate::servers::Server;
use crate::{COMPANY, Plan, TOKEN, configure_body, post};

const CONCURRENCY: usize = 16;
/// Time for the runs to settle into their spread after a (re)start, which
/// catches up the due times missed while the host was down at once.
const WARM_UP: Duration = Duration::from_secs(20);

pub fn run(plan: &Plan, generator: &Generator, hello: &[u8], rounds: usize, companies: usize) {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    crate::servers::write_apps(&plugins, hello, &["front", "ticker"]);
    let names = ["front".to_owned(), "ticker".to_owned()];
    let start = |scheduled: bool| {
        let sidecar = match scheduled {
            true => "max_concurrency = 1000\n[[schedule]]\nevent = \"tick\"\nevery = \"1m\"\n",
            false => "max_concurrency = 1000\n",
        };
        std::fs::write(plugins.join("ticker.toml"), sidecar).unwrap();
        let kept = tempfile::TempDir::with_prefix_in("round", dir.path()).unwrap();
        Server::keruj_in(own(&dir, kept), &names)
    };

    let server = start(false);
    let pairs: Vec<(String, String)> = std::iter::once(("front".into(), COMPANY.into()))
        .chain((0..companies).map(|c| ("ticker".into(), format!("co-{c:05}"))))
        .collect();
    let started = Instant::now();
    install_all(
        &server.addr,
        &server.log_path(),
        &pairs.iter().collect::<Vec<_>>(),
    );
    println!(
        "scheduled runs beside Keruj's requests: {companies} companies on `every = \"1m\"` \
         ({:.0} due runs/s), configure at c={CONCURRENCY}, {} s per point after {:?} of warm-up; \
         {} installs took {:.1?}",
        companies as f64 / 60.0,
        plan.seconds,
        WARM_UP,
        pairs.len(),
        started.elapsed()
    );
    drop(server);

    let reqs = vec![Req {
        path: "/apps/front/events".into(),
        body: configure_body(COMPANY),
        ..Req::default()
    }];
    let mut with = Vec::new();
    let mut without = Vec::new();
    println!(
        "round  {:<16} {:>8} {:>8} {:>8} {:>10} {:>9} {:>11} {:>11}",
        "schedule", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "runs/s", "lag p50 s", "lag p99 s"
    );
    for round in 0..rounds {
        let order = match round % 2 {
            0 => [true, false],
            _ => [false, true],
        };
        for scheduled in order {
            let server = start(scheduled);
            assert_eq!(
                post(&server.addr, "/apps/front/events", &configure_body(COMPANY)).0,
                200
            );
            std::thread::sleep(WARM_UP);
            let before = Scrape::take(&server);
            let load = || {
                generator.run(
                    &server.addr,
                    TOKEN,
                    &reqs,
                    CONCURRENCY,
                    Duration::from_secs(plan.seconds),
                )
            };
            let stats = server.measure(load, plan.seconds);
            let after = Scrape::take(&server);
            let runs = (after.runs - before.runs) / plan.seconds as f64;
            let lag = after.lag_minus(&before);
            println!(
                "{:<6} {:<16} {:>8.0} {:>8.3} {:>8.3} {:>10} {:>9.1} {:>11} {:>11}",
                round + 1,
                if scheduled { "every 1m" } else { "none" },
                stats.rps,
                stats.p50_us / 1000.0,
                stats.p99_us / 1000.0,
                stats.cpu_us.map_or("-".into(), |us| format!("{us:.1}")),
                runs,
                quantile(&lag, 0.5).map_or("-".into(), |s| format!("≤{s:.2}")),
                quantile(&lag, 0.99).map_or("-".into(), |s| format!("≤{s:.2}")),
            );
            match scheduled {
                true => with.push((stats, runs)),
                false => without.push((stats, runs)),
            }
        }
    }
    summary(&with, &without);
}

fn summary(with: &[(Stats, f64)], without: &[(Stats, f64)]) {
    let median = |points: &[(Stats, f64)], f: &dyn Fn(&(Stats, f64)) -> f64| {
        let mut values: Vec<f64> = points.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let rps = |p: &(Stats, f64)| p.0.rps;
    let p99 = |p: &(Stats, f64)| p.0.p99_us / 1000.0;
    let runs = |p: &(Stats, f64)| p.1;
    println!(
        "\nmedians        req/s   p99 ms   runs/s\nnone       {:>8.0} {:>8.3} {:>8.1}\nevery 1m   {:>8.0} {:>8.3} {:>8.1}\n\
         with the schedule: {:.0}% of the requests/s, p99 {:.2}x",
        median(without, &rps),
        median(without, &p99),
        median(without, &runs),
        median(with, &rps),
        median(with, &p99),
        median(with, &runs),
        100.0 * median(with, &rps) / median(without, &rps),
        median(with, &p99) / median(without, &p99),
    );
}

/// What `/metrics` said of `ticker`'s scheduled runs at one moment.
struct Scrape {
    /// Scheduled runs answered (any status).
    runs: f64,
    /// The lag histogram: (upper bound in s, cumulative count).
    lag: Vec<(f64, f64)>,
}

impl Scrape {
    fn take(server: &Server) -> Scrape {
        let admin = server
            .admin
            .as_deref()
            .expect("keruj-host has an admin listener");
        let text = get(admin.trim_start_matches("http://"), "/metrics");
        let mut runs = 0.0;
        let mut lag = Vec::new();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value: f64 = value.parse().unwrap_or(0.0);
            if series.starts_with("keruj_events_total{")
                && series.contains(r#"app="ticker""#)
                && series.contains(r#"class="scheduled""#)
            {
                runs += value;
            } else if series.starts_with("keruj_schedule_lag_seconds_bucket{")
                && series.contains(r#"app="ticker""#)
                && let Some(le) = series.split("le=\"").nth(1)
            {
                let le = le.split('"').next().unwrap_or_default();
                lag.push((le.parse().unwrap_or(f64::INFINITY), value));
            }
        }
        Scrape { runs, lag }
    }

    /// The histogram of the runs between `earlier` and this scrape.
    fn lag_minus(&self, earlier: &Scrape) -> Vec<(f64, f64)> {
        self.lag
            .iter()
            .map(|(le, count)| {
                let before = earlier
                    .lag
                    .iter()
                    .find(|(l, _)| l == le)
                    .map_or(0.0, |(_, c)| *c);
                (*le, count - before)
            })
            .collect()
    }
}

/// The upper bound of the bucket holding quantile `q`, if any run was counted.
fn quantile(histogram: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = histogram.last()?.1;
    (total > 0.0).then(|| {
        histogram
            .iter()
            .find(|(_, count)| *count >= q * total)
            .map_or(f64::INFINITY, |(le, _)| *le)
    })
}

/// A plain GET over a fresh connection: the body.
fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map_or(text.clone(), |(_, body)| body.to_owned())
}
