//! What plugins can reach through the host, and what they cannot: stored
//! data and secrets confined to (app, company), config, and outbound HTTP
//! confined to the sidecar's `allowed_hosts` and its limits.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, contains, hello, install, plugin, submission};

/// Sends the probe event `name` with `data` and returns what the probe saw.
fn probe(host: &Host, app: &str, company: &str, name: &str, data: Value) -> String {
    let answer = host.send(app, &submission(name, company, data));
    assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    let form = answer.json();
    form["elements"][0]["label"]
        .as_str()
        .expect("the probe's info element")
        .to_owned()
}

#[test]
fn data_and_secrets_are_confined_to_their_app_and_company() {
    let probe_wasm = plugin("probe");
    let mut host = Host::start(
        Setup::new()
            .app("probe-a", &probe_wasm)
            .app("probe-b", &probe_wasm),
    );
    for (app, company) in [
        ("probe-a", "co-cap-1"),
        ("probe-a", "co-cap-2"),
        ("probe-b", "co-cap-1"),
    ] {
        assert_eq!(host.send(app, &install(company)).status, 200);
    }
    let set = json!({"key": "city", "value": "kyiv", "name": "np_key", });
    assert_eq!(
        probe(&host, "probe-a", "co-cap-1", "kv_set", set.clone()),
        "ok: stored"
    );
    let secret = json!({"name": "np_key", "value": "np_secret_6d1f0c"});
    assert_eq!(
        probe(&host, "probe-a", "co-cap-1", "secret_set", secret),
        "ok: stored"
    );

    assert_eq!(
        probe(&host, "probe-a", "co-cap-1", "kv_get", set.clone()),
        "ok: kyiv"
    );
    assert_eq!(
        probe(&host, "probe-a", "co-cap-1", "secret_get", set.clone()),
        "ok: np_secret_6d1f0c"
    );
    assert_eq!(
        probe(
            &host,
            "probe-a",
            "co-cap-1",
            "kv_keys",
            json!({"prefix": "ci"})
        ),
        "ok: city"
    );
    for (app, company) in [("probe-a", "co-cap-2"), ("probe-b", "co-cap-1")] {
        assert_eq!(
            probe(&host, app, company, "kv_get", set.clone()),
            "ok: <none>",
            "{app} {company}"
        );
        assert_eq!(
            probe(&host, app, company, "secret_get", set.clone()),
            "ok: <none>",
            "{app} {company}"
        );
        assert_eq!(
            probe(&host, app, company, "kv_keys", json!({"prefix": ""})),
            "ok: ",
            "{app} {company}"
        );
    }

    // A secret is never on disk in plaintext; uninstall leaves nothing of it.
    host.stop();
    assert!(
        !host.db_contains("np_secret_6d1f0c"),
        "a secret is stored in plaintext"
    );
    host.start_again();
    let uninstall = json!({"event": "application_uninstall", "company_id": "co-cap-1"});
    assert_eq!(host.send("probe-a", &uninstall).status, 200);
    host.stop();
    let entries = host.db_entries();
    let leftovers = |scope: &[u8]| {
        entries
            .iter()
            .filter(|entry| entry.starts_with(scope))
            .count()
    };
    assert_eq!(
        leftovers(b"probe-a\0co-cap-1\0"),
        0,
        "uninstall left data behind"
    );
    assert!(
        leftovers(b"probe-b\0co-cap-1\0") > 0,
        "another app's install was touched"
    );
    assert!(
        leftovers(b"probe-a\0co-cap-2\0") > 0,
        "another company's install was touched"
    );
}

#[test]
fn config_comes_from_the_sidecar() {
    let probe_wasm = plugin("probe");
    let host = Host::start(
        Setup::new()
            .app("probe", &probe_wasm)
            .sidecar("[config]\nmode = \"test\"\nregion = \"kyiv\"\n"),
    );
    assert_eq!(host.send("probe", &install("co-cap-config")).status, 200);
    let seen = probe(&host, "probe", "co-cap-config", "config", json!({}));
    assert_eq!(seen, r#"ok: [["mode","test"],["region","kyiv"]]"#);
}

#[test]
fn outbound_http_reaches_only_allowed_hosts_within_limits() {
    let outside = Stub::start(|_| Reply::json(json!({"stolen": true})));
    let outside_url = outside.url("/collect");
    let allowed = Stub::start(move |request| match request.path.as_str() {
        "/ok" => Reply::json(json!({"hello": "world"})),
        "/redirect-inside" => Reply::status(302).header("location", "/ok"),
        "/redirect-outside" => Reply::status(302).header("location", &outside_url),
        "/slow" => Reply::json(json!({})).delayed(Duration::from_secs(3)),
        "/huge" => Reply::status(200).body(vec![b'x'; 5 * 1024 * 1024]),
        _ => Reply::status(404),
    });
    let probe_wasm = plugin("probe");
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\nhttp_timeout_ms = 500\n",
        allowed.authority()
    );
    let host = Host::start(
        Setup::new()
            .app("probe", &probe_wasm)
            .sidecar(&sidecar)
            .app("hello", hello()),
    );
    assert_eq!(host.send("probe", &install("co-cap-http")).status, 200);
    assert_eq!(host.send("hello", &install("co-cap-http")).status, 200);
    let fetch = |url: String| probe(&host, "probe", "co-cap-http", "fetch", json!({"url": url}));

    assert_eq!(fetch(allowed.url("/ok")), r#"ok: 200 {"hello":"world"}"#);
    assert_eq!(
        fetch(allowed.url("/redirect-inside")),
        r#"ok: 200 {"hello":"world"}"#
    );
    let cases = [
        (outside.url("/collect"), "not in this app's allowed_hosts"),
        (
            allowed.url("/redirect-outside"),
            "not in this app's allowed_hosts",
        ),
        (allowed.url("/slow"), "no complete answer within 500ms"),
        (allowed.url("/huge"), "over the limit of 4194304 bytes"),
        (
            "file:///etc/passwd".to_owned(),
            "not in this app's allowed_hosts",
        ),
    ];
    for (url, expected) in cases {
        let seen = fetch(url.clone());
        assert!(
            seen.starts_with("error: ") && seen.contains(expected),
            "{url}: {seen}"
        );
        // The host is unharmed: another app still answers.
        let configure = json!({"event": "application_configure", "company_id": "co-cap-http"});
        assert_eq!(host.send("hello", &configure).status, 200, "after {url}");
    }
    assert!(outside.received().is_empty(), "a refused host was reached");
    assert!(
        host.log().contains("outbound call refused or failed"),
        "refusals are not logged"
    );
}

#[test]
fn keruj_api_gets_the_company_key_which_the_plugin_never_sees() {
    let keruj = Stub::start(|_| Reply::json(json!({"data": {"viewer": {"id": "u1"}}})));
    let probe_wasm = plugin("probe");
    let host = Host::start(
        Setup::new()
            .app("probe", &probe_wasm)
            .env("KERUJ_API_URL", &keruj.url("/api/graphql")),
    );
    let install = install("co-cap-keruj");
    let key = install["account_api_key"].as_str().unwrap().to_owned();
    assert_eq!(host.send("probe", &install).status, 200);

    let seen = probe(
        &host,
        "probe",
        "co-cap-keruj",
        "graphql",
        json!({"query": "{ viewer { id } }"}),
    );
    assert_eq!(seen, r#"ok: {"viewer":{"id":"u1"}}"#);
    let received = keruj.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].headers["x-keruj-api-key"], key);
    assert_eq!(received[0].headers["x-keruj-company-id"], "co-cap-keruj");
    assert_eq!(
        received[0].json(),
        json!({"query": "{ viewer { id } }", "variables": {"n": 1}})
    );
    assert!(
        !contains(host.log().as_bytes(), key.as_bytes()),
        "the key is in the log"
    );
}
