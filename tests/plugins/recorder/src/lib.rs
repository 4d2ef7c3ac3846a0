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
//!   (where the host adds `webhooks`, the company's URLs).

use keruj_guest::form::{Element, Form};
use keruj_guest::{App, Context, Error, Event, Reply, config, http, kv, secrets};
use serde_json::{Map, Value, json};

struct Recorder;

impl App for Recorder {
    fn handle(ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Other { name, body } if name == "show" => Ok(info(body.to_string())),
            // Seen through the SDK's types: the body as the SDK read it.
            Event::Scheduled(run) => record(
                &run.event,
                None,
                json!({"event": run.event, "company_id": ctx.company_id, "account_id": ctx.account_id,
                    "schedule": {"event": run.event, "due": run.due, "attempt": run.attempt}}),
            ),
            Event::Webhook(delivery) => record(
                &delivery.event,
                Some(&delivery.id),
                json!({"event": delivery.event, "company_id": ctx.company_id,
                    "account_id": ctx.account_id, "webhooks": ctx.webhooks,
                    "webhook": {"name": delivery.name, "id": delivery.id, "method": delivery.method,
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
            _ => Ok(Reply::Done),
        }
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
