//! `keruj_host::testing`, the harness app authors use in `cargo test`:
//! driven here against real compiled plugins (`hello`, `probe`, `recorder`,
//! `wasi-fetch`) to show that what a test sees through it is what the host
//! does in production.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keruj_host::capabilities::outbound::{MAX_CALLS_PER_EVENT, MAX_RESPONSE_BYTES};
use keruj_host::testing::{OutboundResponse, TestApp};
use serde_json::{Value, json};

use crate::support::{hello, plugin, workspace};

const COMPANY: &str = "co-harness-1";

/// What `probe` saw for one call: the label of its `info` element.
fn probe(app: &TestApp, call: &str, data: Value) -> String {
    let form = app.submit(call, data).expect_form();
    assert_eq!(form.reply, "probed");
    form.elements[0].label.clone()
}

#[test]
fn hello_dialogue_with_typed_answers() {
    let app = TestApp::builder().name("hello").load(hello()).unwrap();
    assert_eq!(app.name(), "hello");
    app.install(COMPANY).expect_done();
    assert!(app.is_installed(COMPANY));

    let form = app.configure().expect_form();
    assert_eq!(form.reply, "name_submitted");
    assert_eq!(form.title, "Say hello");
    assert_eq!(form.elements[0].name, "name");
    assert!(form.elements[0].required);

    let again = app
        .submit("name_submitted", json!({"name": ""}))
        .expect_form();
    assert_eq!(again.errors["name"], "Please type your name");
    app.submit("name_submitted", json!({"name": "Olena"}))
        .expect_done();

    // A custom event's fields travel beside `event`, as Keruj sends them.
    let echo = app.event("order_paid", json!({"order": 42})).expect_form();
    assert_eq!(echo.title, "Echo: order_paid");
    assert!(echo.elements[0].label.contains("\"order\":42"), "{echo:?}");

    app.use_company("co-never-installed");
    let (status, message) = app.configure().expect_error();
    assert_eq!(status, 409);
    assert_eq!(message, "the app is not installed for this company");

    app.use_company(COMPANY);
    app.uninstall().expect_done();
    assert!(!app.is_installed(COMPANY));
    assert_eq!(app.configure().status(), 409);
}

#[test]
#[should_panic(expected = "expected a form, got done (200, empty body)")]
fn expect_form_says_what_came_instead() {
    let app = TestApp::builder().name("hello").load(hello()).unwrap();
    app.install(COMPANY).expect_form();
}

#[test]
fn kv_secrets_and_config_seen_from_both_sides() {
    let app = TestApp::builder()
        .config("mode", "test")
        .config("region", "ua")
        .load(plugin("probe"))
        .unwrap();
    app.install(COMPANY).expect_done();

    // Seeded by the test, read by the app.
    app.kv_set(COMPANY, "greeting", "hi");
    assert_eq!(probe(&app, "kv_get", json!({"key": "greeting"})), "ok: hi");
    app.secret_set(COMPANY, "token", "s3cret-seeded");
    assert_eq!(
        probe(&app, "secret_get", json!({"name": "token"})),
        "ok: s3cret-seeded"
    );

    // Stored by the app, read by the test.
    probe(
        &app,
        "kv_set",
        json!({"key": "plain", "value": "visible-7c1d"}),
    );
    probe(
        &app,
        "secret_set",
        json!({"name": "pin", "value": "hidden-9b2e"}),
    );
    assert_eq!(
        app.kv_get(COMPANY, "plain").as_deref(),
        Some(&b"visible-7c1d"[..])
    );
    assert_eq!(
        app.secret_get(COMPANY, "pin").as_deref(),
        Some("hidden-9b2e")
    );
    assert!(app.stored_in_plaintext(b"visible-7c1d"), "kv is plain data");
    assert!(
        !app.stored_in_plaintext(b"hidden-9b2e"),
        "a secret is in plaintext"
    );

    // Another company sees none of it.
    assert_eq!(app.kv_get("co-other", "plain"), None);

    assert_eq!(
        probe(&app, "config", json!({})),
        r#"ok: [["mode","test"],["region","ua"]]"#
    );

    app.uninstall().expect_done();
    assert_eq!(app.kv_get(COMPANY, "plain"), None);
    assert_eq!(app.secret_get(COMPANY, "pin"), None);
}

#[test]
#[should_panic(expected = "has not installed probe: call install(\"co-x\") first")]
fn seeding_needs_an_install() {
    let app = TestApp::load(plugin("probe")).unwrap();
    app.kv_set("co-x", "k", "v");
}

#[test]
fn outbound_calls_go_to_the_handler_under_the_apps_grant() {
    let app = TestApp::builder()
        .allow_host("api.example.com")
        .sidecar("http_timeout_ms", 300)
        .on_http(|request| match request.path().as_str() {
            "/hop" => OutboundResponse::status(302).header("location", "https://evil.example/"),
            "/huge" => OutboundResponse::status(200).body(vec![b'x'; MAX_RESPONSE_BYTES + 1]),
            "/slow" => {
                std::thread::sleep(Duration::from_millis(1_500));
                OutboundResponse::text("late")
            }
            path => OutboundResponse::text(format!("pong {path}")).header("x-seen", "yes"),
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
    assert_eq!(sent[0].method, "GET");
    assert_eq!(sent[0].url, "https://api.example.com/ping");

    // The grant applies before the handler: these never reach it.
    let refused = fetch("https://other.example/ping");
    assert!(
        refused.contains("other.example is not in this app's allowed_hosts"),
        "{refused}"
    );
    let redirected = fetch("https://api.example.com/hop");
    assert!(
        redirected.contains("evil.example is not in this app's allowed_hosts"),
        "{redirected}"
    );
    assert_eq!(app.requests().len(), 2, "only the first hop was sent");

    // So do the size and time limits.
    let huge = fetch("https://api.example.com/huge");
    assert!(huge.contains("over the limit"), "{huge}");
    let slow = fetch("https://api.example.com/slow");
    assert!(slow.contains("no complete answer within"), "{slow}");

    // Keruj's API: the company's own key and id, added by the host.
    assert_eq!(
        probe(&app, "graphql", json!({"query": "{ me { id } }"})),
        r#"ok: {"echo":{"n":1}}"#
    );
    let to_keruj = app.requests().pop().unwrap();
    assert_eq!(to_keruj.url, keruj_host::testing::KERUJ_API_URL);
    assert_eq!(
        to_keruj.header("x-keruj-api-key"),
        app.api_key(COMPANY).as_deref()
    );
    assert_eq!(to_keruj.header("x-keruj-company-id"), Some(COMPANY));
    assert_eq!(to_keruj.json()["query"], "{ me { id } }");
}

#[test]
fn without_a_handler_calls_get_502_saying_so() {
    let app = TestApp::builder()
        .allow_host("api.example.com")
        .load(plugin("probe"))
        .unwrap();
    app.install(COMPANY).expect_done();
    let seen = probe(&app, "fetch", json!({"url": "https://api.example.com/x"}));
    assert!(seen.starts_with("ok: 502 "), "{seen}");
    assert!(seen.contains("the test gave no on_http handler"), "{seen}");
}

#[test]
#[should_panic(
    expected = "the on_http handler panicked on GET https://api.example.com/x: wrong path"
)]
fn a_panicking_handler_fails_the_test() {
    let app = TestApp::builder()
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
fn wasi_http_calls_are_answered_and_counted_alike() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let app = TestApp::builder()
        .allow_host("api.example.com")
        .on_http(move |_| {
            *counted.lock().unwrap() += 1;
            OutboundResponse::text("fine")
        })
        .load(plugin("wasi-fetch"))
        .unwrap();
    app.install(COMPANY).expect_done();
    let form = app
        .submit("fetch", json!({"url": "https://api.example.com/w"}))
        .expect_form();
    let seen = &form.elements[0].label;
    assert!(
        seen.starts_with("ok: ") && seen.contains("200") && seen.contains("fine"),
        "{seen}"
    );

    let over = MAX_CALLS_PER_EVENT;
    let form = app
        .submit(
            "count",
            json!({"url": "https://api.example.com/n", "capability": "15", "wasi": over.to_string()}),
        )
        .expect_form();
    let seen = &form.elements[0].label;
    assert!(
        seen.starts_with(&format!("ok: {over} answered, then wasi:http")),
        "{seen}"
    );
    assert_eq!(*calls.lock().unwrap(), 1 + over);
}

#[test]
fn build_compiles_the_crate_and_names_the_app_after_it() {
    // The e2e plugins' own target folder: already built, so cargo only checks.
    hello();
    let app = TestApp::builder()
        .target_dir(workspace().join("target/plugins"))
        .build(workspace().join("plugins/hello"))
        .unwrap();
    assert_eq!(app.name(), "hello");
    app.install(COMPANY).expect_done();
    assert_eq!(app.configure().expect_form().reply, "name_submitted");
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let error = format!("{:#}", TestApp::build(dir.path()).err().unwrap());
    assert!(error.contains("no Cargo.toml at"), "{error}");

    let missing = dir.path().join("my_app.wasm");
    let error = format!("{:#}", TestApp::load(&missing).err().unwrap());
    assert!(error.contains("build it first"), "{error}");

    std::fs::write(&missing, b"not a component").unwrap();
    let error = format!("{:#}", TestApp::load(&missing).err().unwrap());
    assert!(error.contains("the host cannot load"), "{error}");

    let error = format!(
        "{:#}",
        TestApp::builder()
            .name("Bad Name")
            .load(hello())
            .err()
            .unwrap()
    );
    assert!(error.contains("not a valid app id"), "{error}");
}

/// The recorder with a schedule and two webhooks, installed for [`COMPANY`].
fn recorder_with_triggers() -> TestApp {
    let app = TestApp::builder()
        .schedule("digest", "1h")
        .schedule("fail_sync", "1h")
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
    app
}

#[test]
fn a_scheduled_run_fired_now_with_the_contract_body() {
    let app = recorder_with_triggers();
    let before = jiff::Timestamp::now();
    app.run_schedule("digest").expect_done();
    let run: Value = app.kv_get_json(COMPANY, "seen/digest/0").unwrap();
    assert_eq!(run["event"], "digest");
    assert_eq!(run["company_id"], COMPANY);
    assert_eq!(run["account_id"], keruj_host::testing::ACCOUNT_ID);
    assert_eq!(run["schedule"]["event"], "digest");
    assert_eq!(run["schedule"]["attempt"], 1);
    let due: jiff::Timestamp = run["schedule"]["due"].as_str().unwrap().parse().unwrap();
    assert!(due.duration_since(before).abs() < jiff::SignedDuration::from_secs(60));
    // The app's error is the run's: the scheduler would try it again.
    let (status, _) = app.run_schedule("fail_sync").expect_error();
    assert_eq!(status, 500);
    // A company without the app has no runs.
    app.use_company("co-never-installed");
    assert_eq!(app.run_schedule("digest").status(), 409);
}

#[test]
#[should_panic(
    expected = "has no [[schedule]] with event \"nightly\" (it schedules: digest, fail_sync)"
)]
fn run_schedule_refuses_a_schedule_the_sidecar_does_not_declare() {
    recorder_with_triggers().run_schedule("nightly");
}

#[test]
fn what_the_app_made_at_run_time_is_seen_and_fired_by_the_test() {
    let app = recorder_with_triggers();
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
    // Fired now, not in an hour; a one-off run is gone once it ran.
    app.run_made_schedule(&listed[0].id).expect_done();
    let run: Value = app.kv_get_json(COMPANY, "seen/follow_up/0").unwrap();
    assert_eq!(run["schedule"]["id"], id);
    assert_eq!(run["schedule"]["payload"], json!([7]));
    assert!(app.made_schedules().is_empty());

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

#[test]
fn webhook_deliveries_verified_and_deduplicated_by_the_host() {
    let app = recorder_with_triggers();
    let url = app.webhook_url("orders");
    // The URL the app itself gets in its events.
    let shown = app.event("show", json!({})).expect_form();
    let body: Value = serde_json::from_str(&shown.elements[0].label).unwrap();
    assert_eq!(body["webhooks"]["orders"], url);

    app.secret_set(
        COMPANY,
        "signing_key",
        "whsec_dGhlIGNvbXBhbnkncyBvd24ga2V5LCAzMiBieXRlcyE=",
    );
    let order = r#"{"order":42}"#;
    app.deliver_signed("orders", order).expect_accepted();
    let run: Value = app.kv_get_json(COMPANY, "seen/order_paid/0").unwrap();
    assert_eq!(run["webhook"]["name"], "orders");
    assert_eq!(run["webhook"]["body"], order);

    // One delivery id twice: the app runs once; a changed body is refused.
    let headers = app.signed_headers("orders", "m-1", order.as_bytes());
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (&**k, &**v)).collect();
    app.deliver_webhook("orders", &headers, order)
        .expect_accepted();
    app.deliver_webhook("orders", &headers, order)
        .expect_accepted();
    assert!(app.kv_get(COMPANY, "seen/order_paid/1").is_some());
    assert!(
        app.kv_get(COMPANY, "seen/order_paid/2").is_none(),
        "ran twice"
    );
    let forged = app.deliver_webhook("orders", &headers, r#"{"order":43}"#);
    assert_eq!(forged.status, 401, "{forged:?}");
    assert_eq!(app.deliver_webhook("orders", &[], order).status, 401);

    // verify = "none": anything goes through.
    app.deliver_webhook("pings", &[], "{}").expect_accepted();
    assert!(app.kv_get(COMPANY, "seen/ping/0").is_some());
}

#[test]
#[should_panic(expected = "which co-harness-1 has not stored: seed it with secret_set")]
fn signing_needs_the_secret_the_sidecar_names() {
    recorder_with_triggers().deliver_signed("orders", "{}");
}
