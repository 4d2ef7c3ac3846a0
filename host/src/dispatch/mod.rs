//! The dispatcher: what the host does with a verified event for one app,
//! whatever brought it (Keruj's HTTP request, the dev console, a test, an
//! embedder): the app found once, a permit of its concurrency limit held,
//! the lifecycle around the plugin, the plugin in a fresh instance, its
//! reply checked, the metrics and the log line.
//!
//! - `application_install`: store the install with its API key encrypted,
//!   flush, then run the plugin (without the key).
//! - `application_uninstall`: run the plugin if the company is installed,
//!   then delete all held for it and flush; not installed is a success.
//! - anything else: 409 unless installed; a carried API key replaces the
//!   stored one; then the plugin runs.
//!
//! Every event acts for one install's [`Generation`]: what it writes is
//! refused once that install is gone, so an uninstall deletes everything.
//! Every reply is validated against the form format before it leaves; what
//! the plugin said goes to the log only, escaped, bounded and budgeted.

mod background;
mod error;
mod lane;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use keruj_guest::event::{INSTALL, UNINSTALL};
use keruj_guest::form::{Form, FormError};

pub use crate::capabilities::webhook_urls::{HookTarget, WebhookUrls};
pub use background::{Budget, Trigger};
pub use error::DispatchError;

use crate::apps::{App, Apps};
use crate::capabilities::{EventScope, Services};
use crate::event::IncomingEvent;
use crate::metrics::{Class, Metrics};
use crate::plugin_text::PluginText;
use crate::runtime::{Call, Event, Outcome, RunError, Runtime};
use crate::storage::{Generation, Install, Storage, Tenant, Unreachable};

/// A successful answer to an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Handled: 200 with an empty body.
    Done,
    /// Show the user this form: 200 with it as JSON.
    Form(Form),
}

/// An app's status for Keruj's status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppHealth {
    /// Whether the app can serve events now.
    pub ok: bool,
    /// SHA-256 of the serving `.wasm`, if one is loaded.
    pub version: Option<String>,
    /// Why it cannot serve, or what went wrong with the latest file.
    pub problem: Option<String>,
}

/// A fresh id to tie an answer to its log lines.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs events for the apps of the table: the one way any trigger reaches a
/// plugin. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    apps: Arc<Apps>,
    runtime: Runtime,
    storage: Arc<Storage>,
    metrics: Arc<Metrics>,
    /// What the events the host starts itself may hold at once.
    budget: Arc<Budget>,
}

impl Dispatcher {
    pub fn new(
        apps: Arc<Apps>,
        runtime: Runtime,
        storage: Arc<Storage>,
        metrics: Arc<Metrics>,
        budget: Budget,
    ) -> Dispatcher {
        Dispatcher {
            apps,
            runtime,
            storage,
            metrics,
            budget: Arc::new(budget),
        }
    }

    /// The table of apps this dispatcher serves.
    pub fn apps(&self) -> &Apps {
        &self.apps
    }

    /// Where events are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store events act on.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// What the host gives every app (see [`Services`]).
    pub fn services(&self) -> &Services {
        self.runtime.services()
    }

    /// Mints and opens webhook URLs.
    pub fn webhook_urls(&self) -> &WebhookUrls {
        &self.runtime.services().webhook_urls
    }

    /// The version of `app` that serves events now, or why none does (404
    /// for an unknown app, 503 for one that cannot serve). The caller keeps
    /// it for the whole event: a reload meanwhile does not change it.
    pub fn app(&self, app: &str) -> Result<Arc<App>, DispatchError> {
        let entry = self
            .apps
            .get(app)
            .ok_or_else(|| DispatchError::UnknownApp(app.to_owned()))?;
        entry.serving().map_err(DispatchError::Unavailable)
    }

    /// Handles one Keruj event for `app`: the lifecycle above. The caller
    /// has authenticated the request (the HTTP front checks the token).
    /// Logs why an event failed, with the app, the company and the request id.
    pub async fn dispatch(
        &self,
        app: &Arc<App>,
        body: &[u8],
        request_id: &str,
    ) -> Result<Reply, DispatchError> {
        let started = Instant::now();
        let event = match IncomingEvent::parse(body) {
            Ok(event) => event,
            Err(bad) => {
                let error = DispatchError::from(bad);
                log_failure(app, "", request_id, &error);
                self.metrics.event(
                    &app.name,
                    &app.metrics,
                    Class::invalid,
                    Err(error.metric()),
                    started.elapsed(),
                );
                return Err(error);
            }
        };
        let (company, class) = (event.company_id.clone(), Class::of(&event.name));
        let result = self.lifecycle(app, event, request_id).await;
        if let Err(error) = &result {
            log_failure(app, &company, request_id, error);
        }
        let outcome = result.as_ref().map(|_| ()).map_err(DispatchError::metric);
        self.metrics
            .event(&app.name, &app.metrics, class, outcome, started.elapsed());
        result
    }

    /// The live status of one app, its plugin's `health` export run in a
    /// fresh instance; `None` for an unknown app.
    pub async fn health(&self, app: &str) -> Option<AppHealth> {
        let entry = self.apps.get(app)?;
        let problem = entry.problem.as_ref().map(ToString::to_string);
        let Some(serving) = entry.serving else {
            return Some(AppHealth {
                ok: false,
                version: None,
                problem,
            });
        };
        let version = Some(serving.plugin.digest.clone());
        let unhealthy = |problem: String| {
            Some(AppHealth {
                ok: false,
                version: version.clone(),
                problem: Some(problem),
            })
        };
        if let Some(clash) = entry.token_clash {
            return unhealthy(clash);
        }
        if serving.settings.token.is_none() {
            return unhealthy(format!(
                "no token configured ({} is not set)",
                serving.settings.token_source
            ));
        }
        // Health runs the plugin without a token: it takes a permit of the
        // app's concurrency limit like an event, so a flood of health checks
        // cannot run more instances than the limit either.
        let Ok(_permit) = serving.gate.clone().try_acquire_owned() else {
            return unhealthy(format!(
                "busy: {} events already running",
                serving.settings.max_concurrency
            ));
        };
        let request_id = new_request_id();
        let call = Call {
            app,
            request_id: &request_id,
            settings: &serving.settings,
            scope: Default::default(),
        };
        match self.runtime.health(&serving.plugin, &call).await {
            Ok(()) => Some(AppHealth {
                ok: true,
                version,
                problem,
            }),
            Err(error) => unhealthy(error.to_string()),
        }
    }

    /// Install, uninstall, or an event for an installed company.
    async fn lifecycle(
        &self,
        app: &Arc<App>,
        event: IncomingEvent,
        request_id: &str,
    ) -> Result<Reply, DispatchError> {
        // Held until the answer is ready; never waited for (see `App::gate`).
        let _permit = app
            .gate
            .clone()
            .try_acquire_owned()
            .map_err(|_| DispatchError::Busy(app.settings.max_concurrency))?;
        let storage = &self.storage;
        let (name, company) = (app.name.as_str(), event.company_id.as_str());
        let tenant = Tenant::new(name, company);
        match event.name.as_str() {
            INSTALL => {
                let key = event
                    .api_key
                    .as_deref()
                    .ok_or(DispatchError::MissingApiKey)?;
                let install = Install {
                    account_id: event.account_id.clone(),
                    installed_at: unix_now(),
                };
                let generation = storage.install(tenant, &install, key).await?;
                storage.flush().await?;
                tracing::info!(app = name, company, request_id, "installed");
                self.run(app, event, request_id, Some(generation)).await
            }
            UNINSTALL => {
                let Some(generation) = storage.generation(tenant).await? else {
                    // Nothing to run the plugin for; what an interrupted
                    // uninstall left behind still goes.
                    if storage.uninstall(tenant).await? {
                        storage.flush().await?;
                    }
                    return Ok(Reply::Done);
                };
                // The company's data goes whatever the plugin answers.
                let answer = self
                    .run(app, event.clone(), request_id, Some(generation))
                    .await;
                storage.uninstall(tenant).await?;
                storage.flush().await?;
                tracing::info!(
                    app = name,
                    company,
                    request_id,
                    "uninstalled; its data is deleted"
                );
                answer
            }
            _ => {
                let generation = storage
                    .generation(tenant)
                    .await?
                    .ok_or(DispatchError::NotInstalled)?;
                if let Some(key) = &event.api_key {
                    storage
                        .set_api_key(tenant, generation, key)
                        .await?
                        .map_err(|_| DispatchError::NotInstalled)?;
                    storage.flush().await?;
                }
                self.run(app, event, request_id, Some(generation)).await
            }
        }
    }

    /// Runs the plugin for the install `generation` and validates what it
    /// answers. The plugin's own words (its error, its broken reply) are
    /// charged to the event's log budget before they can reach the log.
    async fn run(
        &self,
        app: &App,
        event: IncomingEvent,
        request_id: &str,
        generation: Option<Generation>,
    ) -> Result<Reply, DispatchError> {
        let scope = EventScope {
            install: generation,
            ..EventScope::default()
        };
        self.run_in(app, event, request_id, scope).await
    }

    /// [`Dispatcher::run`] with the event's own `scope`.
    async fn run_in(
        &self,
        app: &App,
        event: IncomingEvent,
        request_id: &str,
        scope: EventScope,
    ) -> Result<Reply, DispatchError> {
        let generation = scope.install;
        let call = Call {
            app: &app.name,
            request_id,
            settings: &app.settings,
            scope: scope.clone(),
        };
        let body = match generation {
            Some(generation) if !app.settings.webhooks.is_empty() => {
                self.with_webhook_urls(app, &event, generation)
            }
            _ => event.body,
        };
        let wit_event = Event {
            name: event.name,
            company_id: event.company_id,
            account_id: event.account_id,
            body,
        };
        let outcome = self
            .runtime
            .handle_event(&app.plugin, &call, wit_event)
            .await;
        // What the plugin stored is durable before Keruj hears back, whatever the outcome.
        if scope.wrote.load(Ordering::Acquire) {
            self.storage.flush().await?;
        }
        if scope.store_unreachable.load(Ordering::Acquire) {
            return Err(DispatchError::StoreUnreachable(
                Unreachable("a storage call of the plugin failed".into()).into(),
            ));
        }
        let budget = &scope.log_budget;
        match outcome {
            Ok(Outcome::Done) => Ok(Reply::Done),
            Ok(Outcome::Reply(json)) => match Form::from_json(&json) {
                Ok(form) => Ok(Reply::Form(form)),
                Err(error) => Err(invalid_reply(&error, budget)),
            },
            Err(RunError::Failed(message)) => Err(RunError::Failed(budget.admit(message)).into()),
            Err(other) => Err(other.into()),
        }
    }
}

impl Dispatcher {
    /// `event`'s body with `webhooks`: the company's URL for each of the
    /// app's webhooks (CONTRACT §9), so that an app can show or register
    /// them without an import.
    fn with_webhook_urls(
        &self,
        app: &App,
        event: &IncomingEvent,
        generation: Generation,
    ) -> String {
        let urls: serde_json::Map<String, serde_json::Value> = app
            .settings
            .webhooks
            .iter()
            .map(|webhook| {
                let target = HookTarget {
                    app: app.name.clone(),
                    company: event.company_id.clone(),
                    name: webhook.name.clone(),
                    generation,
                    minted: None,
                };
                (
                    webhook.name.clone(),
                    self.webhook_urls().url(&target).into(),
                )
            })
            .collect();
        match serde_json::from_str::<serde_json::Value>(&event.body) {
            Ok(serde_json::Value::Object(mut body)) => {
                body.insert("webhooks".into(), urls.into());
                serde_json::Value::Object(body).to_string()
            }
            _ => event.body.clone(),
        }
    }
}

/// A broken reply: the rule for Keruj, the detail for the log (budgeted).
fn invalid_reply(error: &FormError, budget: &crate::plugin_text::LogBudget) -> DispatchError {
    DispatchError::InvalidReply {
        rule: error.rule().to_owned(),
        detail: budget.admit(PluginText::new(error.to_string())),
    }
}

/// One line per failed event. Server errors are ERROR; refusals INFO; a busy
/// app is the host working as designed: WARN, at most once a second per app.
fn log_failure(app: &App, company: &str, request_id: &str, error: &DispatchError) {
    let name = app.name.as_str();
    let status = error.status();
    if let DispatchError::Busy(_) = error {
        if let Some(held_back) = app.busy_log.allow() {
            tracing::warn!(
                app = name,
                company,
                request_id,
                status,
                held_back,
                "event refused: {error} (busy refusals of this app are logged once a second)"
            );
        }
    } else if status >= 500 {
        tracing::error!(
            app = name,
            company,
            request_id,
            status,
            "event failed: {error}"
        );
    } else {
        tracing::info!(
            app = name,
            company,
            request_id,
            status,
            "event refused: {error}"
        );
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
