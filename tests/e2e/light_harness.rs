//! `keruj-test`, the light harness of `keruj-host new`'s apps: it drives
//! this package's `keruj-host` binary (`dev --answer-outbound`) over
//! loopback. The same checks as `harness.rs` makes of the in-process
//! `keruj_host::testing`, against real compiled plugins, to show that both
//! see what the host does in production.

use std::path::Path;
use std::time::Duration;

use keruj_host::capabilities::outbound::MAX_RESPONSE_BYTES;
use keruj_test::{ACCOUNT_ID, KERUJ_API_URL, OutboundResponse, TestApp, TestAppBuilder};
use serde_json::{Value, json};

use crate::support::{hello, plugin};

const COMPANY: &str = "co-light-1";

/// A builder that runs the binary cargo built for these tests.
fn builder() -> TestAppBuilder {
    TestApp::builder().binary(env!("CARGO_BIN_EXE_keruj-host"))
}

fn load(wasm: &Path) -> TestApp {
    builder().load(wasm).expect("the app loads")
}

/// What `probe` saw for one call: the label of its `info` element.
fn probe(app: &TestApp, call: &str, data: Value) -> String {
    let form = app.submit(call, data).expect_form();
    assert_eq!(form.reply, "probed");
    form.elements[0].label.clone()
}

#[test]
fn a_dialogue_with_typed_answers_and_the_apps_log() {
    let app = builder().name("hello").load(hello()).unwrap();
    app.install(COMPANY).expect_done();
    assert!(app.is_installed(COMPANY));
    assert!(
        app.api_key(COMPANY)
            .is_some_and(|key| key.starts_with("kj_"))
    );

    let form = app.configure().expect_form();
    assert_eq!(form.reply, "name_submitted");
    assert!(form.elements[0].required);
    let again = app
        .submit("name_submitted", json!({"name": ""}))
        .expect_form();
    assert_eq!(again.errors["name"], "Please type your name");
    app.submit("name_submitted", json!({"name": "Olena"}))
        .expect_done();
    let logged = app.last_logs().join("\n");
    assert!(logged.contains("Olena"), "the app's log: {logged}");

    let echo = app.event("order_paid", json!({"order": 42})).expect_form();
    assert!(echo.elements[0].label.contains("\"order\":42"), "{echo:?}");

    app.use_company("co-never-installed");
    let (status, message) = app.configure().expect_error();
    assert_eq!(
        (status, message.as_str()),
        (409, "the app is not installed for this company")
    );
    app.use_company(COMPANY);
    app.uninstall().expect_done();
    assert!(!app.is_installed(COMPANY));
}

#[test]
fn kv_secrets_and_config_seen_from_both_sides() {
    let app = builder()
        .config("mode", "test")
        .config("region", "ua")
        .load(plugin("probe"))
        .unwrap();
    app.install(COMPANY).expect_done();

    app.kv_set(COMPANY, "greeting", "hi");
    assert_eq!(probe(&app, "kv_get", json!({"key": "greeting"})), "ok: hi");
    app.secret_set(COMPANY, "token", "s3cret-seeded");
    let seen = probe(&app, "secret_get", json!({"name": "token"}));
    assert_eq!(seen, "ok: s3cret-seeded");

    probe(&app, "kv_set", json!({"key": "plain", "value": "v-7c1d"}));
    probe(
        &app,
        "secret_set",
        json!({"name": "pin", "value": "h-9b2e"}),
    );
    assert_eq!(
        app.kv_get(COMPANY, "plain").as_deref(),
        Some(&b"v-7c1d"[..])
    );
    assert_eq!(app.secret_get(COMPANY, "pin").as_deref(), Some("h-9b2e"));
    // On disk: the kv value as written, the secret only encrypted.
    assert!(app.stored_in_plaintext("v-7c1d"));
    assert!(!app.stored_in_plaintext("h-9b2e"));
    assert_eq!(app.kv_keys(COMPANY), ["greeting", "plain"]);
    assert_eq!(app.kv_get("co-other", "plain"), None);

    let config = probe(&app, "config", json!({}));
    assert_eq!(config, r#"ok: [["mode","test"],["region","ua"]]"#);

    app.uninstall().expect_done();
    assert_eq!(app.kv_get(COMPANY, "plain"), None);
    assert_eq!(app.secret_get(COMPANY, "pin"), None);
}

#[test]
#[should_panic(expected = "co-x has not installed probe: install it first")]
fn seeding_needs_an_install() {
    load(&plugin("probe")).kv_set("co-x", "k", "v");
}

#[test]
fn outbound_calls_go_to_the_handler_under_the_apps_grant() {
    let app = builder()
        .allow_host("api.example.com")
        // Room for the 4 MiB answer to cross as base64 on a loaded machine;
        // `/slow` answers well after it.
        .sidecar("http_timeout_ms", 1_500)
        .on_http(|request| match request.path().as_str() {
            "/hop" => OutboundResponse::status(302).header("location", "https://evil.example/"),
            "/huge" => OutboundResponse::status(200).body(vec![b'x'; MAX_RESPONSE_BYTES + 1]),
            "/slow" => {
                std::thread::sleep(Duration::from_millis(3_500));
                OutboundResponse::text("late")
            }
            path => OutboundResponse::text(format!("pong {path}")),
        })
        .on_keruj_api(|request| {
            assert_eq!(request.method, "POST");
            OutboundResponse::json(json!({"data": {"echo": request.json()["variables"]}}))
        })
        .load(plugin("probe"))
        .unwrap();
    app.install(COMPANY).expect_done();
    let fetch = |url: &str| probe(&app, "fetch", json!({"url": url}));

    assert_eq!(fetch("https://api.example.com/ping"), "ok: 200 pong /ping");
    let sent = app.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].url.as_str()),
        ("GET", "https://api.example.com/ping")
    );

    // The grant applies before the handler: these never reach it.
    let refused = fetch("https://other.example/ping");
    assert!(refused.contains("other.example is not in this app's allowed_hosts"));
    let redirected = fetch("https://api.example.com/hop");
    assert!(redirected.contains("evil.example is not in this app's allowed_hosts"));
    assert_eq!(app.requests().len(), 2, "only the first hop was sent");
    // So do the size and time limits.
    assert!(fetch("https://api.example.com/huge").contains("over the limit"));
    let slow = fetch("https://api.example.com/slow");
    assert!(slow.contains("no complete answer within"), "{slow}");

    // Keruj's API: the company's own key and id, added by the host.
    let answer = probe(&app, "graphql", json!({"query": "{ me { id } }"}));
    assert_eq!(answer, r#"ok: {"echo":{"n":1}}"#);
    let to_keruj = app.requests().pop().unwrap();
    assert_eq!(to_keruj.url, KERUJ_API_URL);
    assert_eq!(
        to_keruj.header("x-keruj-api-key"),
        app.api_key(COMPANY).as_deref()
    );
    assert_eq!(to_keruj.header("x-keruj-company-id"), Some(COMPANY));
}

#[test]
#[should_panic(expected = "the on_http handler panicked on GET https://api.example.com/x: wrong")]
fn a_panicking_handler_fails_the_test() {
    let app = builder()
        .allow_host("api.example.com")
        .on_http(|request| {
            assert!(request.path() == "/y", "wrong path");
            OutboundResponse::text("never")
        })
        .load(plugin("probe"))
        .unwrap();
    app.install(COMPANY).expect_done();
    probe(&app, "fetch", json!({"url": "https://api.example.com/x"}));
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("my_app.wasm");
    let error = builder().load(&missing).err().unwrap().to_string();
    assert!(error.contains("build it first"), "{error}");
    std::fs::write(&missing, b"not a component").unwrap();
    let error = builder().load(&missing).err().unwrap().to_string();
    assert!(error.contains("keruj-host cannot load my_app"), "{error}");
    let error = builder().name("Bad Name").load(hello()).err().unwrap();
    assert!(error.to_string().contains("not a valid app id"), "{error}");
    let error = TestApp::builder()
        .binary(dir.path().join("nothing"))
        .load(hello());
    assert!(error.err().unwrap().to_string().contains("cannot start"));
}

#[test]
fn schedules_and_webhooks_fired_by_the_test() {
    let app = builder()
        .schedule("digest", "1h")
        .webhook(
            "orders",
            "order_paid",
            "standard-webhooks",
            "secret:signing_key",
        )
        .webhook("pings", "ping", "none", None)
        .load(plugin("recorder"))
        .unwrap();
    app.install(COMPANY).expect_done();

    app.run_schedule("digest").expect_done();
    let run: Value = app.kv_get_json(COMPANY, "seen/digest/0").unwrap();
    assert_eq!(run["schedule"]["event"], "digest");
    assert_eq!(run["account_id"], ACCOUNT_ID);

    let url = app.webhook_url("orders");
    let shown = app.event("show", json!({})).expect_form();
    let body: Value = serde_json::from_str(&shown.elements[0].label).unwrap();
    assert_eq!(body["webhooks"]["orders"], url);

    app.secret_set(
        COMPANY,
        "signing_key",
        "whsec_dGhlIGNvbXBhbnkncyBvd24ga2V5LCAzMiBieXRlcyE=",
    );
    app.deliver_signed("orders", r#"{"order":42}"#)
        .expect_accepted();
    let run: Value = app.kv_get_json(COMPANY, "seen/order_paid/0").unwrap();
    assert_eq!(run["webhook"]["body"], r#"{"order":42}"#);
    // Unsigned: refused by the host, the app never runs.
    assert_eq!(app.deliver_webhook("orders", &[], "{}").status, 401);
    app.deliver_webhook("pings", &[], "{}").expect_accepted();
    assert!(app.kv_get(COMPANY, "seen/ping/0").is_some());
}

#[test]
fn what_the_app_made_at_run_time_is_seen_and_fired_by_the_test() {
    let app = builder()
        .webhook("pings", "ping", "none", None)
        .load(plugin("recorder"))
        .unwrap();
    app.install(COMPANY).expect_done();
    let made = |call: &str, data: Value| {
        let text = app.submit(call, data).expect_form().elements[0]
            .label
            .clone();
        serde_json::from_str::<Value>(&text).unwrap()["ok"].clone()
    };
    let id = made(
        "schedule",
        json!({"event": "follow_up", "after": "3600", "payload": "[7]"}),
    );
    let listed = app.made_schedules();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].once),
        (id.as_str().unwrap(), true)
    );
    assert_eq!(listed[0].payload, json!([7]));
    app.run_made_schedule(&listed[0].id).expect_done();
    let run: Value = app.kv_get_json(COMPANY, "seen/follow_up/0").unwrap();
    assert_eq!(run["schedule"]["payload"], json!([7]));
    assert!(
        app.made_schedules().is_empty(),
        "a one-off that ran is gone"
    );

    let url = made("mint", json!({"name": "pings", "label": "shop-1"}));
    let minted = app.minted_webhooks();
    assert_eq!(
        minted,
        vec![(
            "pings".into(),
            "shop-1".into(),
            url.as_str().unwrap().to_owned()
        )]
    );
    app.deliver_webhook_to(&minted[0].2, &[], "{}")
        .expect_accepted();
    let delivery: Value = app.kv_get_json(COMPANY, "seen/ping/0").unwrap();
    assert_eq!(delivery["webhook"]["label"], "shop-1");
}

/// `dev` opened to the network shows no secret, and `--stop-with-stdin`
/// ends it when the pipe closes (a killed test leaves no host behind).
#[test]
fn a_remote_console_hides_secrets_and_the_host_goes_with_its_stdin() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(hello(), dir.path().join("hello.wasm")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keruj-host"))
        .args([
            "dev",
            "--listen",
            "0.0.0.0:0",
            "--allow-remote",
            "--stop-with-stdin",
        ])
        .arg("--plugins")
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            Some(
                line.split_once("listening on http://0.0.0.0:")?
                    .1
                    .to_owned(),
            )
        })
        .expect("dev says where it listens");
    let data = |space: &str| {
        let url = format!(
            "http://127.0.0.1:{}/_dev/api/data?app=hello&company=c&space={space}",
            port.trim_end_matches('/')
        );
        reqwest::blocking::get(url).unwrap().status().as_u16()
    };
    assert_eq!(data("kv"), 200);
    assert_eq!(data("secrets"), 403);

    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "dev runs on without its stdin"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
