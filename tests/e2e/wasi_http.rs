//! `wasi:http` (what JavaScript's `fetch` and Python compile to) under the
//! same grant as `keruj:plugin/http`: only the sidecar's `allowed_hosts`,
//! each redirect hop a new request checked anew, the event's call budget
//! shared by both interfaces, the time and size limits. Refused hosts are
//! never contacted. The test plugin, `tests/plugins/wasi-fetch`, also
//! exports `wasi:http/incoming-handler`, which the host ignores.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, hello, install, plugin, submission};

/// Sends the `wasi-fetch` event `name` with `data`; returns what the plugin saw.
fn fetched(host: &Host, company: &str, name: &str, data: Value) -> String {
    let answer = host.send("wasi-fetch", &submission(name, company, data));
    assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    answer.json()["elements"][0]["label"]
        .as_str()
        .expect("the plugin's info element")
        .to_owned()
}

#[test]
fn wasi_http_reaches_only_allowed_hosts_within_limits() {
    let outside = Stub::start(|_| Reply::json(json!({"stolen": true})));
    let outside_url = outside.url("/collect");
    let allowed = Stub::start(move |request| match request.path.as_str() {
        "/ok" => Reply::json(json!({"hello": "wasi"})),
        "/echo" => Reply::status(200).body(request.body.clone()),
        "/redirect-inside" => Reply::status(302).header("location", "/ok"),
        "/redirect-outside" => Reply::status(302).header("location", &outside_url),
        "/slow" => Reply::json(json!({})).delayed(Duration::from_secs(3)),
        "/huge" => Reply::status(200).body(vec![b'x'; 5 * 1024 * 1024]),
        _ => Reply::status(404),
    });
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\nhttp_timeout_ms = 500\n",
        allowed.authority()
    );
    let host = Host::start(
        Setup::new()
            .app("wasi-fetch", &plugin("wasi-fetch"))
            .sidecar(&sidecar)
            .app("hello", hello()),
    );
    let company = "co-wasi-http-1";
    for app in ["wasi-fetch", "hello"] {
        assert_eq!(host.send(app, &install(company)).status, 200, "{app}");
    }
    // A component that also exports wasi:http/incoming-handler loads and serves.
    assert_eq!(host.get("/apps/wasi-fetch/health").status, 200);

    let fetch = |url: String, follow: &str| {
        fetched(
            &host,
            company,
            "fetch",
            json!({"url": url, "follow": follow}),
        )
    };
    assert_eq!(
        fetch(allowed.url("/ok"), "no"),
        r#"ok: 200 {"hello":"wasi"}"#
    );
    let posted = fetched(
        &host,
        company,
        "post",
        json!({"url": allowed.url("/echo"), "body": "ping over wasi:http"}),
    );
    assert_eq!(posted, "ok: 200 ping over wasi:http");
    let echo = allowed
        .received()
        .into_iter()
        .find(|r| r.path == "/echo")
        .expect("the POST arrived");
    assert_eq!(
        (echo.method.as_str(), echo.body.as_slice()),
        ("POST", &b"ping over wasi:http"[..])
    );

    // wasi:http follows no redirect; a plugin that does sends a new
    // request, which the grant checks like the first.
    assert_eq!(fetch(allowed.url("/redirect-inside"), "no"), "ok: 302 ");
    assert_eq!(
        fetch(allowed.url("/redirect-inside"), "yes"),
        r#"ok: 200 {"hello":"wasi"}"#
    );
    let cases = [
        (outside.url("/collect"), "HttpRequestDenied"),
        (allowed.url("/redirect-outside"), "HttpRequestDenied"),
        // Refused before any DNS lookup: a lookup would fail otherwise.
        ("http://refused.invalid/".to_owned(), "HttpRequestDenied"),
        (allowed.url("/slow"), "HttpResponseTimeout"),
        (allowed.url("/huge"), "HttpResponseBodySize"),
    ];
    for (url, expected) in cases {
        let seen = fetch(url.clone(), "yes");
        assert!(
            seen.starts_with("error: ") && seen.contains(expected),
            "{url}: {seen}"
        );
        let configure = json!({"event": "application_configure", "company_id": company});
        assert_eq!(host.send("hello", &configure).status, 200, "after {url}");
    }
    assert!(outside.received().is_empty(), "a refused host was reached");
    assert!(
        allowed
            .received()
            .iter()
            .any(|r| r.path == "/redirect-outside"),
        "the redirect's first hop was not made"
    );

    let log = host.log();
    let refusal = log
        .lines()
        .find(|line| line.contains("refused") && line.contains(&outside.authority()))
        .unwrap_or_else(|| panic!("no log line names the refused host:\n{log}"));
    for part in ["wasi-fetch", company, "wasi:http", "allowed_hosts"] {
        assert!(refusal.contains(part), "{part:?} not in: {refusal}");
    }
    assert_eq!(
        log.lines()
            .filter(|line| line.contains("refused.invalid"))
            .count(),
        1,
        "a refusal is logged once:\n{log}"
    );
}

#[test]
fn the_call_budget_is_one_for_both_interfaces() {
    let stub = Stub::start(|_| Reply::json(json!({"n": 1})));
    let sidecar = format!("allowed_hosts = [\"{}\"]\n", stub.authority());
    let host = Host::start(
        Setup::new()
            .app("wasi-fetch", &plugin("wasi-fetch"))
            .sidecar(&sidecar),
    );
    let company = "co-wasi-http-2";
    assert_eq!(host.send("wasi-fetch", &install(company)).status, 200);
    let count = |capability: u32, wasi: u32| {
        fetched(
            &host,
            company,
            "count",
            json!({"url": stub.url("/n"), "capability": capability.to_string(),
                   "wasi": wasi.to_string()}),
        )
    };

    assert_eq!(
        count(15, 10),
        "ok: 20 answered, then wasi:http: ErrorCode::HttpRequestDenied"
    );
    assert_eq!(stub.received().len(), 20);
    // The budget is per event: the next one has 20 again.
    assert_eq!(count(0, 20), "ok: 20 answered");
    assert_eq!(
        count(0, 21),
        "ok: 20 answered, then wasi:http: ErrorCode::HttpRequestDenied"
    );
    assert_eq!(
        count(20, 1),
        "ok: 20 answered, then wasi:http: ErrorCode::HttpRequestDenied"
    );
    assert_eq!(stub.received().len(), 80, "a refused call was sent");
}
