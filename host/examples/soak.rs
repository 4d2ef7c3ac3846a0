//! The soak test's load generator (`scripts/soak` builds and runs it): starts
//! the real `keruj-host` binary with the `hello` plugin, sends a mixed Keruj
//! workload at high concurrency for a while, and reports errors (must be 0),
//! latency percentiles and the host's resident memory after warm-up and at
//! the end (growth must stay under a bound). Exits non-zero on any error or
//! on too much growth.
//!
//! Each virtual client loops over fresh companies, each a whole life:
//! install, configure (a form), submit the form, a custom event (an echo
//! form), uninstall; each answer must be 200.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../support/serve.rs"]
mod serve;

const TOKEN: &str = "soak-token-0b9e";

struct Options {
    bin: PathBuf,
    plugin: PathBuf,
    duration: Duration,
    concurrency: usize,
    max_rss_growth_mb: u64,
}

fn options() -> Options {
    let mut options = Options {
        bin: "target/release/keruj-host".into(),
        plugin: "target/plugins/wasm32-wasip2/release/hello.wasm".into(),
        duration: Duration::from_secs(120),
        concurrency: 64,
        max_rss_growth_mb: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--bin" => options.bin = value.into(),
            "--plugin" => options.plugin = value.into(),
            "--duration" => options.duration = Duration::from_secs(number(&value)),
            "--concurrency" => options.concurrency = number(&value) as usize,
            "--max-rss-growth-mb" => options.max_rss_growth_mb = number(&value),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    options
}

fn number(value: &str) -> u64 {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("{value} is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "soak: {problem}\nusage: soak [--bin PATH] [--plugin hello.wasm] [--duration SECS] \
         [--concurrency N] [--max-rss-growth-mb MB]"
    );
    std::process::exit(2)
}

/// The host's resident memory, in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_errors: Vec<String>,
}

/// One virtual client: company lives until `deadline`.
async fn client(id: usize, url: Arc<str>, http: reqwest::Client, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut life = 0u64;
    while Instant::now() < deadline {
        life += 1;
        let company = format!("soak-{id}-{life}");
        let base = json!({"company_id": company, "account_id": "soak-account"});
        let with = |event: &str, extra: Value| {
            let mut body = base.clone();
            body["event"] = event.into();
            if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
                body.extend(extra);
            }
            body
        };
        let steps = [
            with(
                "application_install",
                json!({"account_api_key": format!("kj_soak_{id}_{life}")}),
            ),
            with("application_configure", json!({})),
            with("name_submitted", json!({"data": {"name": "Soak"}})),
            with("order_created", json!({"data": {"order": life}})),
            with("application_uninstall", json!({})),
        ];
        for step in steps {
            let started = Instant::now();
            let sent = http
                .post(&*url)
                .header("x-keruj-app-token", TOKEN)
                .body(step.to_string())
                .send()
                .await;
            let outcome = match sent {
                Ok(response) if response.status() == 200 => response
                    .bytes()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Ok(response) => Err(format!("{}: {}", response.status(), step["event"])),
                Err(error) => Err(error.to_string()),
            };
            tally
                .latencies_us
                .push(started.elapsed().as_micros() as u32);
            if let Err(error) = outcome {
                tally.errors += 1;
                if tally.first_errors.len() < 3 {
                    tally.first_errors.push(error);
                }
                break;
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn main() {
    let options = options();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(&options.plugin, plugins.join("hello.wasm"))
        .unwrap_or_else(|e| usage(&format!("{}: {e}", options.plugin.display())));
    // The soak measures the host, not the concurrency limit's refusals.
    std::fs::write(
        plugins.join("hello.toml"),
        format!("max_concurrency = {}\n", options.concurrency.max(1)),
    )
    .unwrap();

    let mut host = serve::serve_command(&options.bin, &plugins, &dir.path().join("data"))
        .arg("--no-watch")
        .env("KERUJ_APP_TOKEN_HELLO", TOKEN)
        .env("KERUJ_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| usage(&format!("{}: {e}", options.bin.display())));
    let base = serve::wait_for_listening(&mut host, Duration::from_secs(120))
        .unwrap_or_else(|why| panic!("the host did not start: {why}"));
    let pid = host.id();
    let url: Arc<str> = format!("{base}/apps/hello/events").into();
    println!(
        "soak: {} clients for {:?} against {base} (pid {pid})",
        options.concurrency, options.duration
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .unwrap();
    let started = Instant::now();
    let deadline = started + options.duration;
    // Memory after warm-up (a fifth of the run, at most 30 s) and at the end.
    let warmup = (options.duration / 5).min(Duration::from_secs(30));
    let (tallies, rss_start, rss_end) = runtime.block_on(async {
        let tasks: Vec<_> = (0..options.concurrency)
            .map(|id| tokio::spawn(client(id, url.clone(), http.clone(), deadline)))
            .collect();
        tokio::time::sleep(warmup).await;
        let rss_start = rss_kib(pid);
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.unwrap());
        }
        (tallies, rss_start, rss_kib(pid))
    });
    let elapsed = started.elapsed();

    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    // (`wait_for_listening` reads the rest of its stdout, so it exits cleanly.)
    let status = host.wait().unwrap();

    let mut latencies: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.clone())
        .collect();
    latencies.sort_unstable();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let growth_mb = rss_end.saturating_sub(rss_start) / 1024;
    println!("requests      {}", latencies.len());
    println!(
        "throughput    {:.0} requests/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!("errors        {errors}");
    for error in tallies.iter().flat_map(|t| t.first_errors.iter()).take(5) {
        println!("  e.g. {error}");
    }
    println!(
        "latency ms    p50 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "host RSS MiB  after warm-up {:.1}  at the end {:.1}  growth {growth_mb} (bound {})",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        options.max_rss_growth_mb
    );
    println!("host exit     {status}");
    let ok = errors == 0
        && growth_mb <= options.max_rss_growth_mb
        && status.success()
        && !latencies.is_empty();
    println!("soak: {}", if ok { "PASS" } else { "FAIL" });
    std::process::exit(if ok { 0 } else { 1 });
}
