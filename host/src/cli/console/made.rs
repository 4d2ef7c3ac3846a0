//! What an app made at run time for the console's company (contract
//! 0.2.0): its schedules, each with a way to run it now, and the URLs it
//! minted, which the page delivers to as to the sidecar's
//! ([`super::triggers`]).

use std::sync::Arc;
use std::time::Instant;

use hyper::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Console;
use super::triggers::{Reply, bad};
use crate::apps::App;
use crate::capabilities::schedules as made_schedules;
use crate::capabilities::webhooks as minted_urls;
use crate::dispatch::new_request_id;
use crate::storage::{Generation, Tenant};
use crate::triggers::schedules::run_made_now;

impl Console {
    /// What the app made at run time for the tenant: its schedules (with
    /// their next due time) and its minted URLs.
    pub(super) async fn made(
        &self,
        app: &App,
        tenant: Tenant<'_>,
        generation: Option<Generation>,
    ) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
        let Some(generation) = generation else {
            return Ok((Vec::new(), Vec::new()));
        };
        let storage = self.host.storage();
        let now = Timestamp::now();
        let made = made_schedules::all_made(storage, tenant)
            .await?
            .into_iter()
            .map(|(id, made)| {
                let next = match &made.when {
                    made_schedules::When::Once(at) => Timestamp::from_millisecond(*at).ok(),
                    _ => made
                        .recurring()
                        .and_then(|s| s.next_due(&app.name, tenant.company, now)),
                };
                let when = match &made.when {
                    made_schedules::When::Once(_) => "once".to_owned(),
                    made_schedules::When::Every(every) => format!("every {every}"),
                    made_schedules::When::Cron {
                        expression,
                        timezone,
                    } => format!("cron {expression} ({})", timezone_or_utc(timezone)),
                };
                json!({"id": id, "event": made.event, "when": when, "payload": made.payload,
                    "next_due": next.map(|t| t.to_string())})
            })
            .collect();
        let urls = self.host.dispatcher().webhook_urls();
        let minted = minted_urls::all_minted(storage, urls, tenant, generation)
            .await?
            .into_iter()
            .map(|(name, label, url)| json!({"name": name, "label": label, "url": url}))
            .collect();
        Ok((made, minted))
    }

    /// `POST /_dev/api/run-schedule` with `id`: the made schedule's run, now.
    pub(super) async fn run_made(&self, app: &Arc<App>, company: &str, id: &str) -> Reply {
        let request_id = new_request_id();
        let started = Instant::now();
        let dispatcher = self.host.dispatcher();
        let ran = match run_made_now(dispatcher, app, company, id, &request_id).await {
            Ok(Some(ran)) => ran,
            Ok(None) => {
                let message = format!("{} made no schedule {id:?} for {company}", app.name);
                return bad(StatusCode::NOT_FOUND, message);
            }
            Err(error) => return bad(StatusCode::SERVICE_UNAVAILABLE, format!("{error:#}")),
        };
        let (status, error) = match ran.result {
            Ok(_) => (200, Value::Null),
            Err(error) => (error.status(), error.public_message().into()),
        };
        let event = ran.schedule.event;
        let request = json!({"event": event, "company_id": company, "schedule": ran.body});
        self.answer(&request_id, started, &app.name, &event, company)
            .status(status, error, request)
    }
}

fn timezone_or_utc(zone: &str) -> &str {
    if zone.is_empty() { "UTC" } else { zone }
}
