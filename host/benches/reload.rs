//! Benchmark of hot reload and fast start (issue 4); not a test.
//!
//! Runs the real `keruj-host` binary on real plugins and prints:
//! 1. the time from the end of a write to the new version serving, with the
//!    host's own compile-and-swap time beside it;
//! 2. start-up (spawn to `apps loaded`: every app serving) with N plugins, cold cache vs warm;
//! 3. requests per second, steady vs while the app reloads again and again.
//!
//! `scripts/bench-reload` builds the plugins and runs it; `--smoke` runs one
//! short point of each (seconds, for CI). The plugins folder is read from
//! `KERUJ_BENCH_PLUGINS` (holding `hello.wasm` and `hello_v2.wasm`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "../support/serve.rs"]
mod serve;
#[path = "../support/variant.rs"]
mod variant;

use serve::{serve_command, wait_for_listening};
use variant::variant;

const TOKEN: &str = "bench-token";
const COMPANY: &str = "co-bench";

struct Plan {
    reloads: usize,
    plugins: usize,
    starts: usize,
    load_seconds: u64,
    clients: usize,
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let plan = match smoke {
        true => Plan {
            reloads: 1,
            plugins: 5,
            starts: 1,
            load_seconds: 1,
            clients: 2,
        },
        false => Plan {
            reloads: 10,
            plugins: 50,
            starts: 3,
            load_seconds: 5,
            clients: 2,
        },
    };
    let plugins = std::env::var_os("KERUJ_BENCH_PLUGINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/wasm32-wasip2/release")
        });
    let v1 = fs::read(plugins.join("hello.wasm")).expect("hello.wasm: run scripts/bench-reload");
    let v2 = fs::read(plugins.join("hello_v2.wasm")).expect("hello_v2.wasm");
    println!(
        "keruj-host reload benchmark ({}), {} cores",
        if smoke { "smoke" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    reload_latency(&plan, &v1, &v2);
    startup(&plan, &v1);
    throughput(&plan, &v1, &v2);
}

/// 1. Write a new version (by rename, never seen before, so it compiles),
///    then poll until it answers.
fn reload_latency(plan: &Plan, v1: &[u8], v2: &[u8]) {
    let host = Host::start(&[("hello", v1)]);
    host.install();
    let (mut switch, mut compile, mut overhead) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..plan.reloads {
        let (bytes, title) = match i % 2 {
            0 => (variant(v2, i), "Say hello (v2)"),
            _ => (variant(v1, i), "Say hello"),
        };
        let reloads = host.count_log("app reloaded");
        host.replace("hello", &bytes);
        let written = Instant::now();
        while host.configure_title().as_deref() != Some(title) {
            assert!(written.elapsed() < Duration::from_secs(120), "no switch");
        }
        let seen = written.elapsed();
        while host.count_log("app reloaded") == reloads {
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = Duration::from_millis(host.last_reload_ms());
        switch.push(seen);
        compile.push(took);
        overhead.push(seen.saturating_sub(took));
    }
    println!(
        "\n1. end of write -> new version serving ({} reloads, each a new build)",
        plan.reloads
    );
    println!("   write -> serving        {}", summary(&mut switch));
    println!("   host compile + swap     {}", summary(&mut compile));
    println!(
        "   the rest (watch, settle, first request) {}",
        summary(&mut overhead)
    );
}

/// 2. Spawn to `apps loaded` with many distinct plugins.
fn startup(plan: &Plan, v1: &[u8]) {
    let variants: Vec<(String, Vec<u8>)> = (0..plan.plugins)
        .map(|i| (format!("app-{i:02}"), variant(v1, 1000 + i)))
        .collect();
    let apps: Vec<(&str, &[u8])> = variants.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let mut host = Host::start(&apps);
    host.stop();
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..plan.starts {
        fs::remove_dir_all(host.dir.path().join("data/cache")).unwrap();
        cold.push(host.restart());
        host.stop();
        warm.push(host.restart());
        host.stop();
    }
    println!(
        "\n2. start-up with {} plugins (spawn -> every app serving)",
        plan.plugins
    );
    println!("   cold cache   {}", summary(&mut cold));
    println!("   warm cache   {}", summary(&mut warm));
}

/// 3. Requests per second from a few clients, steady and while reloading.
fn throughput(plan: &Plan, v1: &[u8], v2: &[u8]) {
    let host = Host::start(&[("hello", v1)]);
    host.install();
    let seconds = Duration::from_secs(plan.load_seconds);
    let (steady, failed) = load(&host, plan.clients, seconds, || {});
    assert_eq!(failed, 0, "requests failed");
    let before = host.count_log("app reloaded");
    let mut i = 0;
    let (reloading, failed) = load(&host, plan.clients, seconds, || {
        // A new build as soon as the previous one serves: the host compiles
        // (one core) all the time while the clients hammer it.
        let bytes = variant(if i % 2 == 0 { v2 } else { v1 }, 5000 + i);
        let reloads = host.count_log("app reloaded");
        host.replace("hello", &bytes);
        while host.count_log("app reloaded") == reloads {
            std::thread::sleep(Duration::from_millis(5));
        }
        i += 1;
    });
    assert_eq!(failed, 0, "requests failed while reloading");
    let reloads = host.count_log("app reloaded") - before;
    println!(
        "\n3. requests/s with {} clients over {seconds:?}",
        plan.clients
    );
    println!("   steady             {steady:>8.0} req/s");
    println!(
        "   while reloading    {reloading:>8.0} req/s ({reloads} reloads, 0 failed requests) = {:.0}% of steady",
        100.0 * reloading / steady
    );
}

/// Runs `clients` threads posting configure events for `duration` while
/// `meanwhile` is called in a loop; returns (requests/s, failed requests).
fn load(
    host: &Host,
    clients: usize,
    duration: Duration,
    mut meanwhile: impl FnMut(),
) -> (f64, u64) {
    let (done, failed, stop) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    match host.configure_title() {
                        Some(_) => done.fetch_add(1, Ordering::Relaxed),
                        None => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
        while started.elapsed() < duration {
            meanwhile();
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    (rate, failed.load(Ordering::Relaxed))
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    format!(
        "median {:>8.1} ms   min {:>8.1} ms   max {:>8.1} ms   (n={})",
        ms(median),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

/// A `keruj-host serve` in a temporary folder.
struct Host {
    dir: tempfile::TempDir,
    child: Option<Child>,
    base: String,
    http: reqwest::blocking::Client,
}

impl Host {
    fn start(apps: &[(&str, &[u8])]) -> Host {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("plugins")).unwrap();
        for (name, wasm) in apps {
            fs::write(dir.path().join(format!("plugins/{name}.wasm")), wasm).unwrap();
        }
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .build()
            .unwrap();
        let mut host = Host {
            dir,
            child: None,
            base: String::new(),
            http,
        };
        host.restart();
        host
    }

    /// Starts the process; returns the time from spawn to `apps loaded`.
    fn restart(&mut self) -> Duration {
        let log = fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("host.log"))
            .unwrap();
        let started = Instant::now();
        let bin = Path::new(env!("CARGO_BIN_EXE_keruj-host"));
        let (plugins, data) = (
            self.dir.path().join("plugins"),
            self.dir.path().join("data"),
        );
        let mut child = serve_command(bin, &plugins, &data)
            .env("KERUJ_APP_TOKEN_HELLO", TOKEN)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("keruj-host starts");
        self.base = wait_for_listening(&mut child, Duration::from_secs(600))
            .unwrap_or_else(|why| panic!("keruj-host did not start: {why}"));
        let took = started.elapsed();
        self.child = Some(child);
        // One answer: the host is past its start-up, SIGTERM handler included.
        let healthz = self.http.get(format!("{}/healthz", self.base)).send();
        assert!(healthz.is_ok_and(|r| r.status().is_success()));
        took
    }

    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(
            status.success(),
            "host exited with {status}:\n{}",
            self.log()
        );
    }

    fn post(&self, body: String) -> reqwest::Result<reqwest::blocking::Response> {
        self.http
            .post(format!("{}/apps/hello/events", self.base))
            .header("x-keruj-app-token", TOKEN)
            .body(body)
            .send()
    }

    fn install(&self) {
        let body = format!(
            r#"{{"event":"application_install","company_id":"{COMPANY}","account_id":"a","account_api_key":"k"}}"#
        );
        assert!(self.post(body).unwrap().status().is_success());
    }

    /// The configure form's title, `None` on any failure.
    fn configure_title(&self) -> Option<String> {
        let body = format!(r#"{{"event":"application_configure","company_id":"{COMPANY}"}}"#);
        let response = self.post(body).ok()?;
        if !response.status().is_success() {
            return None;
        }
        let form: serde_json::Value = response.json().ok()?;
        Some(form["title"].as_str()?.to_owned())
    }

    /// Writes a temporary file and renames it over `<app>.wasm`.
    fn replace(&self, app: &str, bytes: &[u8]) {
        let temp = self.dir.path().join(format!("plugins/.{app}.wasm.part"));
        fs::write(&temp, bytes).unwrap();
        fs::rename(&temp, self.dir.path().join(format!("plugins/{app}.wasm"))).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    fn count_log(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// The `elapsed_ms` of the last "app reloaded" line.
    fn last_reload_ms(&self) -> u64 {
        let log = self.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("app reloaded"))
            .unwrap();
        let (_, rest) = line.split_once("elapsed_ms=").unwrap();
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
