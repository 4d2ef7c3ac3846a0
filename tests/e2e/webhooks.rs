//! Sidecar webhooks (`[[webhook]]`): a URL per installed company, given to
//! the app in every event's `webhooks`; deliveries verified by the host
//! before the app runs, deduplicated on their id, revoked at uninstall.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::schedules::seen;
use crate::support::{Host, Setup, event, install, plugin, submission};

const GITHUB_SECRET: &str = "it's a secret to everybody";

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The company's webhook URLs, as the app sees them in an event's body.
pub fn webhooks(host: &Host, company: &str) -> Value {
    let answer = host.send("recorder", &event("show", company));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body: Value =
        serde_json::from_str(answer.json()["elements"][0]["label"].as_str().unwrap()).unwrap();
    body["webhooks"].clone()
}

/// POSTs `body` with `headers` to `url`, which names the host by its public URL.
pub fn deliver(url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.timeout(Duration::from_secs(30)).send() {
        Ok(response) => (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        ),
        Err(error) => (0, error.to_string()),
    }
}

fn github(body: &str, delivery: &str) -> Vec<(&'static str, String)> {
    let signature = hex(&hmac(GITHUB_SECRET.as_bytes(), body.as_bytes()));
    vec![
        ("x-hub-signature-256", format!("sha256={signature}")),
        ("x-github-delivery", delivery.to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

fn github_host() -> Host {
    Host::start(
        Setup::new()
            .app("recorder", &plugin("recorder"))
            .sidecar(
                "[[webhook]]\nname = \"status\"\nevent = \"np_status\"\nverify = \"github\"\nsecret = \"env:HOOK_SECRET\"\n\n\
                 [[webhook]]\nname = \"broken\"\nevent = \"fail_hook\"\n",
            )
            .env("HOOK_SECRET", GITHUB_SECRET),
    )
}

#[test]
fn a_verified_delivery_reaches_the_app_once_and_uninstall_revokes_the_url() {
    let host = github_host();
    let company = "co-hook-1";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let urls = webhooks(&host, company);
    let url = urls["status"]
        .as_str()
        .expect("a URL per webhook")
        .to_owned();
    assert!(url.starts_with(&host.url("/hooks/")), "{url}");
    assert_eq!(
        webhooks(&host, company),
        urls,
        "one URL per company and name"
    );
    assert_eq!(host.send("recorder", &install("co-hook-other")).status, 200);
    assert_ne!(webhooks(&host, "co-hook-other")["status"], urls["status"]);

    let body = r#"{"parcel":"20450000000000","status":"delivered"}"#;
    assert_eq!(
        deliver(&format!("{url}?source=np"), &github(body, "d-1"), body).0,
        200
    );
    let seen_now = seen(&host, "recorder", company);
    let run = &seen_now["seen/np_status/0"];
    assert_eq!(run["event"], "np_status");
    assert_eq!(run["company_id"], company);
    assert_eq!(run["webhook"]["name"], "status");
    assert_eq!(run["webhook"]["id"], "d-1");
    assert_eq!(run["webhook"]["method"], "POST");
    assert_eq!(run["webhook"]["query"], "source=np");
    assert_eq!(run["webhook"]["body"], body);
    assert_eq!(
        run["webhooks"]["status"],
        url.as_str(),
        "the URLs come with the delivery too"
    );
    let headers = run["webhook"]["headers"].as_array().unwrap();
    assert!(
        headers.contains(&json!(["x-github-delivery", "d-1"])),
        "{headers:?}"
    );

    // The provider retries d-1: answered as the first time, not run again.
    assert_eq!(deliver(&url, &github(body, "d-1"), body).0, 200);
    // A wrong signature, a changed body, no signature: 401, nothing runs.
    let mut forged = github(body, "d-2");
    forged[0].1 = format!("sha256={}", hex(&hmac(b"another secret", body.as_bytes())));
    assert_eq!(deliver(&url, &forged, body).0, 401);
    assert_eq!(
        deliver(&url, &github(body, "d-3"), "{\"status\":\"lost\"}").0,
        401
    );
    assert_eq!(deliver(&url, &[], body).0, 401);
    assert_eq!(
        seen(&host, "recorder", company).len(),
        1,
        "the app ran once"
    );
    assert!(
        !host.log().contains(GITHUB_SECRET),
        "the secret is in the log"
    );
    let metrics = host.get_admin("/metrics").body;
    for (result, count) in [("accepted", 1), ("duplicate", 1), ("refused", 3)] {
        let line = format!(
            "keruj_webhook_deliveries_total{{app=\"recorder\",result=\"{result}\"}} {count}"
        );
        assert!(metrics.contains(&line), "no {line} in:\n{metrics}");
    }

    // An id the host did not make, or one edited: 404.
    let (base, id) = url.rsplit_once('/').unwrap();
    let edited = format!(
        "{base}/{}{}",
        &id[..id.len() - 1],
        if id.ends_with('A') { "B" } else { "A" }
    );
    assert_eq!(deliver(&edited, &github(body, "d-4"), body).0, 404);
    assert_eq!(
        deliver(&host.url("/hooks/nothing-here"), &github(body, "d-5"), body).0,
        404
    );

    // Uninstalled: the URL is gone for good, a new install gets another.
    assert_eq!(
        host.send("recorder", &event("application_uninstall", company))
            .status,
        200
    );
    assert_eq!(deliver(&url, &github(body, "d-6"), body).0, 404);
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    assert_ne!(webhooks(&host, company)["status"], urls["status"]);
    assert_eq!(deliver(&url, &github(body, "d-7"), body).0, 404);
}

#[test]
fn an_app_error_is_500_so_the_provider_retries_and_the_retry_runs() {
    let host = github_host();
    let company = "co-hook-2";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let url = webhooks(&host, company)["broken"]
        .as_str()
        .unwrap()
        .to_owned();
    // verify = "none": the `webhook-id` header, if any, is the delivery's id.
    let headers = [("webhook-id", "msg-1".to_owned())];
    assert_eq!(deliver(&url, &headers, "{}").0, 500);
    assert_eq!(deliver(&url, &headers, "{}").0, 500);
    assert_eq!(
        seen(&host, "recorder", company).len(),
        2,
        "the retry ran again"
    );
    // Bodies are bounded like Keruj's events.
    let big = "x".repeat(2 * 1024 * 1024);
    assert_eq!(deliver(&url, &[], &big).0, 413);
}

#[test]
fn standard_webhooks_signed_with_the_company_s_own_secret() {
    let host = Host::start(Setup::new().app("recorder", &plugin("recorder")).sidecar(
        "[[webhook]]\nname = \"orders\"\nevent = \"order_paid\"\n\
             verify = \"standard-webhooks\"\nsecret = \"secret:signing_key\"\n",
    ));
    let company = "co-hook-3";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    let url = webhooks(&host, company)["orders"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = b"the company's own key, 32 bytes!";
    let secret = format!("whsec_{}", STANDARD.encode(key));
    let body = r#"{"order":42}"#;
    let signed = |id: &str, at: i64, keys: &[&[u8]]| -> Vec<(&'static str, String)> {
        let content = format!("{id}.{at}.{body}");
        let signatures: Vec<String> = keys
            .iter()
            .map(|key| format!("v1,{}", STANDARD.encode(hmac(key, content.as_bytes()))))
            .collect();
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", at.to_string()),
            ("webhook-signature", signatures.join(" ")),
        ]
    };
    let now = jiff::Timestamp::now().as_second();
    // The app has not stored its key yet: nothing can verify.
    let first = deliver(&url, &signed("m-1", now, &[key]), body);
    assert_eq!(first.0, 401, "{first:?} {}", host.log());
    let store = submission(
        "store_secret",
        company,
        json!({"name": "signing_key", "value": secret}),
    );
    assert_eq!(host.send("recorder", &store).status, 200);
    let second = deliver(&url, &signed("m-1", now, &[key]), body);
    assert_eq!(second.0, 200, "{second:?} {}", host.log());
    // Rotation: the old key's signature first, the new one's second.
    assert_eq!(
        deliver(&url, &signed("m-2", now, &[b"old key", key]), body).0,
        200
    );
    // Stale, or from the future, by more than five minutes: refused.
    assert_eq!(
        deliver(&url, &signed("m-3", now - 400, &[key]), body).0,
        401
    );
    assert_eq!(
        deliver(&url, &signed("m-4", now + 400, &[key]), body).0,
        401
    );
    let runs = seen(&host, "recorder", company);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs["seen/order_paid/0"]["webhook"]["id"], "m-1");
}
