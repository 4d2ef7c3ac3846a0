//! `plugins/nova-poshta` tested the way its author would, with
//! `keruj_host::testing`: the app calls Nova Poshta at its real, fixed URL
//! (no `api_url` in its config) and the test answers for Nova Poshta and
//! for Keruj's API.

use keruj_host::testing::{OutboundRequest, OutboundResponse, TestApp};
use serde_json::{Value, json};

use crate::support::plugin;

const COMPANY: &str = "co-np-harness";
const GOOD_KEY: &str = "np_5d2f8a1c9e3b";

/// Nova Poshta as far as the app uses it: a key check that lists senders,
/// and parcel tracking.
fn nova_poshta(request: &OutboundRequest) -> OutboundResponse {
    assert_eq!(request.url, "https://api.novaposhta.ua/v2.0/json/");
    let call = request.json();
    if call["apiKey"] != GOOD_KEY {
        return OutboundResponse::json(
            json!({"success": false, "data": [], "errors": ["API auth fail"]}),
        );
    }
    match call["calledMethod"].as_str() {
        Some("getCounterparties") => OutboundResponse::json(json!({"success": true, "data": [
            {"Ref": "s-1", "Description": "ФОП Шевченко"},
            {"Ref": "s-2", "Description": "ТОВ Ромашка"},
        ]})),
        Some("getStatusDocuments") => OutboundResponse::json(json!({"success": true, "data": [
            {"Number": call["methodProperties"]["Documents"][0]["DocumentNumber"], "Status": "Відправлення отримано"},
        ]})),
        _ => OutboundResponse::json(json!({"success": false, "errors": ["unknown method"]})),
    }
}

#[test]
fn nova_poshta_dialogue_in_cargo_test() {
    let app = TestApp::builder()
        .name("nova-poshta")
        .allow_host("api.novaposhta.ua")
        .on_http(nova_poshta)
        .on_keruj_api(|_| {
            OutboundResponse::json(json!({"data": {"addIntegrationEvent": {"id": "ev-1"}}}))
        })
        .load(plugin("nova-poshta"))
        .unwrap();
    app.install(COMPANY).expect_done();

    // 1. The key form.
    let ask = app.configure().expect_form();
    assert_eq!(ask.reply, "np_key_submitted");
    assert_eq!(ask.title, "Connect Nova Poshta");
    let key_field = &ask.elements[0];
    assert_eq!(key_field.name, "api_key");
    assert!(key_field.required && key_field.secret);

    // 2. A wrong key: Nova Poshta's reason on the field, nothing stored.
    let refused = app
        .submit("np_key_submitted", json!({"api_key": "np_wrong"}))
        .expect_form();
    assert_eq!(refused.reply, "np_key_submitted");
    assert_eq!(
        refused.errors["api_key"],
        "Nova Poshta refused this key: API auth fail"
    );
    assert_eq!(app.secret_get(COMPANY, "api_key"), None);

    // The right key: kept encrypted, and the sender profiles offered.
    let choose = app
        .submit("np_key_submitted", json!({"api_key": GOOD_KEY}))
        .expect_form();
    assert_eq!(choose.reply, "np_sender_chosen");
    let offered: Vec<(&str, &str)> = choose.elements[0]
        .options
        .iter()
        .map(|o| (o.value.as_str(), o.label.as_str()))
        .collect();
    assert_eq!(offered, [("s-1", "ФОП Шевченко"), ("s-2", "ТОВ Ромашка")]);
    assert_eq!(
        app.secret_get(COMPANY, "api_key").as_deref(),
        Some(GOOD_KEY)
    );
    assert!(
        !app.stored_in_plaintext(GOOD_KEY.as_bytes()),
        "the Nova Poshta key is in plaintext"
    );
    assert!(
        app.stored_in_plaintext("ТОВ Ромашка".as_bytes()),
        "the senders are plain kv data"
    );

    // 3. A sender not offered, then one that was.
    let wrong = app
        .submit("np_sender_chosen", json!({"sender": "s-9"}))
        .expect_form();
    assert_eq!(
        wrong.errors["sender"],
        "Please choose one of your sender profiles"
    );
    app.submit("np_sender_chosen", json!({"sender": "s-2"}))
        .expect_done();
    let sender: Value = app.kv_get_json(COMPANY, "sender").unwrap();
    assert_eq!(sender, json!({"Ref": "s-2", "Description": "ТОВ Ромашка"}));

    // 4. Tracking: Nova Poshta asked with the stored key, Keruj told the status.
    app.event("track_parcel", json!({"ttn": "20450000000001"}))
        .expect_done();
    let sent = app.requests();
    let methods: Vec<String> = sent
        .iter()
        .map(|r| match r.json()["calledMethod"].as_str() {
            Some(method) => method.to_owned(),
            None => "(Keruj API)".to_owned(),
        })
        .collect();
    assert_eq!(
        methods,
        [
            "getCounterparties",
            "getCounterparties",
            "getStatusDocuments",
            "(Keruj API)"
        ]
    );
    assert_eq!(sent[2].json()["apiKey"], GOOD_KEY);
    assert_eq!(sent[2].header("content-type"), Some("application/json"));
    let report = &sent[3];
    assert_eq!(
        report.header("x-keruj-api-key"),
        app.api_key(COMPANY).as_deref()
    );
    assert_eq!(report.header("x-keruj-company-id"), Some(COMPANY));
    assert_eq!(
        report.json()["variables"],
        json!({"ttn": "20450000000001", "status": "Відправлення отримано"})
    );
    // Nova Poshta never got the company's Keruj key.
    let keruj_key = app.api_key(COMPANY).unwrap();
    assert!(sent[..3].iter().all(|r| !r.text().contains(&keruj_key)));

    // A bad event is the app's error, as Keruj would get it.
    let (status, message) = app.event("track_parcel", json!({})).expect_error();
    assert_eq!(
        (status, message.as_str()),
        (500, "the app failed to handle the event")
    );

    // Uninstall deletes the key.
    app.uninstall().expect_done();
    assert_eq!(app.secret_get(COMPANY, "api_key"), None);
}
