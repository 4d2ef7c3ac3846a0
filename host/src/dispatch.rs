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
//! Every reply is validated against the form format before it leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use keruj_guest::event::{INSTALL, UNINSTALL};
use keruj_guest::form::{Form, FormError};

use crate::apps::App;
use crate::event::{BadEvent, IncomingEvent};
use crate::host::Host;
use crate::runtime::{Call, Event, Outcome, RunError};
use crate::storage::Install;

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
    #[error("no app named {0:?}")]
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
    #[error("the app's reply is not a valid form: {0}")]
    InvalidReply(#[from] FormError),
    #[error("storage failed: {0:#}")]
    Storage(#[from] anyhow::Error),
}

impl DispatchError {
    /// The HTTP status Keruj gets.
    pub fn status(&self) -> u16 {
        match self {
            DispatchError::UnknownApp(_) => 404,
            DispatchError::BadEvent(_) | DispatchError::MissingApiKey => 400,
            DispatchError::NotInstalled => 409,
            DispatchError::Unavailable(_) | DispatchError::Busy(_) => 503,
            DispatchError::Plugin(RunError::Timeout(_)) => 504,
            DispatchError::Plugin(_)
            | DispatchError::InvalidReply(_)
            | DispatchError::Storage(_) => 500,
        }
    }

    /// What Keruj may read: no plugin message (it could hold anything) and
    /// no storage detail; those go to the log.
    pub fn public_message(&self) -> String {
        match self {
            DispatchError::Plugin(RunError::Failed(_)) => {
                "the app failed to handle the event".into()
            }
            DispatchError::Plugin(RunError::Crashed(_)) => {
                "the app crashed while handling the event".into()
            }
            DispatchError::Storage(_) => "the host could not store the event's data".into(),
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
        let serving = entry.serving.ok_or_else(|| {
            DispatchError::Unavailable(entry.problem.unwrap_or_else(|| "not loaded".into()))
        })?;
        self.dispatch_to(&serving, body, request_id).await
    }

    /// [`Host::dispatch`] for an app already looked up.
    pub(crate) async fn dispatch_to(
        &self,
        app: &Arc<App>,
        body: &[u8],
        request_id: &str,
    ) -> Result<Response, DispatchError> {
        let event = IncomingEvent::parse(body)?;
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
                storage.install(name, company, &install, key)?;
                storage.flush().await?;
                tracing::info!(app = name, company, request_id, "installed");
                self.run(app, event, request_id).await
            }
            UNINSTALL => {
                if !storage.is_installed(name, company)? {
                    return Ok(Response::Done);
                }
                // The company's data goes whatever the plugin answers.
                let answer = self.run(app, event.clone(), request_id).await;
                storage.uninstall(name, company)?;
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
                if !storage.is_installed(name, company)? {
                    return Err(DispatchError::NotInstalled);
                }
                if let Some(key) = &event.api_key {
                    storage.set_api_key(name, company, key)?;
                    storage.flush().await?;
                }
                self.run(app, event, request_id).await
            }
        }
    }

    /// Runs the plugin and validates what it answers.
    async fn run(
        &self,
        app: &App,
        event: IncomingEvent,
        request_id: &str,
    ) -> Result<Response, DispatchError> {
        let wrote = Arc::new(AtomicBool::new(false));
        let call = Call {
            app: &app.name,
            request_id,
            settings: &app.settings,
            wrote: wrote.clone(),
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
        if wrote.load(Ordering::Acquire) {
            self.inner.storage.flush().await?;
        }
        match outcome? {
            Outcome::Done => Ok(Response::Done),
            Outcome::Reply(json) => Ok(Response::Form(Form::from_json(&json)?)),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
