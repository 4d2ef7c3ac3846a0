//! A company's life with an app, as Keruj drives it: install, the settings
//! dialogue, other events, uninstall; and the health routes.

use serde_json::{Value, json};

use crate::support::{Host, Setup, TOKEN, event, hello, hello_form, install, submission};

fn hello_host() -> Host {
    Host::start(Setup::new().app("hello", hello()))
}

#[test]
fn full_dialogue_with_hello() {
    let host = hello_host();
    let company = "co-dialogue-1";

    let installed = host.send("hello", &install(company));
    assert_eq!(
        (installed.status, installed.body.as_str()),
        (200, ""),
        "install"
    );

    let form = host.send("hello", &event("application_configure", company));
    assert_eq!(form.status, 200, "configure: {}", form.body);
    assert!(
        form.content_type.starts_with("application/json"),
        "{form:?}"
    );
    assert_eq!(form.json(), hello_form());

    let blank = host.send(
        "hello",
        &submission("name_submitted", company, json!({"name": "  "})),
    );
    assert_eq!(blank.status, 200, "blank name: {}", blank.body);
    let mut with_error = hello_form();
    with_error["errors"] = json!({"name": "Please type your name"});
    assert_eq!(blank.json(), with_error);

    let named = host.send(
        "hello",
        &submission("name_submitted", company, json!({"name": "Olena"})),
    );
    assert_eq!((named.status, named.body.as_str()), (200, ""), "good name");

    let ping = json!({
        "event": "ping",
        "company_id": company,
        "account_id": "acc-e2e-1",
        "account_api_key": "kj_live_other",
        "extra": {"n": 1}
    });
    let echo = host.send("hello", &ping);
    assert_eq!(echo.status, 200, "ping: {}", echo.body);
    let echo = echo.json();
    assert_eq!(echo["reply"], "echo_seen");
    assert_eq!(echo["title"], "Echo: ping");
    let element = &echo["elements"][0];
    assert_eq!(
        (&element["type"], &element["name"]),
        (&json!("info"), &json!("received"))
    );
    let label = element["label"].as_str().expect("the label is text");
    assert!(
        !label.contains("account_api_key"),
        "the plugin saw the key field: {label}"
    );
    assert!(
        !label.contains("kj_live_other"),
        "the plugin saw the key: {label}"
    );
    let mut expected = ping.clone();
    expected.as_object_mut().unwrap().remove("account_api_key");
    let received: Value = serde_json::from_str(label).expect("the label is the JSON received");
    assert_eq!(
        received, expected,
        "the plugin got the whole body but the key"
    );

    let uninstalled = host.send("hello", &event("application_uninstall", company));
    assert_eq!(uninstalled.status, 200, "uninstall: {}", uninstalled.body);

    host.send("hello", &event("application_configure", company))
        .assert_error(409);
}

#[test]
fn uninstall_of_a_company_never_installed_is_done() {
    let host = hello_host();
    let answer = host.send(
        "hello",
        &event("application_uninstall", "co-never-installed"),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn install_again_replaces() {
    let host = hello_host();
    let company = "co-reinstall-1";
    for _ in 0..2 {
        assert_eq!(host.send("hello", &install(company)).status, 200);
    }
    let form = host.send("hello", &event("application_configure", company));
    assert_eq!(form.status, 200, "{}", form.body);
}

#[test]
fn token_from_the_sidecar_token_env() {
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .without_token()
            .sidecar("token_env = \"HELLO_SECRET_E2E\"\n")
            .env("HELLO_SECRET_E2E", TOKEN),
    );
    let installed = host.send("hello", &install("co-token-env-1"));
    assert_eq!(installed.status, 200, "{}", installed.body);
    host.post(
        "hello",
        Some("not-it"),
        install("co-token-env-2").to_string(),
    )
    .assert_error(401);
}

#[test]
fn app_without_a_token_refuses_every_event() {
    let host = Host::start(Setup::new().app("hello", hello()).without_token());
    let company = "co-no-token-1";
    for body in [install(company), event("application_configure", company)] {
        host.send("hello", &body).assert_error(401);
        host.post("hello", None, body.to_string()).assert_error(401);
        host.post("hello", Some(""), body.to_string())
            .assert_error(401);
    }
    let health = host.get("/apps/hello/health");
    assert_eq!(health.status, 503, "{}", health.body);
    assert!(
        host.log().contains("hello"),
        "the log does not say why: {}",
        host.log()
    );
}

#[test]
fn health_routes() {
    let host = hello_host();
    assert_eq!(host.get("/healthz").status, 200);
    let health = host.get("/apps/hello/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(host.get("/apps/nope/health").status, 404);
}
