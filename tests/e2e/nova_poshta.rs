//! The example integration `plugins/nova-poshta`, end to end: a stub stands
//! in for Nova Poshta's API and another for Keruj's GraphQL API.

use serde_json::{Value, json};

use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, api_key, install, plugin, submission};

const COMPANY: &str = "co-np-1";
const GOOD_KEY: &str = "np_4c1e9b2d7a6f";

/// Nova Poshta as far as the app uses it: a key check that lists senders,
/// and parcel tracking.
fn nova_poshta(request: &crate::support::stub::Received) -> Reply {
    let call = request.json();
    if call["apiKey"] != GOOD_KEY {
        return Reply::json(json!({"success": false, "data": [], "errors": ["API auth fail"]}));
    }
    match call["calledMethod"].as_str() {
        Some("getCounterparties") => Reply::json(json!({"success": true, "data": [
            {"Ref": "s-1", "Description": "ФОП Шевченко"},
            {"Ref": "s-2", "Description": "ТОВ Ромашка"},
        ]})),
        Some("getStatusDocuments") => Reply::json(json!({"success": true, "data": [
            {"Number": call["methodProperties"]["Documents"][0]["DocumentNumber"], "Status": "Відправлення отримано"},
        ]})),
        _ => Reply::json(json!({"success": false, "errors": ["unknown method"]})),
    }
}

fn field_error(form: &Value, field: &str) -> String {
    form["errors"][field]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_whole_nova_poshta_dialogue() {
    let np = Stub::start(nova_poshta);
    let keruj =
        Stub::start(|_| Reply::json(json!({"data": {"addIntegrationEvent": {"id": "ev-1"}}})));
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\n[config]\napi_url = \"{}\"\n",
        np.authority(),
        np.url("/v2.0/json/")
    );
    let mut host = Host::start(
        Setup::new()
            .app("nova-poshta", &plugin("nova-poshta"))
            .sidecar(&sidecar)
            .env("KERUJ_API_URL", &keruj.url("/api/graphql")),
    );
    let send = |body: Value| {
        let answer = host.send("nova-poshta", &body);
        assert_eq!(answer.status, 200, "{body}: {}", answer.body);
        answer
    };

    assert!(send(install(COMPANY)).body.is_empty());
    let ask_key = send(json!({"event": "application_configure", "company_id": COMPANY})).json();
    assert_eq!(ask_key["reply"], "np_key_submitted");
    assert_eq!(ask_key["elements"][0]["name"], "api_key");
    assert_eq!(ask_key["elements"][0]["secret"], true);

    let refused = send(submission(
        "np_key_submitted",
        COMPANY,
        json!({"api_key": "np_wrong"}),
    ))
    .json();
    assert_eq!(refused["reply"], "np_key_submitted");
    assert_eq!(
        field_error(&refused, "api_key"),
        "Nova Poshta refused this key: API auth fail"
    );

    let choose = send(submission(
        "np_key_submitted",
        COMPANY,
        json!({"api_key": GOOD_KEY}),
    ))
    .json();
    assert_eq!(choose["reply"], "np_sender_chosen");
    assert_eq!(
        choose["elements"][0]["options"],
        json!([{"value": "s-1", "label": "ФОП Шевченко"}, {"value": "s-2", "label": "ТОВ Ромашка"}])
    );
    let wrong = send(submission(
        "np_sender_chosen",
        COMPANY,
        json!({"sender": "s-9"}),
    ))
    .json();
    assert!(
        field_error(&wrong, "sender").contains("choose one"),
        "{wrong}"
    );
    assert!(
        send(submission(
            "np_sender_chosen",
            COMPANY,
            json!({"sender": "s-2"})
        ))
        .body
        .is_empty()
    );

    let track = json!({"event": "track_parcel", "company_id": COMPANY, "ttn": "20450000000001"});
    assert!(send(track).body.is_empty());
    let reported = keruj.received();
    assert_eq!(reported.len(), 1, "Keruj's API was not called once");
    assert_eq!(reported[0].headers["x-keruj-api-key"], api_key());
    assert_eq!(reported[0].headers["x-keruj-company-id"], COMPANY);
    assert_eq!(
        reported[0].json()["variables"],
        json!({"ttn": "20450000000001", "status": "Відправлення отримано"})
    );

    // Nova Poshta got its own key, never the company's Keruj key.
    let np_calls = np.received();
    assert_eq!(
        np_calls.len(),
        3,
        "key refused, key accepted, tracking: {np_calls:?}"
    );
    assert!(
        np_calls
            .iter()
            .all(|call| !String::from_utf8_lossy(&call.body).contains(&api_key()))
    );
    assert_eq!(np_calls[2].json()["calledMethod"], "getStatusDocuments");
    assert_eq!(np_calls[2].json()["apiKey"], GOOD_KEY);

    host.stop();
    assert!(
        !host.db_contains(GOOD_KEY),
        "the Nova Poshta key is stored in plaintext"
    );
    assert!(
        !host.log().contains(GOOD_KEY),
        "the Nova Poshta key is in the log"
    );
}
