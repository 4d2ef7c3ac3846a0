//! `probe`: a test plugin that uses one host capability per event and shows
//! what came back in an `info` form (`{"reply": "probed", ...}`), so the
//! end-to-end tests can see exactly what a plugin sees.
//!
//! Events (parameters in `data`): `kv_set {key, value}`, `kv_get {key}`,
//! `kv_keys {prefix}`, `secret_set {name, value}`, `secret_get {name}`,
//! `fetch {url}`, `config {}`, `graphql {query}`, and `slow_write {url, key,
//! value}`: fetch `url` (a server that answers when the test says), then
//! store `value` under `key` in both `kv` and `secrets`, and show how each
//! write went.

use keruj_guest::form::{Element, Form};
use keruj_guest::{
    App, Context, Error, Event, Reply, Submission, config, http, keruj, kv, secrets,
};
use serde_json::{Value, json};

struct Probe;

impl App for Probe {
    fn handle(_ctx: &Context, event: Event) -> Result<Reply, Error> {
        let Event::Submit(call) = event else {
            return Ok(Reply::Done);
        };
        let arg = |name: &str| call.text(name).unwrap_or_default().to_owned();
        let seen: Result<String, Error> = match call.name.as_str() {
            "kv_set" => kv::set(&arg("key"), arg("value")).map(|()| "stored".into()),
            "kv_get" => kv::get(&arg("key"))
                .map(|v| describe(v.map(|b| String::from_utf8_lossy(&b).into_owned()))),
            "kv_keys" => kv::keys(&arg("prefix")).map(|keys| keys.join(",")),
            "secret_set" => secrets::set(&arg("name"), &arg("value")).map(|()| "stored".into()),
            "secret_get" => secrets::get(&arg("name")).map(describe),
            "fetch" => fetch(&call),
            "slow_write" => {
                fetch(&call)?;
                let kv = kv::set(&arg("key"), arg("value"));
                let secret = secrets::set(&arg("key"), &arg("value"));
                Ok(format!("kv: {}; secret: {}", outcome(kv), outcome(secret)))
            }
            "config" => Ok(json!(config::all()).to_string()),
            "graphql" => keruj::graphql::<Value>(&arg("query"), &json!({"n": 1}))
                .map(|data| data.to_string()),
            other => Err(Error::msg(format!("probe does not know {other}"))),
        };
        let label = match seen {
            Ok(text) => format!("ok: {text}"),
            Err(error) => format!("error: {error}"),
        };
        let label: String = label.chars().take(2_000).collect();
        Ok(Form::new("probed", "Probe")
            .element(Element::info("seen", label))
            .into())
    }
}

fn outcome(result: Result<(), Error>) -> String {
    match result {
        Ok(()) => "stored".into(),
        Err(error) => format!("refused: {error}"),
    }
}

fn describe(value: Option<String>) -> String {
    value.unwrap_or_else(|| "<none>".into())
}

fn fetch(call: &Submission) -> Result<String, Error> {
    let response = http::Request::get(call.text("url").unwrap_or_default()).send()?;
    Ok(format!("{} {}", response.status, response.text()))
}

keruj_guest::export_app!(Probe);
