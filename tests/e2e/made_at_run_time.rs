//! What an app makes at run time for its company (`keruj:plugin@0.2.0`):
//! schedules (one-off and recurring, with a payload) and minted webhook
//! URLs. Each bound to the company, within its quota, gone at uninstall.

use std::time::Duration;

use serde_json::{Value, json};

use crate::schedules::{eventually, seen};
use crate::support::{Host, Setup, event, install, plugin, submission};
use crate::webhooks::deliver;

fn recorder() -> Host {
    Host::start(
        Setup::new()
            .app("recorder", &plugin("recorder"))
            .sidecar("[[webhook]]\nname = \"orders\"\nevent = \"order_hook\"\n")
            .env("KERUJ_MIN_SCHEDULE_INTERVAL", "1s"),
    )
}

/// Asks the recorder to make the 0.2.0 call `call` with `data`: `Ok` with
/// what the SDK returned, or `Err` with the host's reason.
pub fn call(host: &Host, company: &str, call: &str, data: Value) -> Result<Value, String> {
    let answer = host.send("recorder", &submission(call, company, data));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = answer.json()["elements"][0]["label"]
        .as_str()
        .unwrap()
        .to_owned();
    let result: Value = serde_json::from_str(&text).unwrap();
    match result.get("ok") {
        Some(ok) => Ok(ok.clone()),
        None => Err(result["error"].as_str().unwrap().to_owned()),
    }
}

#[test]
fn a_one_off_run_carries_its_payload_runs_once_and_is_gone() {
    let host = recorder();
    let company = "co-made-1";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let id = call(
        &host,
        company,
        "schedule",
        json!({"event": "follow_up", "after": "1", "payload": "{\"order\": 7}"}),
    )
    .unwrap();
    let listed = call(&host, company, "schedules", json!({})).unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["event"], "follow_up");
    assert_eq!(listed[0]["payload"], json!({"order": 7}));

    let runs = eventually(Duration::from_secs(30), || {
        let runs = seen(&host, "recorder", company);
        runs.contains_key("seen/follow_up/0").then_some(runs)
    });
    let run = &runs["seen/follow_up/0"]["schedule"];
    assert_eq!(run["id"], id);
    assert_eq!(run["payload"], json!({"order": 7}));
    assert_eq!(run["attempt"], 1);
    eventually(Duration::from_secs(10), || {
        (call(&host, company, "schedules", json!({})).unwrap() == json!([])).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let runs = seen(&host, "recorder", company);
    assert!(
        !runs.contains_key("seen/follow_up/1"),
        "ran twice: {runs:?}"
    );
}

#[test]
fn a_recurring_schedule_runs_until_cancelled_and_only_for_its_company() {
    let host = recorder();
    let (company, other) = ("co-made-2", "co-made-3");
    for c in [company, other] {
        assert_eq!(host.send("recorder", &install(c)).status, 200);
    }
    let id = call(
        &host,
        company,
        "schedule",
        json!({"event": "tick", "every": "1s"}),
    )
    .unwrap();
    let id = id.as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), || {
        seen(&host, "recorder", company)
            .contains_key("seen/tick/1")
            .then_some(())
    });
    // Another company neither sees nor cancels it, and gets no runs.
    assert_eq!(
        call(&host, other, "schedules", json!({})).unwrap(),
        json!([])
    );
    assert_eq!(
        call(&host, other, "cancel", json!({"id": id})).unwrap(),
        false
    );
    assert!(seen(&host, "recorder", other).is_empty());

    assert_eq!(
        call(&host, company, "cancel", json!({"id": id})).unwrap(),
        true
    );
    assert_eq!(
        call(&host, company, "cancel", json!({"id": id})).unwrap(),
        false
    );
    // A run already started may finish (within its 5 s time limit); none
    // starts after that.
    std::thread::sleep(Duration::from_secs(6));
    let settled = seen(&host, "recorder", company).len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        seen(&host, "recorder", company).len(),
        settled,
        "runs after cancel"
    );
}

#[test]
fn what_the_host_cannot_honour_is_refused_with_the_reason() {
    let host = recorder();
    let company = "co-made-4";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let refused = |data: Value| call(&host, company, "schedule", data).unwrap_err();
    assert!(
        refused(json!({"event": "x", "every": "500ms"}))
            .contains("more often than the host allows")
    );
    assert!(refused(json!({"event": "x", "at": "tomorrow"})).contains("RFC 3339"));
    assert!(
        refused(json!({"event": "x", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}))
            .contains("unknown time zone")
    );
    assert!(refused(json!({"event": "application_uninstall", "after": "5"})).contains("lifecycle"));
    assert!(
        call(&host, company, "mint", json!({"name": "nope", "label": ""}))
            .unwrap_err()
            .contains("no [[webhook]] named")
    );

    // Quotas: 100 schedules, 50 minted URLs per company.
    for n in 0..100 {
        call(
            &host,
            company,
            "schedule",
            json!({"event": "later", "after": "3600", "payload": n.to_string()}),
        )
        .unwrap();
    }
    assert!(
        refused(json!({"event": "later", "after": "3600"})).contains("already has 100 schedules")
    );
    for n in 0..50 {
        call(
            &host,
            company,
            "mint",
            json!({"name": "orders", "label": format!("shop-{n}")}),
        )
        .unwrap();
    }
    let full = call(
        &host,
        company,
        "mint",
        json!({"name": "orders", "label": "one more"}),
    )
    .unwrap_err();
    assert!(full.contains("already has 50 minted URLs"), "{full}");

    // Uninstall deletes them all; a new install starts empty.
    assert_eq!(
        host.send("recorder", &event("application_uninstall", company))
            .status,
        200
    );
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    assert_eq!(
        call(&host, company, "schedules", json!({})).unwrap(),
        json!([])
    );
    assert_eq!(
        call(&host, company, "minted", json!({})).unwrap(),
        json!([])
    );
}

#[test]
fn a_minted_url_delivers_with_its_label_until_revoked() {
    let host = recorder();
    let (company, other) = ("co-mint-1", "co-mint-2");
    for c in [company, other] {
        assert_eq!(host.send("recorder", &install(c)).status, 200);
    }
    let url = call(
        &host,
        company,
        "mint",
        json!({"name": "orders", "label": "shop-kyiv"}),
    )
    .unwrap();
    let url = url.as_str().unwrap().to_owned();
    assert!(url.starts_with(&host.url("/hooks/")), "{url}");
    let second = call(
        &host,
        company,
        "mint",
        json!({"name": "orders", "label": "shop-lviv"}),
    )
    .unwrap();
    assert_ne!(second.as_str().unwrap(), url, "each mint is a new URL");
    let minted = call(&host, company, "minted", json!({})).unwrap();
    assert_eq!(
        minted[0],
        json!({"name": "orders", "label": "shop-kyiv", "url": url})
    );
    assert_eq!(minted[1]["label"], "shop-lviv");

    let body = r#"{"order": 1042}"#;
    assert_eq!(deliver(&url, &[("webhook-id", "d-9".into())], body).0, 200);
    let runs = seen(&host, "recorder", company);
    let delivery = &runs["seen/order_hook/0"]["webhook"];
    assert_eq!(delivery["name"], "orders");
    assert_eq!(delivery["label"], "shop-kyiv");
    assert_eq!(delivery["body"], body);

    // Only the company it was minted for can revoke it.
    assert_eq!(
        call(&host, other, "revoke", json!({"url": url})).unwrap(),
        false
    );
    assert_eq!(
        call(&host, company, "revoke", json!({"url": url})).unwrap(),
        true
    );
    assert_eq!(
        call(&host, company, "revoke", json!({"url": url})).unwrap(),
        false
    );
    assert_eq!(deliver(&url, &[], body).0, 404, "a revoked URL");
    assert_eq!(seen(&host, "recorder", company).len(), 1, "nothing ran");
    // The other minted URL and the sidecar's still deliver.
    assert_eq!(deliver(second.as_str().unwrap(), &[], body).0, 200);

    assert_eq!(
        host.send("recorder", &event("application_uninstall", company))
            .status,
        200
    );
    assert_eq!(
        deliver(second.as_str().unwrap(), &[], body).0,
        404,
        "revoked at uninstall"
    );
}
