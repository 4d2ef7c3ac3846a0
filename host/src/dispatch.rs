//! The event lifecycle: what the host does with a verified Keruj event
//! before, around and after the plugin runs.
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

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use keruj_guest::event::{INSTALL, UNINSTALL};
use keruj_guest::form::{Form, FormError};

use crate::apps::App;
use crate::capabilities::EventScope;
use crate::config::is_app_name;
use crate::event::{BadEvent, IncomingEvent};
use crate::host::Host;
use crate::metrics::Class;
use crate::plugin_text::PluginText;
use crate::runtime::{Call, Event, Outcome, RunError};
use crate::storage::{self, Generation, Install, Unreachable};

/// A successful answer to Keruj.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// 200 with an empty body.
    Done,
    /// 200 with this form as JSON.
    Form(Form),
}

/// Why an event got no successful answer; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{}", unknown_app(.0))]
    UnknownApp(String),
    #[error("the app is not available: {0}")]
    Unavailable(String),
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
    #[error("application_install needs a string `account_api_key`")]
    MissingApiKey,
    #[error("the app is not installed for this company")]
    NotInstalled,
    /// Every permit of the app's concurrency limit is taken.
    #[error("the app is busy: {0} events already running; retry shortly")]
    Busy(u32),
    #[error(transparent)]
    Plugin(#[from] RunError),
    /// The rule the reply broke (public), and what broke it (for the log).
    #[error("the app's reply is not a valid form: {detail}")]
    InvalidReply { rule: String, detail: PluginText },
    #[error("storage failed: {0:#}")]
    Storage(anyhow::Error),
    /// The store cannot be reached now (see [`crate::storage::Unreachable`]).
    #[error("{0:#}")]
    StoreUnreachable(anyhow::Error),
}

impl From<anyhow::Error> for DispatchError {
    fn from(error: anyhow::Error) -> Self {
        match storage::is_unreachable(&error) {
            true => DispatchError::StoreUnreachable(error),
            false => DispatchError::Storage(error),
        }
    }
}

impl DispatchError {
    /// The HTTP status Keruj gets.
    pub fn status(&self) -> u16 {
        match self {
            DispatchError::UnknownApp(_) => 404,
            DispatchError::BadEvent(_) | DispatchError::MissingApiKey => 400,
            DispatchError::NotInstalled => 409,
            DispatchError::Unavailable(_)
            | DispatchError::Busy(_)
            | DispatchError::StoreUnreachable(_) => 503,
            DispatchError::Plugin(RunError::Timeout(_)) => 504,
            DispatchError::Plugin(_)
            | DispatchError::InvalidReply { .. }
            | DispatchError::Storage(_) => 500,
        }
    }

    /// What Keruj may read: no plugin message or value (they could hold
    /// anything) and no storage detail; those go to the log.
    pub fn public_message(&self) -> String {
        match self {
            DispatchError::InvalidReply { rule, .. } => {
                format!("the app's reply is not a valid form: {rule}")
            }
            DispatchError::Plugin(RunError::Failed(_)) => {
                "the app failed to handle the event".into()
            }
            DispatchError::Plugin(RunError::Crashed(_)) => {
                "the app crashed while handling the event".into()
            }
            DispatchError::Storage(_) => "the host could not store the event's data".into(),
            DispatchError::StoreUnreachable(_) => {
                "the host's store is unreachable; retry shortly".into()
            }
            other => other.to_string(),
        }
    }
}

impl Host {
    /// Handles one Keruj event for `app`: the lifecycle above. The caller has
    /// already authenticated the request (the HTTP front checks the token).
    pub async fn dispatch(
        &self,
        app: &str,
        body: &[u8],
        request_id: &str,
    ) -> Result<Response, DispatchError> {
        let entry = self
            .inner
            .apps
            .get(app)
            .ok_or_else(|| DispatchError::UnknownApp(app.to_owned()))?;
        let serving = entry.serving().map_err(DispatchError::Unavailable)?;
        self.dispatch_to(&serving, body, request_id).await
    }

    /// [`Host::dispatch`] for an app already looked up. Logs why an event
    /// failed, with the app, the company and the request id.
    pub(crate) async fn dispatch_to(
        &self,
        app: &Arc<App>,
        body: &[u8],
        request_id: &str,
    ) -> Result<Response, DispatchError> {
        let started = Instant::now();
        let metrics = &self.inner.metrics;
        let event = match IncomingEvent::parse(body) {
            Ok(event) => event,
            Err(bad) => {
                let error = DispatchError::from(bad);
                log_failure(app, "", request_id, &error);
                metrics.event(
                    &app.name,
                    &app.metrics,
                    Class::invalid,
                    Err(&error),
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
        let outcome = result.as_ref().map(|_| ());
        metrics.event(&app.name, &app.metrics, class, outcome, started.elapsed());
        result
    }

    /// Install, uninstall, or an event for an installed company.
    async fn lifecycle(
        &self,
        app: &Arc<App>,
        event: IncomingEvent,
        request_id: &str,
    ) -> Result<Response, DispatchError> {
        // Held until the answer is ready; never waited for (see `App::gate`).
        let _permit = app
            .gate
            .clone()
            .try_acquire_owned()
            .map_err(|_| DispatchError::Busy(app.settings.max_concurrency))?;
        let storage = &self.inner.storage;
        let (name, company) = (app.name.as_str(), event.company_id.as_str());
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
                let generation = storage.install(name, company, &install, key).await?;
                storage.flush().await?;
                tracing::info!(app = name, company, request_id, "installed");
                self.run(app, event, request_id, Some(generation)).await
            }
            UNINSTALL => {
                let Some(generation) = storage.generation(name, company).await? else {
                    // Nothing to run the plugin for; what an interrupted
                    // uninstall left behind still goes.
                    if storage.uninstall(name, company).await? {
                        storage.flush().await?;
                    }
                    return Ok(Response::Done);
                };
                // The company's data goes whatever the plugin answers.
                let answer = self
                    .run(app, event.clone(), request_id, Some(generation))
                    .await;
                storage.uninstall(name, company).await?;
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
                    .generation(name, company)
                    .await?
                    .ok_or(DispatchError::NotInstalled)?;
                if let Some(key) = &event.api_key {
                    storage
                        .set_api_key(name, company, generation, key)
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
    ) -> Result<Response, DispatchError> {
        let scope = EventScope {
            install: generation,
            ..EventScope::default()
        };
        let call = Call {
            app: &app.name,
            request_id,
            settings: &app.settings,
            scope: scope.clone(),
        };
        let wit_event = Event {
            name: event.name,
            company_id: event.company_id,
            account_id: event.account_id,
            body: event.body,
        };
        let outcome = self
            .inner
            .runtime
            .handle_event(&app.plugin, &call, wit_event)
            .await;
        // What the plugin stored is durable before Keruj hears back, whatever the outcome.
        if scope.wrote.load(Ordering::Acquire) {
            self.inner.storage.flush().await?;
        }
        if scope.store_unreachable.load(Ordering::Acquire) {
            return Err(DispatchError::StoreUnreachable(
                Unreachable("a storage call of the plugin failed".into()).into(),
            ));
        }
        let budget = &scope.log_budget;
        match outcome {
            Ok(Outcome::Done) => Ok(Response::Done),
            Ok(Outcome::Reply(json)) => match Form::from_json(&json) {
                Ok(form) => Ok(Response::Form(form)),
                Err(error) => Err(invalid_reply(&error, budget)),
            },
            Err(RunError::Failed(message)) => Err(RunError::Failed(budget.admit(message)).into()),
            Err(other) => Err(other.into()),
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

/// Names an unknown app only if the name could be an app id: anything else
/// the client sent (kilobytes of it, say) is not echoed.
fn unknown_app(name: &str) -> String {
    match is_app_name(name) {
        true => format!("no app named {name:?}"),
        false => "no such app (an app id is 1 to 63 of a-z, 0-9, `_` and `-`, \
                  starting with a letter or digit)"
            .into(),
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
