//! Hot reload (issue 4): the host follows its plugins folder live. A new
//! version serves without a failed request, a bad file leaves the old version
//! serving, a deleted app is unloaded with its data kept, a sidecar change
//! rotates the token, and a restart loads compiled plugins from the cache.
//!
//! Timings are measured and printed (`cargo test --test e2e reload --
//! --nocapture`); the asserts leave room for a busy shared machine.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::stub::{Reply, Stub};
use crate::support::variant::variant;
use crate::support::{Host, Setup, TOKEN, event, hello, install, plugin, submission, workspace};

/// How long anything may take to happen (a compile on a loaded machine).
const DEADLINE: Duration = Duration::from_secs(60);
/// How long after the reload finished compiling the new version must serve
/// (the issue says within a second; room for a loaded machine).
const SWITCH_AFTER_COMPILE: Duration = Duration::from_secs(3);
const COMPANY: &str = "co-reload-1";

/// `tests/plugins/hello-v2`, built once per run like the harness's plugins.
fn hello_v2() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = workspace().join("target/plugins");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .current_dir(workspace())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--target-dir")
            .arg(&target)
            .args(["-p", "hello-v2"])
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building hello-v2 failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        target.join("wasm32-wasip2/release/hello_v2.wasm")
    })
}

fn plugins_dir(host: &Host) -> PathBuf {
    host.data_dir().parent().unwrap().join("plugins")
}

/// Polls `check` until it gives a value, or panics with the host's log.
fn wait_for<T>(host: &Host, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if started.elapsed() > DEADLINE {
            panic!("{what}: not within {DEADLINE:?}\nlog:\n{}", host.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `bytes` to a temporary name in the folder, then renames it over
/// `<name>`, the way a careful deploy does.
fn replace_by_rename(dir: &Path, name: &str, bytes: &[u8]) {
    let temp = dir.join(format!(".{name}.part"));
    fs::write(&temp, bytes).unwrap();
    fs::rename(&temp, dir.join(name)).unwrap();
}

/// The configure form's title: which version answered.
fn version_of(answer: &Value) -> &str {
    match answer["title"].as_str() {
        Some("Say hello") => "v1",
        Some("Say hello (v2)") => "v2",
        _ => panic!("not a hello form: {answer}"),
    }
}

/// Asks the app for its form; `(status, version)`.
fn configure(host: &Host) -> (u16, Option<&'static str>) {
    let answer = host.send("hello", &event("application_configure", COMPANY));
    let version = (answer.status == 200).then(|| match version_of(&answer.json()) {
        "v1" => "v1",
        _ => "v2",
    });
    (answer.status, version)
}

/// `(status, body)` of the app's health.
fn health(host: &Host) -> (u16, Value) {
    let answer = host.get("/apps/hello/health");
    let body = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    (answer.status, body)
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

/// The `elapsed_ms` of the last "app reloaded" line of the log.
fn last_reload_ms(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains("app reloaded"))?;
    let (_, rest) = line.split_once("elapsed_ms=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn hello_host() -> Host {
    let host = Host::start(Setup::new().app("hello", hello()));
    let installed = host.send("hello", &install(COMPANY));
    assert_eq!(installed.status, 200, "install: {}", installed.body);
    assert_eq!(configure(&host), (200, Some("v1")));
    host
}

/// Replaces hello.wasm by `next` (by rename, or in place like `cp`) while a
/// client sends requests in a loop; every request must succeed and the
/// answers switch once, to `to`. Returns how long after the write the new
/// version was first seen, and the host's reload time (compile included).
fn switch_under_load(host: &Host, next: &Path, by_rename: bool, to: &str) -> (Duration, u64) {
    let dir = plugins_dir(host);
    let bytes = fs::read(next).unwrap();
    let reloads_before = count(&host.log(), "app reloaded");
    let stop = AtomicBool::new(false);
    let (answers, written) = std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (status, version) = configure(host);
                answers.push((Instant::now(), status, version));
            }
            answers
        });
        std::thread::sleep(Duration::from_millis(300));
        if by_rename {
            replace_by_rename(&dir, "hello.wasm", &bytes);
        } else {
            fs::write(dir.join("hello.wasm"), &bytes).unwrap();
        }
        let written = Instant::now();
        wait_for(host, "the reload", || {
            (count(&host.log(), "app reloaded") > reloads_before).then_some(())
        });
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        (client.join().unwrap(), written)
    });
    let failed: Vec<_> = answers
        .iter()
        .filter(|(_, status, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "requests failed during the reload: {failed:?}"
    );
    let first_new = answers
        .iter()
        .position(|(_, _, version)| *version == Some(to))
        .unwrap_or_else(|| panic!("{to} never answered\nlog:\n{}", host.log()));
    assert!(
        answers[first_new..].iter().all(|(_, _, v)| *v == Some(to)),
        "the answers went back to the old version"
    );
    let switch = answers[first_new].0.saturating_duration_since(written);
    let reload_ms = last_reload_ms(&host.log()).expect("the reload says how long it took");
    println!(
        "reload to {to} ({}): {} requests, all 200; new version seen {switch:?} after the \
         write; the host took {reload_ms} ms to compile and swap",
        if by_rename { "rename" } else { "in place" },
        answers.len()
    );
    (switch, reload_ms)
}

#[test]
fn replacing_a_plugin_under_load_fails_no_request() {
    let host = hello_host();
    for (next, by_rename, to) in [(hello_v2(), true, "v2"), (hello(), false, "v1")] {
        let (switch, reload_ms) = switch_under_load(&host, next, by_rename, to);
        let budget = Duration::from_millis(reload_ms) + SWITCH_AFTER_COMPILE;
        assert!(
            switch <= budget,
            "switched after {switch:?}, over {budget:?}"
        );
    }
    let (status, body) = health(&host);
    assert_eq!(status, 200, "{body}");
    assert!(body.get("problem").is_none(), "{body}");
}

#[test]
fn bad_files_leave_the_old_version_serving() {
    let host = hello_host();
    let dir = plugins_dir(&host);
    let v1_version = health(&host).1["version"].clone();
    let v2 = fs::read(hello_v2()).unwrap();
    // The smallest valid component: it compiles but does not fit the world.
    let empty_component = b"\0asm\x0d\x00\x01\x00".to_vec();
    let bad: [(&str, Vec<u8>); 3] = [
        ("garbage", b"this is not WebAssembly".to_vec()),
        ("truncated", v2[..v2.len() / 2].to_vec()),
        ("outside the world", empty_component),
    ];
    for (what, bytes) in bad {
        let refused = count(&host.log(), "new version refused");
        fs::write(dir.join("hello.wasm"), &bytes).unwrap();
        wait_for(&host, &format!("{what} refused"), || {
            (count(&host.log(), "new version refused") > refused).then_some(())
        });
        let (status, body) = health(&host);
        assert_eq!(status, 200, "{what}: the old version still serves: {body}");
        assert_eq!(body["version"], v1_version, "{what}: {body}");
        let problem = body["problem"].as_str().unwrap_or_default();
        assert!(problem.contains("hello.wasm"), "{what}: {body}");
        assert_eq!(configure(&host), (200, Some("v1")), "{what}");
        println!("{what}: health says {problem:?}");
    }
    fs::write(dir.join("hello.wasm"), &v2).unwrap();
    wait_for(&host, "the good file served", || {
        (configure(&host) == (200, Some("v2"))).then_some(())
    });
    let (status, body) = health(&host);
    assert_eq!(status, 200, "{body}");
    assert!(body.get("problem").is_none(), "the problem stayed: {body}");
    assert_ne!(body["version"], v1_version);
}

#[test]
fn delete_unloads_and_putting_back_keeps_installs() {
    let host = hello_host();
    let dir = plugins_dir(&host);
    fs::remove_file(dir.join("hello.wasm")).unwrap();
    wait_for(&host, "404 once deleted", || {
        (configure(&host).0 == 404).then_some(())
    });
    assert_eq!(health(&host).0, 404);
    host.send("hello", &event("application_configure", COMPANY))
        .assert_error(404);

    fs::copy(hello(), dir.join("hello.wasm")).unwrap();
    let (status, version) = wait_for(&host, "served again", || {
        let answer = configure(&host);
        (answer.0 != 404).then_some(answer)
    });
    assert_eq!(
        (status, version),
        (200, Some("v1")),
        "the install survived (not 409)"
    );
    assert!(
        host.log().contains("its stored data stays"),
        "{}",
        host.log()
    );
}

#[test]
fn sidecar_change_rotates_the_token_without_restart() {
    let (old, new) = ("token-before-rotation", "token-after-rotation");
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .sidecar("token_env = \"HELLO_TOKEN_OLD\"\n")
            .env("HELLO_TOKEN_OLD", old)
            .env("HELLO_TOKEN_NEW", new),
    );
    let dir = plugins_dir(&host);
    let send = |token: &str| host.post("hello", Some(token), install(COMPANY).to_string());
    assert_eq!(send(old).status, 200);
    assert_eq!(send(new).status, 401);

    fs::write(dir.join("hello.toml"), "token_env = \"HELLO_TOKEN_NEW\"\n").unwrap();
    wait_for(&host, "the new token accepted", || {
        (send(new).status == 200).then_some(())
    });
    send(old).assert_error(401);

    // A broken sidecar keeps the current grant, and says why.
    fs::write(dir.join("hello.toml"), "token_env = [\n").unwrap();
    wait_for(&host, "the broken sidecar reported", || {
        health(&host).1["problem"]
            .as_str()
            .filter(|p| p.contains("hello.toml"))
            .map(|_| ())
    });
    assert_eq!(send(new).status, 200);

    // No sidecar: the default variable, KERUJ_APP_TOKEN_HELLO.
    fs::remove_file(dir.join("hello.toml")).unwrap();
    wait_for(&host, "the default token accepted", || {
        (send(TOKEN).status == 200).then_some(())
    });
    send(new).assert_error(401);
    assert_eq!(
        count(&host.log(), "plugins loaded"),
        1,
        "the host restarted"
    );
}

#[test]
fn stray_files_are_ignored() {
    let host = hello_host();
    let dir = plugins_dir(&host);
    let wasm = fs::read(hello()).unwrap();
    // What editors, copy tools and typos leave around.
    for name in [
        "Hello.wasm",
        ".hello.wasm.swp",
        "hello.wasm~",
        "4913",
        "notes.txt",
    ] {
        fs::write(dir.join(name), &wasm).unwrap();
    }
    fs::remove_file(dir.join("4913")).unwrap();
    wait_for(&host, "the warning for Hello.wasm", || {
        host.log().contains("Hello.wasm").then_some(())
    });
    assert_eq!(configure(&host), (200, Some("v1")));
    let (status, body) = health(&host);
    assert_eq!(status, 200, "{body}");
    assert!(body.get("problem").is_none(), "{body}");
    assert_eq!(host.get("/apps/Hello/health").status, 404);
}

#[test]
fn restart_loads_from_the_cache_and_rebuilds_a_corrupt_entry() {
    let mut host = hello_host();
    let cache = host.data_dir().join("cache");
    let entries = || -> Vec<PathBuf> {
        let mut found: Vec<_> = fs::read_dir(&cache)
            .map(|dir| dir.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        found.retain(|p| p.extension().is_some_and(|e| e == "cwasm"));
        found
    };
    assert_eq!(entries().len(), 1, "one compiled plugin cached");
    assert!(host.log().contains("code=\"compiled\""), "{}", host.log());

    host.stop();
    let before = host.log().len();
    let started = Instant::now();
    host.start_again();
    let warm = started.elapsed();
    let log = host.log()[before..].to_owned();
    assert!(log.contains("code=\"cache\""), "not from the cache:\n{log}");
    assert_eq!(configure(&host), (200, Some("v1")));

    host.stop();
    let entry = entries().pop().unwrap();
    let good = fs::read(&entry).unwrap();
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x5a;
    fs::write(&entry, &corrupt).unwrap();
    let before = host.log().len();
    let started = Instant::now();
    host.start_again();
    let rebuilt = started.elapsed();
    let log = host.log()[before..].to_owned();
    assert!(
        log.contains("corrupt"),
        "the bad entry went unnoticed:\n{log}"
    );
    assert!(log.contains("code=\"compiled\""), "{log}");
    assert_eq!(configure(&host), (200, Some("v1")));
    assert_eq!(fs::read(&entry).unwrap(), good, "the entry was rebuilt");
    println!("restart: warm {warm:?}, with a corrupt cache entry {rebuilt:?}");
}

/// The per-app concurrency limit holds across a reload: the events still
/// running on the old version keep their permits, and the new version
/// shares them, so a reload never lets more than the limit run at once.
#[test]
fn a_new_version_keeps_the_concurrency_limit() {
    const LIMIT: usize = 2;
    // Long enough for the new version to compile on a loaded machine.
    const SLOW: Duration = Duration::from_secs(20);
    let slow = Stub::start(|request| match request.path.as_str() {
        "/slow" => Reply::json(json!({"slow": true})).delayed(SLOW),
        _ => Reply::json(json!({"fast": true})),
    });
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\nmax_concurrency = {LIMIT}\n\
         timeout_ms = 40000\nhttp_timeout_ms = 40000\n",
        slow.authority()
    );
    let host = Arc::new(Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .sidecar(&sidecar),
    ));
    let company = "co-reload-busy-1";
    assert_eq!(host.send("probe", &install(company)).status, 200);
    let fetch = |path: &str| submission("fetch", company, json!({"url": slow.url(path)}));

    // LIMIT slow events take every permit of the first version.
    let started = Instant::now();
    let running: Vec<_> = (0..LIMIT)
        .map(|_| {
            let (host, event) = (host.clone(), fetch("/slow"));
            std::thread::spawn(move || host.send("probe", &event))
        })
        .collect();
    wait_for(&host, "the slow events running", || {
        (slow.received().len() == LIMIT).then_some(())
    });

    // Meanwhile a new version replaces the probe.
    let reloaded = count(&host.log(), "app reloaded");
    let next = variant(&fs::read(plugin("probe")).unwrap(), 1);
    replace_by_rename(&plugins_dir(&host), "probe.wasm", &next);
    wait_for(&host, "the new version loaded", || {
        (count(&host.log(), "app reloaded") > reloaded).then_some(())
    });

    // The new version counts the events still running on the old one.
    let refused = host.send("probe", &fetch("/fast"));
    assert!(
        started.elapsed() < SLOW,
        "the reload took {:?}: the slow events were over before it",
        started.elapsed()
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.body.contains("busy"), "{}", refused.body);

    for answer in running.into_iter().map(|t| t.join().unwrap()) {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(answer.body.contains("slow"), "{}", answer.body);
    }
    let served = host.send("probe", &fetch("/fast"));
    assert_eq!(served.status, 200, "{}", served.body);
    assert_eq!(
        slow.received().len(),
        LIMIT + 1,
        "the refused event ran anyway"
    );
}
