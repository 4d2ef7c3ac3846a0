//! What an operator sees: `/metrics` on the admin listener after a known
//! workload (exact counts, bounded labels, no company id), `/readyz` beside
//! `/healthz`, and `--log-format json`.

use serde_json::{Value, json};

use crate::support::{Host, Setup, event, faulty, hello, install, submission};

/// The value of the sample `name{labels}` in the scraped text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn assert_sample(text: &str, series: &str, expected: f64) {
    assert_eq!(sample(text, series), Some(expected), "{series} in:\n{text}");
}

#[test]
fn metrics_count_a_known_workload_exactly() {
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .app("faulty", faulty())
            .sidecar("timeout_ms = 300\nmemory_mb = 32\n"),
    );
    let (company, stranger) = ("co-metrics-7d1e", "co-metrics-stranger-4b2a");

    // hello: 1 install, 3 configures, 1 refused configure, 1 submission.
    assert_eq!(host.send("hello", &install(company)).status, 200);
    for _ in 0..3 {
        let answer = host.send("hello", &event("application_configure", company));
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    host.send("hello", &event("application_configure", stranger))
        .assert_error(409);
    let named = submission("name_submitted", company, json!({"name": "Olena"}));
    assert_eq!(host.send("hello", &named).status, 200);
    // faulty: 1 install, 1 failure (500), 1 endless loop (504).
    assert_eq!(host.send("faulty", &install(company)).status, 200);
    host.send("faulty", &event("fail", company))
        .assert_error(500);
    host.send("faulty", &event("loop", company))
        .assert_error(504);

    let scraped = host.get_admin("/metrics");
    assert_eq!(scraped.status, 200, "{}", scraped.body);
    assert!(
        scraped
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        scraped.content_type
    );
    let text = &scraped.body;
    let events = |app: &str, class: &str, status: u16| {
        format!(r#"keruj_events_total{{app="{app}",class="{class}",status="{status}"}}"#)
    };
    assert_sample(text, &events("hello", "install", 200), 1.0);
    assert_sample(text, &events("hello", "configure", 200), 3.0);
    assert_sample(text, &events("hello", "configure", 409), 1.0);
    assert_sample(text, &events("hello", "other", 200), 1.0);
    assert_sample(text, &events("faulty", "install", 200), 1.0);
    assert_sample(text, &events("faulty", "other", 500), 1.0);
    assert_sample(text, &events("faulty", "other", 504), 1.0);
    let event_lines = text
        .lines()
        .filter(|line| line.starts_with("keruj_events_total{"))
        .count();
    assert_eq!(event_lines, 7, "no other event series:\n{text}");
    // The latency histogram saw every event once.
    assert_sample(
        text,
        r#"keruj_event_duration_seconds_count{app="hello"}"#,
        6.0,
    );
    assert_sample(
        text,
        r#"keruj_event_duration_seconds_count{app="faulty"}"#,
        3.0,
    );
    assert_sample(
        text,
        r#"keruj_event_duration_seconds_bucket{le="+Inf",app="hello"}"#,
        6.0,
    );
    assert_sample(
        text,
        r#"keruj_plugin_errors_total{app="faulty",kind="failed"}"#,
        1.0,
    );
    assert_sample(
        text,
        r#"keruj_plugin_errors_total{app="faulty",kind="timeout"}"#,
        1.0,
    );
    assert!(!text.contains(r#"app="hello",kind="#), "{text}");
    // The versions serving: the first 12 hex digits of each .wasm's SHA-256.
    for app in ["hello", "faulty"] {
        let health = host.get(&format!("/apps/{app}/health")).json();
        let digest = health["version"].as_str().expect("a version").to_owned();
        let series = format!(
            r#"keruj_app_version{{app="{app}",version="{}"}}"#,
            &digest[..12]
        );
        assert_sample(text, &series, 1.0);
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_sample(
        text,
        &format!(r#"keruj_build_info{{version="{version}"}}"#),
        1.0,
    );
    // The scrape's own client holds no public connection; the workload's may linger.
    let open = sample(text, "keruj_open_connections").expect("open connections");
    assert!(open >= 0.0, "{text}");
    // Bounded labels: no company, no raw event name.
    for leak in [
        company,
        stranger,
        "co-metrics",
        "name_submitted",
        "\"fail\"",
        "loop",
    ] {
        assert!(!text.contains(leak), "{leak:?} is in /metrics:\n{text}");
    }

    // Off the public port; nothing else on the admin one.
    host.get("/metrics").assert_error(404);
    assert_eq!(host.get_admin("/healthz").status, 404);

    let ready = host.get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["status"], "ready");
    assert_eq!(host.get("/healthz").status, 200);
}

#[test]
fn json_logs_are_one_object_a_line_with_the_fields() {
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .env("KERUJ_LOG_FORMAT", "json"),
    );
    let company = "co-json-logs-1";
    assert_eq!(host.send("hello", &install(company)).status, 200);
    host.send(
        "hello",
        &event("application_configure", "co-json-not-installed"),
    )
    .assert_error(409);
    let log = host.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .all(|line| line["level"].is_string() && line["timestamp"].is_string())
    );
    let installed = lines
        .iter()
        .find(|line| line["message"] == "installed")
        .unwrap_or_else(|| panic!("no `installed` line in:\n{log}"));
    assert_eq!(installed["app"], "hello", "{installed}");
    assert_eq!(installed["company"], company, "{installed}");
    assert!(installed["request_id"].is_string(), "{installed}");
    let refused = lines
        .iter()
        .find(|line| line["status"] == 409)
        .unwrap_or_else(|| panic!("no 409 line in:\n{log}"));
    assert_eq!(refused["app"], "hello", "{refused}");
    assert!(refused["request_id"].is_string(), "{refused}");
}
