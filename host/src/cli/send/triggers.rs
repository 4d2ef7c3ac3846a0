//! `keruj-host send --schedule` and `--webhook`: what the host starts on its
//! own, driven from a terminal, so that an author can try a scheduled
//! handler without waiting for its due time, and a webhook handler without
//! the third party.
//!
//! - `--schedule`: EVENT with the body a scheduled run has (`schedule`:
//!   `event`, `due` = now, `attempt` 1), posted to `/apps/<app>/events` with
//!   the app's token like any event (so it runs on Keruj's budget, not the
//!   background one). The real run's `account_id` is the install's; this one
//!   has none unless `--body` gives it.
//! - `--webhook URL`: a delivery to a hooks URL as the app got it, its body
//!   from `--body` (sent byte for byte) or `--data`, signed as the provider
//!   of `--verify` signs ([`crate::signatures::sign`]); the host verifies and
//!   deduplicates it as it would the provider's.

use std::process::ExitCode;

use anyhow::Context as _;
use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{Answer, BIN, REQUEST_TIMEOUT, SendArgs, error_chain, is_loopback};
use crate::plugin_text::PluginText;
use crate::settings::AppSettings;
use crate::signatures::{self, Scheme};

/// The options of `send` for the host's own triggers.
#[derive(Debug, Clone, clap::Args)]
pub struct TriggerArgs {
    /// Send EVENT as a scheduled run of it arrives (`schedule` with `due` =
    /// now and `attempt` 1), without waiting for its due time. With
    /// --plugins, the sidecar must declare the schedule.
    #[arg(long, conflicts_with = "webhook")]
    pub schedule: bool,
    /// Deliver to a webhook URL (`<public-url>/hooks/<id>`, as the app got it
    /// in an event's `webhooks`) instead of sending an event: `--body` or
    /// `--data` is the delivery's JSON body, signed per --verify and --secret.
    /// APP and EVENT are not given.
    #[arg(long, value_name = "URL", conflicts_with_all = ["app", "event", "token"])]
    pub webhook: Option<String>,
    /// How to sign the delivery, as the sidecar's `verify`: none,
    /// standard-webhooks, github, stripe or shopify.
    #[arg(long, value_name = "SCHEME", default_value = "none")]
    pub verify: Scheme,
    /// The signing secret: the value of the sidecar's `secret` (the
    /// variable's value for `env:`, the company's stored secret for `secret:`).
    #[arg(
        long,
        env = "KERUJ_WEBHOOK_SECRET",
        value_name = "VALUE",
        hide_env_values = true
    )]
    pub secret: Option<String>,
    /// The delivery's id (its scheme's id header) [default: a new one]: send
    /// one twice to see the host answer a retry without running the app.
    #[arg(long, value_name = "ID")]
    pub delivery_id: Option<String>,
}

/// Adds what a scheduled run's body has to `body` (unless `--body` set it):
/// `schedule` with `due` now, to the second, and `attempt` 1. With
/// `plugins`, refuses an event the sidecar does not schedule.
pub fn schedule_body(
    app: &str,
    plugins: Option<&std::path::Path>,
    body: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let event = body["event"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(
        !event.starts_with("application_"),
        "--schedule sends a scheduled run, and {event} is a Keruj lifecycle event: \
         name the event of a [[schedule]]"
    );
    if let Some(dir) = plugins {
        let sidecar = dir.join(format!("{app}.toml"));
        let settings = AppSettings::load(app, &sidecar)
            .with_context(|| format!("reading {}", sidecar.display()))?;
        let events: Vec<&str> = settings
            .schedules
            .iter()
            .map(|s| s.event.as_str())
            .collect();
        anyhow::ensure!(
            events.contains(&event.as_str()),
            "{} has no [[schedule]] with event {event:?} (it schedules: {})",
            sidecar.display(),
            if events.is_empty() {
                "nothing".to_owned()
            } else {
                events.join(", ")
            }
        );
    }
    let due = Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| Timestamp::now());
    body.entry("schedule")
        .or_insert_with(|| json!({"event": event, "due": due.to_string(), "attempt": 1}));
    Ok(())
}

/// What a delivery sent: the id, for the messages.
struct Sent {
    id: String,
    answer: Answer,
}

/// `send --webhook URL`: delivers, shows the status, exits 0 on 2xx, 1 on
/// any other answer, 2 when nothing could be sent.
pub async fn run(args: &SendArgs, url: &str) -> ExitCode {
    match deliver(args, url).await {
        Ok(sent) => {
            let ok = (200..300).contains(&sent.answer.status);
            let body = sent.answer.body.trim_end();
            match (ok, args.json) {
                (_, true) if !body.is_empty() => match ok {
                    true => println!("{body}"),
                    false => eprintln!("{body}"),
                },
                (_, true) => {}
                (true, false) => println!(
                    "delivered: the host answered {} (delivery id {})",
                    status_text(sent.answer.status),
                    sent.id
                ),
                (false, false) => eprint!("{}", refusal_text(args, &sent)),
            }
            ExitCode::from(if ok { 0 } else { 1 })
        }
        Err(error) => {
            eprintln!("{BIN} send: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The delivery's body: `--body` as given (any JSON), `--data` as an
/// object, else `{}`.
fn delivery_body(args: &SendArgs) -> anyhow::Result<String> {
    if let Some(text) = &args.body {
        serde_json::from_str::<Value>(text)
            .map_err(|e| anyhow::anyhow!("--body is not valid JSON: {e}"))?;
        return Ok(text.clone());
    }
    let mut object = Map::new();
    for (key, value) in &args.data {
        anyhow::ensure!(
            object.insert(key.clone(), value.clone()).is_none(),
            "--data {key}=... is given twice"
        );
    }
    Ok(Value::Object(object).to_string())
}

async fn deliver(args: &SendArgs, url: &str) -> anyhow::Result<Sent> {
    let target =
        reqwest::Url::parse(url).with_context(|| format!("--webhook {url:?} is not a URL"))?;
    anyhow::ensure!(
        matches!(target.scheme(), "http" | "https") && target.path().starts_with("/hooks/"),
        "--webhook {url:?} is not a webhook URL (http(s)://.../hooks/<id>, as the app got it \
         in an event's `webhooks`)"
    );
    let trigger = &args.triggers;
    let secret = trigger.secret.as_deref().unwrap_or_default();
    anyhow::ensure!(
        !trigger.verify.needs_secret() || !secret.is_empty(),
        "--verify {} needs --secret (or KERUJ_WEBHOOK_SECRET): the value the sidecar's \
         `secret` names",
        trigger.verify
    );
    let body = delivery_body(args)?;
    let id = match &trigger.delivery_id {
        Some(id) => id.clone(),
        None => format!("msg_{}", uuid::Uuid::new_v4().simple()),
    };
    let now = Timestamp::now().as_second();
    let headers = signatures::sign(trigger.verify, secret.as_bytes(), &id, body.as_bytes(), now);
    let mut client = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    if is_loopback(&target) {
        client = client.no_proxy();
    }
    let mut request = client
        .build()?
        .post(target.clone())
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the host at {}: {e}; is it running, and is its --public-url \
             this machine's?",
            target.origin().ascii_serialization(),
            e = error_chain(&e)
        )
    })?;
    let status = response.status().as_u16();
    let body = response.text().await.context("reading the host's answer")?;
    Ok(Sent {
        id,
        answer: Answer { status, body },
    })
}

fn status_text(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

/// The status, the host's `error` and `request_id`, and what to do.
fn refusal_text(args: &SendArgs, sent: &Sent) -> String {
    let answer = &sent.answer;
    let mut text = format!(
        "{BIN} send: the host answered {} to delivery {}\n",
        status_text(answer.status),
        sent.id
    );
    match serde_json::from_str::<Value>(&answer.body) {
        Ok(Value::Object(body)) => {
            for key in ["error", "request_id"] {
                if let Some(Value::String(value)) = body.get(key) {
                    text.push_str(&format!("{key}: {}\n", PluginText::new(value)));
                }
            }
        }
        _ if answer.body.trim().is_empty() => {}
        _ => text.push_str(&format!("{}\n", PluginText::new(answer.body.trim_end()))),
    }
    let hint = match answer.status {
        401 => format!(
            "the host could not verify it: --verify ({}) must be the sidecar's `verify`, and \
             --secret the value its `secret` names (for secret:<name>, what the app stored \
             for the company); the host's log says which check failed",
            args.triggers.verify
        ),
        404 => "no such webhook: the company uninstalled the app (a new install gets a new \
                URL), the app no longer declares it, or the URL is not one the host made; \
                take the URL from the app's latest event"
            .into(),
        409 => "a delivery with this id is being handled now".into(),
        500 => "the app failed to handle it (its error is in the host's log); a provider \
                would retry"
            .into(),
        _ => String::new(),
    };
    if !hint.is_empty() {
        text.push_str(&format!("hint: {hint}\n"));
    }
    text
}
