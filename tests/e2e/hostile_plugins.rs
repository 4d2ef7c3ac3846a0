//! Hostile plugins beyond `faults.rs`: deep recursion, a reply far over the
//! size limit, a plugin stuck in a host call, components that do not fit the
//! contract, and many slow events at once. Each fails alone: the offending
//! request gets a clean error and the other apps keep serving.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, TOKEN, event, faulty, hello, install, plugin, submission};

/// Generous bound for answers that must not wait for the slow thing.
const PROMPT: Duration = Duration::from_secs(10);

fn hello_still_serves(host: &Host, company: &str, after: &str) {
    let form = host.send("hello", &event("application_configure", company));
    assert_eq!(form.status, 200, "hello after {after}: {}", form.body);
}

#[test]
fn stack_overflow_and_huge_reply_are_plugin_failures() {
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .app("faulty", faulty())
            .sidecar("timeout_ms = 5000\nmemory_mb = 64\n"),
    );
    let company = "co-hostile-plugin-1";
    for app in ["hello", "faulty"] {
        assert_eq!(host.send(app, &install(company)).status, 200, "{app}");
    }
    for (fault, cause) in [
        ("recurse", "call stack exhausted"),
        ("huge_reply", "over the limit of 262144"),
    ] {
        let answer = host.send("faulty", &event(fault, company));
        answer.assert_error(500);
        assert!(
            !answer.body.contains("xxxx") && answer.body.len() < 1024,
            "{fault}: the answer carries the plugin's output: {} bytes",
            answer.body.len()
        );
        hello_still_serves(&host, company, fault);
        let log = host.log();
        let line = log
            .lines()
            .find(|line| line.contains(cause))
            .unwrap_or_else(|| panic!("{fault}: no log line says {cause:?}:\n{log}"));
        assert!(
            line.contains("faulty"),
            "{fault}: the line does not name the app: {line}"
        );
    }
}

#[test]
fn a_plugin_stuck_in_a_host_call_is_stopped_at_its_time_limit() {
    let never = Stub::start(|_| Reply::json(json!({})).delayed(Duration::from_secs(120)));
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\ntimeout_ms = 500\nhttp_timeout_ms = 120000\n",
        never.authority()
    );
    let host = Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .sidecar(&sidecar)
            .app("hello", hello()),
    );
    let company = "co-hostile-hostcall-1";
    for app in ["probe", "hello"] {
        assert_eq!(host.send(app, &install(company)).status, 200, "{app}");
    }
    let started = Instant::now();
    let call = json!({"url": never.url("/never")});
    let answer = host.send("probe", &submission("fetch", company, call));
    answer.assert_error(504);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_eq!(never.received().len(), 1, "the call was not made");
    hello_still_serves(&host, company, "a stuck host call");
}

/// A component that imports an interface the host does not provide.
const IMPORTS_UNKNOWN: &str = r#"(component
  (import "evil:net/socket@1.0.0" (instance
    (export "connect" (func (param "addr" string) (result u32)))))
)"#;

/// A component whose only export is `handle-event` with the wrong type.
const WRONG_WORLD: &str = r#"(component
  (core module $m (func (export "f") (result i32) i32.const 7))
  (core instance $i (instantiate $m))
  (func (export "handle-event") (result u32) (canon lift (core func $i "f")))
)"#;

#[test]
fn components_that_do_not_fit_the_contract_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut setup = Setup::new().app("hello", hello());
    for (name, wat) in [("evil", IMPORTS_UNKNOWN), ("wrong", WRONG_WORLD)] {
        let path = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, wat::parse_str(wat).expect("valid WAT")).unwrap();
        setup = setup.app(name, &path);
    }
    let host = Host::start(setup);

    for (app, cause) in [("evil", "evil:net/socket@1.0.0"), ("wrong", "handle-event")] {
        let health = host.get(&format!("/apps/{app}/health"));
        assert_eq!(health.status, 503, "{app}: {}", health.body);
        let problem = health.json()["problem"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            problem.contains("is not a keruj:plugin component") && problem.contains(cause),
            "{app}: the problem is unclear: {problem}"
        );
        host.send(app, &install("co-hostile-load-1"))
            .assert_error(503);
        let log = host.log();
        assert!(
            log.lines()
                .any(|l| l.contains("cannot load") && l.contains(cause)),
            "{app}: the log does not say why:\n{log}"
        );
    }
    assert_eq!(host.get("/apps/hello/health").status, 200);
    assert_eq!(
        host.send("hello", &install("co-hostile-load-1")).status,
        200
    );
}

#[test]
fn the_excess_over_the_concurrency_limit_is_refused_at_once() {
    const LIMIT: usize = 2;
    const SENT: usize = 6;
    let slow = Stub::start(|request| match request.path.as_str() {
        "/slow" => Reply::json(json!({"slow": true})).delayed(Duration::from_secs(4)),
        _ => Reply::json(json!({"fast": true})),
    });
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\nmax_concurrency = {LIMIT}\n",
        slow.authority()
    );
    let host = Arc::new(Host::start(
        Setup::new()
            .app("probe", &plugin("probe"))
            .sidecar(&sidecar)
            .app("hello", hello()),
    ));
    let company = "co-hostile-busy-1";
    for app in ["probe", "hello"] {
        assert_eq!(host.send(app, &install(company)).status, 200, "{app}");
    }

    let start = Arc::new(Barrier::new(SENT));
    let senders: Vec<_> = (0..SENT)
        .map(|_| {
            let (host, start, url) = (host.clone(), start.clone(), slow.url("/slow"));
            std::thread::spawn(move || {
                let body = submission("fetch", company, json!({"url": url}));
                let client = reqwest::blocking::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                start.wait();
                let started = Instant::now();
                let response = client
                    .post(host.url("/apps/probe/events"))
                    .header("x-keruj-app-token", TOKEN)
                    .body(body.to_string())
                    .send()
                    .expect("the host answers");
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                let status = response.status().as_u16();
                let body = response.text().unwrap();
                (status, retry_after, started.elapsed(), body)
            })
        })
        .collect();

    // While the probe is saturated, the other app answers promptly.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    hello_still_serves(&host, company, "saturating the probe");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "hello waited {:?}",
        started.elapsed()
    );
    // Health runs the plugin too: it takes a permit, so it reads busy now.
    let health = host.get("/apps/probe/health");
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(health.body.contains("busy"), "{}", health.body);

    let answers: Vec<_> = senders.into_iter().map(|t| t.join().unwrap()).collect();
    let served = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(served, LIMIT, "{answers:?}");
    for (status, retry_after, took, body) in answers.iter().filter(|a| a.0 != 200) {
        assert_eq!(*status, 503, "{body}");
        assert!(
            body.contains("busy") && body.contains("request_id"),
            "{body}"
        );
        assert_eq!(retry_after.as_deref(), Some("1"), "no Retry-After: {body}");
        assert!(*took < Duration::from_secs(3), "the 503 waited {took:?}");
    }
    assert_eq!(slow.received().len(), LIMIT, "refused events ran anyway");

    // The permits come back: the app serves again.
    let again = host.send(
        "probe",
        &submission("fetch", company, json!({"url": slow.url("/ok")})),
    );
    assert_eq!(again.status, 200, "{}", again.body);
}
