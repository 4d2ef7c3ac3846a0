//! Events the host starts itself: scheduled runs and webhook deliveries.
//! They take the same path to the plugin as Keruj's (the app, the install
//! check, a fresh instance, the reply checked), with two differences: the
//! body is the host's (CONTRACT §9: `schedule` or `webhook` beside the
//! company and account), and they draw on a budget of their own, so that a
//! burst of them never takes a permit Keruj's own requests need.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::lane::Lane;
use super::{DispatchError, Dispatcher, Reply};
use crate::apps::App;
use crate::capabilities::EventScope;
use crate::event::IncomingEvent;
use crate::metrics::Class;
use crate::storage::{Lease, Tenant};

/// What brought a background event.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A schedule came due: the sidecar's, or one the app made.
    Schedule {
        event: String,
        /// RFC 3339, UTC.
        due: String,
        /// 1 for the first try of this due time.
        attempt: u32,
        /// The run's claim: its writes are refused once it is lost.
        lease: Option<Lease>,
        /// A schedule the app made at run time: its id and payload.
        made: Option<(String, Value)>,
    },
    /// A third party called a webhook URL; `delivery` is the body's
    /// `webhook` object.
    Webhook { event: String, delivery: Value },
}

impl Trigger {
    fn event(&self) -> &str {
        match self {
            Trigger::Schedule { event, .. } | Trigger::Webhook { event, .. } => event,
        }
    }

    fn class(&self) -> Class {
        match self {
            Trigger::Schedule { .. } => Class::scheduled,
            Trigger::Webhook { .. } => Class::webhook,
        }
    }
}

/// The share of the pool background runs may hold, and the threads they
/// run on ([`Lane`]).
pub struct Budget {
    host: Arc<Semaphore>,
    lane: Lane,
}

impl Budget {
    pub fn new(concurrency: usize) -> Budget {
        Budget {
            host: Arc::new(Semaphore::new(concurrency.max(1))),
            lane: Lane::new(),
        }
    }
}

impl Dispatcher {
    /// Starts `work` (the scheduler, say) on the background lane: its
    /// threads yield the CPU to Keruj's requests.
    pub fn spawn_background<F>(&self, work: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.budget.lane.spawn(work)
    }

    /// Runs `trigger`'s event for `company`, which must have `app`
    /// installed (409 otherwise: an uninstall stops its runs). Busy (the
    /// background budget or the app's background share is spent): 503 at
    /// once, for the caller to try again later. A form reply counts as done.
    pub async fn dispatch_background(
        &self,
        app: &Arc<App>,
        company: &str,
        trigger: Trigger,
        request_id: &str,
    ) -> Result<Reply, DispatchError> {
        let started = Instant::now();
        let class = trigger.class();
        let (dispatcher, app_on_lane) = (self.clone(), app.clone());
        let (company_on_lane, id) = (company.to_owned(), request_id.to_owned());
        let result = self
            .budget
            .lane
            .run(async move {
                let (app, company) = (&app_on_lane, &company_on_lane);
                dispatcher.background(app, company, trigger, &id).await
            })
            .await
            // The host is stopping: like a busy one, try again later.
            .unwrap_or(Err(DispatchError::Busy(0)));
        if let Err(error) = &result {
            super::log_failure(app, company, request_id, error);
        }
        let outcome = result.as_ref().map(|_| ()).map_err(DispatchError::metric);
        self.metrics
            .event(&app.name, &app.metrics, class, outcome, started.elapsed());
        result
    }

    async fn background(
        &self,
        app: &Arc<App>,
        company: &str,
        trigger: Trigger,
        request_id: &str,
    ) -> Result<Reply, DispatchError> {
        // Held until the answer is ready; never waited for.
        let (Ok(_host_permit), Ok(_app_permit)) = (
            self.budget.host.clone().try_acquire_owned(),
            app.background_gate.clone().try_acquire_owned(),
        ) else {
            return Err(DispatchError::Busy(app.settings.background_concurrency()));
        };
        let tenant = Tenant::new(&app.name, company);
        let generation = self
            .storage
            .generation(tenant)
            .await?
            .ok_or(DispatchError::NotInstalled)?;
        let account_id = self
            .storage
            .find_install(tenant)
            .await?
            .map(|install| install.account_id)
            .unwrap_or_default();
        let mut body = json!({
            "event": trigger.event(),
            "company_id": company,
            "account_id": account_id,
        });
        match &trigger {
            Trigger::Schedule {
                event,
                due,
                attempt,
                made,
                ..
            } => {
                body["schedule"] = json!({"event": event, "due": due, "attempt": attempt});
                if let Some((id, payload)) = made {
                    body["schedule"]["id"] = id.as_str().into();
                    body["schedule"]["payload"] = payload.clone();
                }
            }
            Trigger::Webhook { delivery, .. } => body["webhook"] = delivery.clone(),
        }
        let event = IncomingEvent {
            name: trigger.event().to_owned(),
            company_id: company.to_owned(),
            account_id,
            api_key: None,
            body: body.to_string(),
        };
        let lease = match &trigger {
            Trigger::Schedule { lease, .. } => lease.clone().map(Arc::new),
            Trigger::Webhook { .. } => None,
        };
        let scope = EventScope {
            install: Some(generation),
            lease,
            ..EventScope::default()
        };
        match self.run_in(app, event, request_id, scope).await? {
            Reply::Form(_) => {
                tracing::info!(
                    app = app.name,
                    company,
                    request_id,
                    "a {} answered with a form: nobody sees it, taken as done",
                    trigger.event()
                );
                Ok(Reply::Done)
            }
            Reply::Done => Ok(Reply::Done),
        }
    }
}
