//! The console's view of what an app does on its own, for the console's
//! company: each sidecar schedule with its next due time and a way to run it
//! now, each webhook's URL and a way to send it a test delivery signed as
//! its provider would (when the console can read the secret: the host's
//! variable for `env:`, the company's stored secret for `secret:`).
//!
//! - `GET /_dev/api/triggers?app=A&company=C`: the list, with what the app
//!   made at run time (contract 0.2.0): its schedules (`made`) and minted
//!   URLs (`minted`);
//! - `POST /_dev/api/run-schedule` `{app, company, event}` or
//!   `{app, company, id}` (a made schedule): the run, now (`due` now,
//!   `attempt` 1), through the host's background path;
//! - `POST /_dev/api/deliver` `{app, company, name, body?}` or
//!   `{app, company, url, body?}` (a minted URL): a delivery through the
//!   host's own verification and deduplication.
//!
//! Both POSTs answer like `/_dev/api/send`: status, time taken, the app's
//! log lines. No secret ever leaves the console.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;
use hyper::{Response, StatusCode};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Console, json as respond};
use crate::apps::App;
use crate::dispatch::{HookTarget, Trigger, new_request_id};
use crate::settings::{Cadence, Schedule, SecretSource, Webhook, is_app_name};
use crate::signatures::{self, Scheme};
use crate::storage::{Space, Tenant};

/// The body a test delivery carries unless the page gives one.
const TEST_BODY: &str = r#"{"test":true,"sent_by":"keruj-host dev"}"#;

/// `POST /_dev/api/run-schedule`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunSchedule {
    app: String,
    company: String,
    /// A sidecar schedule's event...
    #[serde(default)]
    event: Option<String>,
    /// ...or the id of a schedule the app made.
    #[serde(default)]
    id: Option<String>,
}

/// A sidecar schedule to run now.
struct RunSidecar {
    company: String,
    event: String,
}

/// `POST /_dev/api/deliver`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Deliver {
    app: String,
    company: String,
    /// A sidecar webhook's name...
    #[serde(default)]
    name: Option<String>,
    /// ...or a URL the app minted.
    #[serde(default)]
    url: Option<String>,
    /// The delivery's body, as text [default: a small JSON object].
    #[serde(default)]
    body: Option<String>,
}

pub(super) type Reply = Response<Full<Bytes>>;

pub(super) fn bad(status: StatusCode, message: impl Into<String>) -> Reply {
    respond(status, &json!({ "error": message.into() }))
}

/// `?app=A&company=C` of the list's URL.
pub(super) fn query_pair(query: &str) -> (String, String) {
    let (mut app, mut company) = (String::new(), String::new());
    for (key, value) in url_pairs(query) {
        match key.as_str() {
            "app" => app = value,
            "company" => company = value,
            _ => {}
        }
    }
    (app, company)
}

pub(super) fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://console/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

impl Console {
    /// The app serving, or the status and error the console answers.
    fn serving(&self, app: &str, company: &str) -> Result<Arc<App>, (StatusCode, String)> {
        if !is_app_name(app) {
            return Err((StatusCode::BAD_REQUEST, format!("{app:?} is not an app id")));
        }
        if company.trim().is_empty() {
            return Err((StatusCode::BAD_REQUEST, "type a company id".into()));
        }
        self.host.dispatcher().app(app).map_err(|error| {
            let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::NOT_FOUND);
            (status, error.public_message())
        })
    }

    /// `GET /_dev/api/triggers`: the app's schedules with their next due
    /// time for the company, and its webhooks with the company's URLs
    /// (`null` until it installs) and whether the console can sign for them.
    pub(super) async fn triggers(&self, app: &str, company: &str) -> Reply {
        let app = match self.serving(app, company) {
            Ok(app) => app,
            Err((status, message)) => return bad(status, message),
        };
        let company = company.trim();
        let storage = self.host.storage();
        let tenant = Tenant::new(&app.name, company);
        let generation = match storage.generation(tenant).await {
            Ok(generation) => generation,
            Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}")),
        };
        let now = Timestamp::now();
        let schedules: Vec<Value> = app
            .settings
            .schedules
            .iter()
            .map(|schedule| {
                let next = schedule.next_due(&app.name, company, now);
                json!({
                    "event": schedule.event,
                    "cadence": cadence(schedule),
                    "next_due": next.map(|t| t.to_string()),
                })
            })
            .collect();
        let mut webhooks = Vec::new();
        for webhook in app.settings.webhooks.iter() {
            let url = generation.map(|generation| {
                self.host.dispatcher().webhook_urls().url(&HookTarget {
                    app: app.name.clone(),
                    company: company.to_owned(),
                    name: webhook.name.clone(),
                    generation,
                    minted: None,
                })
            });
            let signing = self.secret(tenant, webhook).await.err();
            webhooks.push(json!({
                "name": webhook.name,
                "event": webhook.event,
                "verify": webhook.verify.as_str(),
                "secret": webhook.secret.as_ref().map(ToString::to_string),
                "url": url,
                "can_sign": signing.is_none(),
                "cannot_sign_because": signing,
            }));
        }
        let (made, minted) = match self.made(&app, tenant, generation).await {
            Ok(made) => made,
            Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}")),
        };
        respond(
            StatusCode::OK,
            &json!({
                "app": app.name,
                "company": company,
                "installed": generation.is_some(),
                "schedules": schedules,
                "webhooks": webhooks,
                "made": made,
                "minted": minted,
            }),
        )
    }

    /// `POST /_dev/api/run-schedule`: the scheduled run, now.
    pub(super) async fn run_schedule(&self, run: RunSchedule) -> Reply {
        let app = match self.serving(&run.app, &run.company) {
            Ok(app) => app,
            Err((status, message)) => return bad(status, message),
        };
        let event = match (run.event, run.id) {
            (Some(event), None) => event,
            (None, Some(id)) => return self.run_made(&app, run.company.trim(), &id).await,
            _ => return bad(StatusCode::BAD_REQUEST, "give either event or id"),
        };
        let run = RunSidecar {
            company: run.company,
            event,
        };
        if !app.settings.schedules.iter().any(|s| s.event == run.event) {
            let message = format!(
                "{} has no [[schedule]] with event {:?}",
                app.name, run.event
            );
            return bad(StatusCode::BAD_REQUEST, message);
        }
        let company = run.company.trim();
        let due = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| Timestamp::now());
        let schedule = json!({"event": run.event, "due": due.to_string(), "attempt": 1});
        let trigger = Trigger::Schedule {
            event: run.event.clone(),
            due: due.to_string(),
            attempt: 1,
            // Run by hand, outside the scheduler's claims: no lease to lose.
            lease: None,
            made: None,
        };
        let request_id = new_request_id();
        let started = Instant::now();
        let result = self
            .host
            .dispatcher()
            .dispatch_background(&app, company, trigger, &request_id)
            .await;
        let (status, error) = match result {
            Ok(_) => (200, Value::Null),
            Err(error) => (error.status(), error.public_message().into()),
        };
        let request = json!({"event": run.event, "company_id": company, "schedule": schedule});
        self.answer(&request_id, started, &app.name, &run.event, company)
            .status(status, error, request)
    }

    /// `POST /_dev/api/deliver`: a test delivery to the company's webhook,
    /// signed with the configured secret when the console can read it
    /// (unsigned otherwise, so the page shows the 401 a provider would get).
    pub(super) async fn deliver(&self, deliver: Deliver) -> Reply {
        let app = match self.serving(&deliver.app, &deliver.company) {
            Ok(app) => app,
            Err((status, message)) => return bad(status, message),
        };
        let company = deliver.company.trim();
        let dispatcher = self.host.dispatcher();
        // A minted URL names its webhook; it must be this company's.
        let minted = match &deliver.url {
            None => None,
            Some(url) => {
                let id = url.rsplit('/').next().unwrap_or_default();
                match dispatcher.webhook_urls().open(id) {
                    Some(target)
                        if target.app == app.name
                            && target.company == company
                            && target.minted.is_some() =>
                    {
                        Some((id.to_owned(), target.name))
                    }
                    _ => {
                        let message =
                            format!("{url} is not a URL {} minted for {company}", app.name);
                        return bad(StatusCode::BAD_REQUEST, message);
                    }
                }
            }
        };
        let name = match (&minted, &deliver.name) {
            (Some((_, name)), None) | (None, Some(name)) => name.clone(),
            _ => return bad(StatusCode::BAD_REQUEST, "give either name or url"),
        };
        let Some(webhook) = app.settings.webhooks.iter().find(|w| w.name == name) else {
            let message = format!("{} has no [[webhook]] named {name:?}", app.name);
            return bad(StatusCode::BAD_REQUEST, message);
        };
        let tenant = Tenant::new(&app.name, company);
        let generation = match self.host.storage().generation(tenant).await {
            Ok(Some(generation)) => generation,
            Ok(None) => {
                let message = format!("{company} has not installed {}: install it first", app.name);
                return bad(StatusCode::CONFLICT, message);
            }
            Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}")),
        };
        let id = match minted {
            Some((id, _)) => id,
            None => dispatcher.webhook_urls().id(&HookTarget {
                app: app.name.clone(),
                company: company.to_owned(),
                name: webhook.name.clone(),
                generation,
                minted: None,
            }),
        };
        let body = deliver.body.unwrap_or_else(|| TEST_BODY.to_owned());
        let delivery_id = format!("msg_dev_{}", uuid::Uuid::new_v4().simple());
        let (secret, unsigned_because) = match self.secret(tenant, webhook).await {
            Ok(secret) => (secret, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        let now = Timestamp::now().as_second();
        let mut signed = match unsigned_because {
            None => signatures::sign(webhook.verify, &secret, &delivery_id, body.as_bytes(), now),
            Some(_) => signatures::sign(Scheme::None, b"", &delivery_id, body.as_bytes(), now),
        };
        signed.push(("content-type", "application/json".into()));
        let mut headers = HeaderMap::new();
        for (name, value) in &signed {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        let request_id = new_request_id();
        let started = Instant::now();
        let answer = crate::triggers::webhooks::deliver(
            self.host.webhooks(),
            &id,
            "",
            &headers,
            Bytes::from(body.clone()),
            &request_id,
        )
        .await;
        let error = match answer.status {
            StatusCode::OK => Value::Null,
            _ => answer.message.into(),
        };
        // The signature headers are shown: they are the provider's, not the secret.
        let request = json!({
            "webhook": webhook.name,
            "headers": signed,
            "body": body,
            "signed": unsigned_because.is_none() && webhook.verify != Scheme::None,
            "unsigned_because": unsigned_because,
        });
        self.answer(&request_id, started, &app.name, &webhook.event, company)
            .status(answer.status.as_u16(), error, request)
    }

    /// The signing secret of `webhook` for the tenant, or why the console
    /// cannot read it. Never shown.
    async fn secret(&self, tenant: Tenant<'_>, webhook: &Webhook) -> Result<Vec<u8>, String> {
        match (&webhook.secret, webhook.verify) {
            (_, Scheme::None) | (None, _) => Ok(Vec::new()),
            (Some(SecretSource::Env(var)), _) => std::env::var(var)
                .ok()
                .filter(|value| !value.is_empty())
                .map(String::into_bytes)
                .ok_or_else(|| format!("{var} is not set in the console's environment")),
            (Some(SecretSource::Company(name)), _) => {
                let storage = self.host.storage();
                match storage.plugin_get(Space::Secrets, tenant, name).await {
                    Ok(Some(secret)) => Ok(secret),
                    Ok(None) => Err(format!(
                        "the company has no secret {name:?} yet (the app stores it)"
                    )),
                    Err(error) => Err(format!("the secret {name:?} cannot be read: {error:#}")),
                }
            }
        }
    }

    pub(super) fn answer<'a>(
        &'a self,
        request_id: &'a str,
        started: Instant,
        app: &'a str,
        event: &'a str,
        company: &'a str,
    ) -> Answered<'a> {
        Answered {
            console: self,
            request_id,
            ms: started.elapsed().as_secs_f64() * 1000.0,
            app,
            event,
            company,
        }
    }
}

/// What a trigger the page fired came to, in `/_dev/api/send`'s shape.
pub(super) struct Answered<'a> {
    console: &'a Console,
    request_id: &'a str,
    ms: f64,
    app: &'a str,
    event: &'a str,
    company: &'a str,
}

impl Answered<'_> {
    pub(super) fn status(self, status: u16, error: Value, request: Value) -> Reply {
        let (logs, logs_dropped) = self.console.capture.lines(self.request_id);
        respond(
            StatusCode::OK,
            &json!({
                "request_id": self.request_id,
                "app": self.app,
                "event": self.event,
                "company": self.company,
                "status": status,
                "ms": (self.ms * 10.0).round() / 10.0,
                "request": request,
                "reply": Value::Null,
                "error": error,
                "logs": logs,
                "logs_dropped": logs_dropped,
            }),
        )
    }
}

/// How often a schedule runs, as the sidecar says it.
fn cadence(schedule: &Schedule) -> String {
    match &schedule.cadence {
        Cadence::Every(period) => match jiff::SignedDuration::try_from(*period) {
            Ok(period) => format!("every {period:#}"),
            Err(_) => "every ?".into(),
        },
        Cadence::Cron { cron, zone } => {
            format!("cron {cron} ({})", zone.iana_name().unwrap_or("UTC"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_query_and_cadences_read_as_the_sidecar_says() {
        let (app, company) = query_pair("app=recorder&company=acme%20%26%20co&x=1");
        assert_eq!((app.as_str(), company.as_str()), ("recorder", "acme & co"));
        assert_eq!(query_pair(""), (String::new(), String::new()));
        let every = Schedule {
            event: "sync".into(),
            cadence: Cadence::Every(std::time::Duration::from_secs(5_400)),
        };
        assert_eq!(cadence(&every), "every 1h 30m");
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse("30 3 * * *")
            .unwrap();
        let kyiv = Schedule {
            event: "digest".into(),
            cadence: Cadence::Cron {
                cron: Box::new(cron),
                zone: jiff::tz::TimeZone::get("Europe/Kyiv").unwrap(),
            },
        };
        assert_eq!(cadence(&kyiv), "cron 30 3 * * * (Europe/Kyiv)");
    }
}
