//! `recorder`: a test plugin that records the events the host starts on its
//! own (scheduled runs, webhook deliveries) and shows what it saw, so the
//! end-to-end tests can see exactly what a plugin receives.
//!
//! - any event but those below: its body is stored in `kv` under
//!   `seen/<event>/<n>` (n counts from 0), then `done`. A scheduled run or a
//!   webhook delivery is stored as the SDK typed it, written back as the
//!   contract's body (with the context's `webhooks`): what an app can read;
//! - an event whose name starts with `fail`: stored like the others, then
//!   an error (the host retries scheduled runs, the webhook caller gets 500);
//! - an event whose name starts with `slow`: first a GET of the sidecar's
//!   `[config] wait_url` (a server that answers when the test says; for a
//!   webhook delivery with `?delivery=<its id>` added, so the server knows
//!   which one waits), then stored like the others: a run the test can
//!   hold mid-way;
//! - `store_secret` (a form submission, `data: {name, value}`): stores a
//!   secret, as an app stores the signing key a user pastes in its form;
//! - `dump` (a submission): an `info` form whose text is a JSON object of
//!   everything stored under `seen/`;
//! - `show`: an `info` form whose text is the whole body the plugin got
//!   (where the host adds `webhooks`, the company's URLs);
//! - contract 0.2.0, each a submission answered with an `info` form whose
//!   text is the result as JSON (`{"ok": ...}` or `{"error": "..."}`):
//!   `schedule` (`data: {event, after | at | every | cron [+ timezone],
//!   payload}`: payload is JSON text), `schedules` (all of them), `cancel`
//!   (`data: {id}`), `mint` (`data: {name, label}`), `minted` (all of them),
//!   `revoke` (`data: {url}`).

use keruj_guest::form::{Element, Form};
use keruj_guest::{
    App, Context, Error, Event, Reply, Submission, config, http, kv, schedules, secrets, webhooks,
};
use serde_json::{Map, Value, json};

struct Recorder;

impl App for Recorder {
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Other { name, body } if name == "show" => Ok(info(body.to_string())),
            // Seen through the SDK's types: the body as the SDK read it.
            Event::Scheduled(run) => {
                let mut schedule =
                    json!({"event": run.event, "due": run.due, "attempt": run.attempt});
                if !run.id.is_empty() {
                    schedule["id"] = run.id.clone().into();
                    schedule["payload"] = run.payload.clone();
                }
                record(
                    &run.event,
                    None,
                    json!({"event": run.event, "company_id": ctx.company_id,
                        "account_id": ctx.account_id, "schedule": schedule}),
                )
            }
            Event::Webhook(delivery) => record(
                &delivery.event,
                Some(&delivery.id),
                json!({"event": delivery.event, "company_id": ctx.company_id,
                    "account_id": ctx.account_id, "webhooks": ctx.webhooks,
                    "webhook": {"name": delivery.name, "label": delivery.label, "id": delivery.id,
                        "method": delivery.method,
                        "query": delivery.query, "headers": delivery.headers, "body": delivery.body}}),
            ),
            Event::Other { name, body } => record(&name, None, body),
            Event::Submit(call) if call.name == "store_secret" => {
                let text = |field: &str| call.text(field).unwrap_or_default().to_owned();
                secrets::set(&text("name"), &text("value"))?;
                Ok(Reply::Done)
            }
            Event::Submit(call) if call.name == "dump" => {
                let mut seen = Map::new();
                for key in kv::keys("seen/")? {
                    let value = kv::get(&key)?.unwrap_or_default();
                    let value = serde_json::from_slice(&value).unwrap_or(Value::Null);
                    seen.insert(key, value);
                }
                Ok(info(Value::Object(seen).to_string()))
            }
            Event::Submit(call) => Ok(info(made_at_run_time(&call).to_string())),
            _ => Ok(Reply::Done),
        }
    }
}

/// What a 0.2.0 call asked for in `call` answered: `{"ok": ...}` or
/// `{"error": "..."}` (the host's reason, for the test to read).
fn made_at_run_time(call: &Submission) -> Value {
    let text = |field: &str| call.text(field).unwrap_or_default();
    let payload: Value = serde_json::from_str(text("payload")).unwrap_or(Value::Null);
    let event = text("event");
    let result: Result<Value, Error> = match call.name.as_str() {
        "schedule" => match (text("after"), text("at"), text("every"), text("cron")) {
            (after, "", "", "") if !after.is_empty() => {
                let seconds = after.parse().unwrap_or(0);
                schedules::after(event, std::time::Duration::from_secs(seconds), &payload)
                    .map(Value::from)
            }
            ("", at, "", "") if !at.is_empty() => {
                schedules::at(event, at, &payload).map(Value::from)
            }
            ("", "", every, "") if !every.is_empty() => {
                schedules::every(event, every, &payload).map(Value::from)
            }
            ("", "", "", cron) => {
                schedules::cron(event, cron, text("timezone"), &payload).map(Value::from)
            }
            _ => Err(Error::msg("one of after, at, every or cron")),
        },
        "schedules" => schedules::all().map(|all| {
            all.into_iter()
                .map(|s| json!({"id": s.id, "event": s.event, "when": format!("{:?}", s.when), "payload": s.payload}))
                .collect()
        }),
        "cancel" => schedules::cancel(text("id")).map(Value::from),
        "mint" => webhooks::mint(text("name"), text("label")).map(Value::from),
        "minted" => webhooks::all().map(|all| {
            all.into_iter()
                .map(|m| json!({"name": m.name, "label": m.label, "url": m.url}))
                .collect()
        }),
        "revoke" => webhooks::revoke(text("url")).map(Value::from),
        other => Err(Error::msg(format!("the recorder has no call {other:?}"))),
    };
    match result {
        Ok(value) => json!({ "ok": value }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}

/// Stores `body` under `seen/<name>/<n>`; then fails if `name` starts with
/// `fail`. A `slow` one first waits on the sidecar's `wait_url`, naming
/// the `delivery` if any.
fn record(name: &str, delivery: Option<&str>, body: Value) -> Result<Reply, Error> {
    if name.starts_with("slow") {
        let mut url = config::get("wait_url").unwrap_or_default();
        if let Some(id) = delivery {
            url = format!("{url}?delivery={id}");
        }
        http::Request::get(url).send()?;
    }
    let prefix = format!("seen/{name}/");
    let n = kv::keys(&prefix)?.len();
    kv::set(&format!("{prefix}{n}"), body.to_string())?;
    match name.starts_with("fail") {
        true => Err(Error::msg(format!("{name} fails on purpose"))),
        false => Ok(Reply::Done),
    }
}

fn info(text: String) -> Reply {
    Form::new("recorded", "Recorder")
        .element(Element::info("seen", text))
        .into()
}

keruj_guest::export_app!(Recorder);
