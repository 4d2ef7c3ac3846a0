//! `recorder`: a test plugin that records the events the host starts on its
//! own (scheduled runs, webhook deliveries) and shows what it saw, so the
//! end-to-end tests can see exactly what a plugin receives.
//!
//! - any event but those below: its whole body is stored in `kv` under
//!   `seen/<event>/<n>` (n counts from 0), then `done`;
//! - an event whose name starts with `fail`: stored like the others, then
//!   an error (the host retries scheduled runs, the webhook caller gets 500);
//! - an event whose name starts with `slow`: first a GET of the sidecar's
//!   `[config] wait_url` (a server that answers when the test says), then
//!   stored like the others: a run the test can hold mid-way;
//! - `store_secret` (a form submission, `data: {name, value}`): stores a
//!   secret, as an app stores the signing key a user pastes in its form;
//! - `dump` (a submission): an `info` form whose text is a JSON object of
//!   everything stored under `seen/`;
//! - `show`: an `info` form whose text is the whole body the plugin got
//!   (where the host adds `webhooks`, the company's URLs).

use keruj_guest::form::{Element, Form};
use keruj_guest::{App, Context, Error, Event, Reply, config, http, kv, secrets};
use serde_json::{Map, Value};

struct Recorder;

impl App for Recorder {
    fn handle(_ctx: &Context, event: Event) -> Result<Reply, Error> {
        match event {
            Event::Other { name, body } if name == "show" => Ok(info(body.to_string())),
            Event::Other { name, body } => {
                if name.starts_with("slow") {
                    let url = config::get("wait_url").unwrap_or_default();
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

fn info(text: String) -> Reply {
    Form::new("recorded", "Recorder")
        .element(Element::info("seen", text))
        .into()
}

keruj_guest::export_app!(Recorder);
