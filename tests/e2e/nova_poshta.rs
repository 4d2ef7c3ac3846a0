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

/// Statuses Nova Poshta's stub answers, by parcel number.
type Statuses = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>;

/// Nova Poshta answering tracking calls for many parcels from `statuses`.
fn tracking(statuses: Statuses) -> Stub {
    Stub::start(move |request| {
        let call = request.json();
        match call["calledMethod"].as_str() {
            Some("getCounterparties") => Reply::json(json!({"success": true, "data": [
                {"Ref": "s-1", "Description": "ФОП Шевченко"},
            ]})),
            Some("getStatusDocuments") => {
                let statuses = statuses.lock().unwrap();
                let data: Vec<Value> = call["methodProperties"]["Documents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|doc| {
                        let ttn = doc["DocumentNumber"].as_str()?;
                        Some(json!({"Number": ttn, "Status": statuses.get(ttn)?}))
                    })
                    .collect();
                Reply::json(json!({"success": true, "data": data}))
            }
            _ => Reply::json(json!({"success": false, "errors": ["unknown method"]})),
        }
    })
}

/// The statuses Keruj was told, in order, as (parcel, status).
fn reported(keruj: &Stub) -> Vec<(String, String)> {
    keruj
        .received()
        .iter()
        .map(|request| {
            let variables = &request.json()["variables"];
            let text = |key: &str| variables[key].as_str().unwrap_or_default().to_owned();
            (text("ttn"), text("status"))
        })
        .collect()
}

#[test]
fn tracking_syncs_on_its_schedule_and_pushed_statuses_arrive_by_webhook() {
    let statuses = Statuses::default();
    statuses
        .lock()
        .unwrap()
        .insert("20450000000001".into(), "Прямує до міста".into());
    let np = tracking(statuses.clone());
    let keruj =
        Stub::start(|_| Reply::json(json!({"data": {"addIntegrationEvent": {"id": "ev-1"}}})));
    let key = b"nova poshta's signing key, 32 b!";
    let secret = format!(
        "whsec_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key)
    );
    let sidecar = format!(
        "allowed_hosts = [\"{}\"]\n[config]\napi_url = \"{}\"\n\n\
         [[schedule]]\nevent = \"sync_tracking\"\nevery = \"2s\"\n\n\
         [[webhook]]\nname = \"status\"\nevent = \"np_status\"\n\
         verify = \"standard-webhooks\"\nsecret = \"env:NP_WEBHOOK_SECRET\"\n",
        np.authority(),
        np.url("/v2.0/json/")
    );
    let host = Host::start(
        Setup::new()
            .app("nova-poshta", &plugin("nova-poshta"))
            .sidecar(&sidecar)
            .env("KERUJ_API_URL", &keruj.url("/api/graphql"))
            .env("KERUJ_MIN_SCHEDULE_INTERVAL", "1s")
            .env("NP_WEBHOOK_SECRET", &secret),
    );
    let send = |body: Value| {
        let answer = host.send("nova-poshta", &body);
        assert_eq!(answer.status, 200, "{body}: {}", answer.body);
        answer
    };
    send(install(COMPANY));
    // The configure form shows the company's webhook URL to give Nova Poshta.
    let form = send(json!({"event": "application_configure", "company_id": COMPANY})).json();
    let shown = form["elements"][1]["label"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let url = shown.rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with(&host.url("/hooks/")), "{form}");
    send(submission(
        "np_key_submitted",
        COMPANY,
        json!({"api_key": GOOD_KEY}),
    ));
    send(submission(
        "track_parcel",
        COMPANY,
        json!({"ttn": "20450000000001"}),
    ));
    assert_eq!(
        reported(&keruj),
        [("20450000000001".to_owned(), "Прямує до міста".to_owned())]
    );

    // The parcel moves: the next scheduled sync tells Keruj, once.
    statuses
        .lock()
        .unwrap()
        .insert("20450000000001".into(), "Прибув у відділення".into());
    crate::schedules::eventually(std::time::Duration::from_secs(60), || {
        (reported(&keruj).len() == 2).then_some(())
    });
    assert_eq!(reported(&keruj)[1].1, "Прибув у відділення");
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(
        reported(&keruj).len(),
        2,
        "an unchanged status is not pushed again"
    );

    // Nova Poshta pushes a status: signed, it reaches Keruj at once.
    let push = r#"{"Number":"20450000000002","Status":"Отримано"}"#;
    let signed = |key: &[u8]| {
        let now = jiff::Timestamp::now().as_second();
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(key).unwrap();
        hmac::Mac::update(&mut mac, format!("msg-1.{now}.{push}").as_bytes());
        let signature = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            hmac::Mac::finalize(mac).into_bytes(),
        );
        reqwest::blocking::Client::new()
            .post(&url)
            .header("webhook-id", "msg-1")
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", format!("v1,{signature}"))
            .body(push)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(signed(b"somebody else's key"), 401);
    assert_eq!(signed(key), 200);
    assert_eq!(
        reported(&keruj).last().unwrap(),
        &("20450000000002".to_owned(), "Отримано".to_owned())
    );
}
