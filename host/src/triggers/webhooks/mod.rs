//! Webhook deliveries: `POST /hooks/<id>` from a third party, verified and
//! deduplicated here, before the app runs.
//!
//! The route is public and nobody authenticates to it with a token: an id
//! the host did not seal, a revoked one (the company uninstalled) or one of
//! an app that no longer declares the webhook is 404 and nothing runs; a
//! URL past its rate is 429 with `Retry-After` before its body is read
//! ([`rate`]); a signature that does not verify is 401 and the app never
//! sees the body. A delivery whose id (the scheme's header) was handled
//! within the dedup window is answered as the first one was, without
//! running the app again, on every replica: the first to record the id
//! runs it ([`dedup`], which also deletes the records once expired). With
//! `order_by`, deliveries of one key wait for each other ([`order`]; across
//! replicas, [`lease`]). An app error is 500, so that the provider retries
//! (and the retry runs again); the run is bounded by the app's time limit.

mod dedup;
mod lease;
mod order;
mod rate;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use serde_json::json;

use crate::apps::App;
use crate::capabilities::webhooks as minted;
use crate::dispatch::{DispatchError, Dispatcher, HookTarget, Trigger};
use crate::metrics::Delivery;
use crate::settings::{SecretSource, Webhook};
use crate::signatures::{self, Scheme};
use crate::storage::{Generation, Lease, Space, Tenant};

use order::{OrderKey, Turn, Turns};

/// The longest a delivery waits for an earlier one of its `order_by` key
/// (in this replica, then in the store): past it, 503 and it does not run,
/// so that the caller hears back before its own timeout (most providers
/// wait 30 s) and retries.
const ORDER_WAIT: Duration = Duration::from_secs(25);

/// The dispatcher, with what webhook deliveries share in this process:
/// what the `/hooks/` route, the dev console and the test harness deliver
/// through. It derefs to the [`Dispatcher`]. Cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    dispatcher: Dispatcher,
    guards: Arc<Guards>,
}

impl Webhooks {
    /// Delivery ids are remembered for `dedup_window`.
    pub fn new(dispatcher: Dispatcher, dedup_window: Duration) -> Webhooks {
        Webhooks {
            dispatcher,
            guards: Arc::new(Guards::new(dedup_window)),
        }
    }

    fn guards(&self) -> &Guards {
        &self.guards
    }
}

impl std::ops::Deref for Webhooks {
    type Target = Dispatcher;

    fn deref(&self) -> &Dispatcher {
        &self.dispatcher
    }
}

/// What webhook deliveries share in one process.
struct Guards {
    rates: rate::RateLimits,
    turns: Turns,
    dedup: dedup::Dedup,
}

impl Guards {
    fn new(dedup_window: Duration) -> Guards {
        Guards {
            rates: rate::RateLimits::new(),
            turns: Turns::default(),
            dedup: dedup::Dedup::new(dedup_window),
        }
    }
}

/// Why a delivery did not reach the app, or what the app made of it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// For the caller: never a secret, never what the app said.
    pub message: &'static str,
    /// For a 429 or 503: when to try again (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Answer {
    const fn new(status: StatusCode, message: &'static str) -> Answer {
        Answer {
            status,
            message,
            retry_after: None,
        }
    }

    /// `Retry-After`'s value: whole seconds, rounded up, at least 1.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after
            .map(|wait| (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }
}

const ACCEPTED: Answer = Answer::new(StatusCode::OK, "");
const UNKNOWN: Answer = Answer::new(StatusCode::NOT_FOUND, "no such webhook");
const REFUSED: Answer = Answer::new(
    StatusCode::UNAUTHORIZED,
    "the delivery's signature does not verify",
);
const FAILED: Answer = Answer::new(
    StatusCode::INTERNAL_SERVER_ERROR,
    "the app failed to handle the delivery",
);
const BUSY: Answer = Answer::new(StatusCode::SERVICE_UNAVAILABLE, "busy: try again later");
const IN_FLIGHT: Answer = Answer::new(
    StatusCode::CONFLICT,
    "this delivery id is being handled now",
);
const LIMITED: Answer = Answer::new(
    StatusCode::TOO_MANY_REQUESTS,
    "too many deliveries to this URL: try again later",
);

/// A delivery to a URL the host sealed, of a webhook its app declares,
/// within the URL's rate: its body is worth reading.
pub struct Admitted {
    target: HookTarget,
    app: Arc<App>,
    webhook: Webhook,
}

/// Opens webhook `id` and takes a token from its URL's bucket: what
/// costs no store read and no body, so that a flood is turned away cheaply.
pub fn admit(dispatcher: &Webhooks, id: &str) -> Result<Admitted, Answer> {
    let target = dispatcher.webhook_urls().open(id).ok_or(UNKNOWN)?;
    let app = dispatcher.app(&target.app).map_err(|_| UNKNOWN)?;
    let webhook = app
        .settings
        .webhooks
        .iter()
        .find(|w| w.name == target.name)
        .ok_or(UNKNOWN)?
        .clone();
    if let Err(wait) = dispatcher.guards().rates.check(id, webhook.rate) {
        dispatcher
            .metrics()
            .triggers
            .delivery(&app.name, Delivery::limited);
        return Err(Answer {
            retry_after: Some(wait),
            ..LIMITED
        });
    }
    Ok(Admitted {
        target,
        app,
        webhook,
    })
}

/// Handles one delivery to webhook `id` whose body is at hand (the dev
/// console's, the testing harness's): the answer for the caller.
pub async fn deliver(
    dispatcher: &Webhooks,
    id: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Answer {
    match admit(dispatcher, id) {
        Ok(admitted) => {
            deliver_admitted(dispatcher, admitted, query, headers, body, request_id).await
        }
        Err(answer) => answer,
    }
}

/// Handles one admitted delivery in a task of its own, so that a caller
/// who hangs up (a provider's timeout) does not cut the run short: it
/// ends, its id is settled and its key's claim released as for any other.
pub async fn deliver_detached(
    dispatcher: &Webhooks,
    admitted: Admitted,
    query: String,
    headers: HeaderMap,
    body: Bytes,
    request_id: String,
) -> Answer {
    let dispatcher = dispatcher.clone();
    let run = tokio::spawn(async move {
        deliver_admitted(&dispatcher, admitted, &query, &headers, body, &request_id).await
    });
    run.await.unwrap_or(FAILED)
}

/// Handles one admitted delivery: the answer for the caller.
pub async fn deliver_admitted(
    dispatcher: &Webhooks,
    admitted: Admitted,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Answer {
    let Admitted {
        target,
        app,
        webhook,
    } = admitted;
    let webhook = &webhook;
    let tenant = Tenant::new(&app.name, &target.company);
    let storage = dispatcher.storage();
    match storage.generation(tenant).await {
        Ok(Some(generation)) if generation == target.generation => {}
        Ok(_) => return UNKNOWN,
        Err(_) => return BUSY,
    }
    // A minted URL is live while its record is there (revoke deletes it).
    let label = match &target.minted {
        None => String::new(),
        Some(key) => match minted::minted(storage, tenant, key).await {
            Ok(Some(minted)) if minted.name == target.name => minted.label,
            Ok(_) => return UNKNOWN,
            Err(_) => return BUSY,
        },
    };
    let (app_name, company) = (app.name.as_str(), target.company.as_str());
    let triggers = &dispatcher.metrics().triggers;
    let secret = match secret_of(dispatcher, tenant, webhook).await {
        Ok(secret) => secret,
        Err(why) => {
            tracing::warn!(
                app = app_name,
                company,
                webhook = webhook.name,
                request_id,
                "webhook delivery refused: {why}"
            );
            triggers.delivery(app_name, Delivery::refused);
            return REFUSED;
        }
    };
    let verified = match signatures::verify(
        webhook.verify,
        &secret,
        headers,
        &body,
        Timestamp::now().as_second(),
    ) {
        Ok(verified) => verified,
        Err(why) => {
            tracing::info!(app = app_name, company, webhook = webhook.name, request_id,
                scheme = %webhook.verify, "webhook delivery refused: {why}");
            triggers.delivery(app_name, Delivery::refused);
            return REFUSED;
        }
    };
    // Its turn first, then its id: a retry of a delivery still queued
    // waits behind it and is then answered as it was.
    let order_key = webhook.order_by.as_deref().and_then(|pointer| {
        Some(OrderKey {
            app: app.name.clone(),
            company: target.company.clone(),
            webhook: webhook.name.clone(),
            value: order::key_value(&body, pointer)?,
        })
    });
    let ordered = match order_key {
        None => None,
        Some(key) => {
            let waiting = triggers.ordered_waiting(app_name);
            waiting.inc();
            let turn = take_turn(dispatcher, &app, tenant, target.generation, key).await;
            waiting.dec();
            match turn {
                Ok(turn) => Some(turn),
                Err(answer) => {
                    tracing::info!(
                        app = app_name,
                        company,
                        webhook = webhook.name,
                        request_id,
                        "webhook delivery not run: an earlier one of its order_by key still runs"
                    );
                    triggers.delivery(app_name, Delivery::failed);
                    return answer;
                }
            }
        }
    };
    let answer = run_once(
        dispatcher, &app, &target, &label, webhook, &verified, query, headers, &body, request_id,
    )
    .await;
    // On every path out of the run: a claim left behind would hold the key
    // on every replica until its lease ran out.
    if let Some((turn, lease)) = ordered {
        lease::release(storage, tenant, target.generation, &lease).await;
        drop(turn);
    }
    answer
}

/// Records the delivery's id (answering a duplicate as its first), runs
/// the app, and records what the caller got.
#[allow(clippy::too_many_arguments)]
async fn run_once(
    dispatcher: &Webhooks,
    app: &Arc<App>,
    target: &HookTarget,
    label: &str,
    webhook: &Webhook,
    verified: &signatures::Verified,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
) -> Answer {
    let (app_name, company) = (app.name.as_str(), target.company.as_str());
    let tenant = Tenant::new(app_name, company);
    let storage = dispatcher.storage();
    let triggers = &dispatcher.metrics().triggers;
    let guards = dispatcher.guards();
    let now = Timestamp::now();
    let mut claimed = None;
    if let Some(id) = verified.delivery_id.as_deref() {
        // Ids are remembered per URL: a minted URL's beside its webhook's.
        let url = match &target.minted {
            None => webhook.name.clone(),
            Some(key) => format!("{}~{key}", webhook.name),
        };
        let pair = (url.as_str(), id);
        match guards
            .dedup
            .claim(storage, tenant, target.generation, pair, now)
            .await
        {
            Ok(Ok(claim)) => claimed = Some(claim),
            Ok(Err(answer)) => {
                triggers.delivery(app_name, Delivery::duplicate);
                return answer;
            }
            Err(_) => return BUSY,
        }
        prune_later(dispatcher, target, now);
    }
    let delivery = json!({
        "name": webhook.name,
        "label": label,
        "id": verified.delivery_id.clone().unwrap_or_else(|| request_id.to_owned()),
        "method": "POST",
        "query": query,
        "headers": headers
            .iter()
            .map(|(name, value)| [name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()])
            .collect::<Vec<_>>(),
        "body": String::from_utf8_lossy(body),
    });
    let trigger = Trigger::Webhook {
        event: webhook.event.clone(),
        delivery,
    };
    let answer = match dispatcher
        .dispatch_background(app, company, trigger, request_id)
        .await
    {
        Ok(_) => ACCEPTED,
        Err(DispatchError::NotInstalled) => UNKNOWN,
        Err(DispatchError::Busy(_) | DispatchError::StoreUnreachable(_)) => BUSY,
        Err(_) => FAILED,
    };
    let result = match answer.status {
        StatusCode::OK => Delivery::accepted,
        _ => Delivery::failed,
    };
    triggers.delivery(app_name, result);
    if let Some(claim) = claimed {
        let status = answer.status.as_u16();
        guards
            .dedup
            .settle(storage, tenant, target.generation, claim, status)
            .await;
    }
    answer
}

/// Waits for `key`'s turn in this replica, then claims it in the store,
/// within [`ORDER_WAIT`] for both.
async fn take_turn(
    dispatcher: &Webhooks,
    app: &App,
    tenant: Tenant<'_>,
    generation: Generation,
    key: OrderKey,
) -> Result<(Turn, Lease), Answer> {
    let too_long = Answer {
        retry_after: Some(ORDER_WAIT),
        ..BUSY
    };
    let deadline = tokio::time::Instant::now() + ORDER_WAIT;
    let guards = dispatcher.guards();
    let pair = (key.webhook.clone(), key.value.clone());
    let turn = tokio::time::timeout_at(deadline, guards.turns.wait(key))
        .await
        .map_err(|_| too_long)?;
    let time_limit = app.settings.limits.timeout;
    let pair = (pair.0.as_str(), pair.1.as_str());
    match lease::claim(
        dispatcher.storage(),
        tenant,
        generation,
        pair,
        time_limit,
        deadline,
    )
    .await
    {
        Ok(Ok(lease)) => Ok((turn, lease)),
        Ok(Err(lease::NotClaimed::Held)) => Err(Answer {
            retry_after: Some(ORDER_WAIT),
            ..BUSY
        }),
        Ok(Err(lease::NotClaimed::Uninstalled)) => Err(UNKNOWN),
        Err(_) => Err(BUSY),
    }
}

/// Deletes the install's expired delivery ids, if due, off the delivery's
/// path: the caller's answer never waits on it.
fn prune_later(dispatcher: &Webhooks, target: &HookTarget, now: Timestamp) {
    let dispatcher = dispatcher.clone();
    let (app, company, generation) = (
        target.app.clone(),
        target.company.clone(),
        target.generation,
    );
    tokio::spawn(async move {
        let tenant = Tenant::new(&app, &company);
        let guards = dispatcher.guards();
        match guards
            .dedup
            .prune(dispatcher.storage(), tenant, generation, now)
            .await
        {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::debug!(
                    app,
                    company,
                    deleted,
                    "expired webhook delivery ids deleted"
                );
                dispatcher
                    .metrics()
                    .triggers
                    .delivery_ids_pruned(&app, deleted);
            }
            Err(error) => {
                tracing::warn!(
                    app,
                    company,
                    "cannot delete expired webhook delivery ids: {error:#}"
                )
            }
        }
    });
}

/// The signing secret of `webhook` for the tenant's company.
async fn secret_of(
    dispatcher: &Dispatcher,
    tenant: Tenant<'_>,
    webhook: &Webhook,
) -> Result<Vec<u8>, String> {
    if webhook.verify == Scheme::None {
        return Ok(Vec::new());
    }
    match &webhook.secret {
        None => Err("no secret configured".into()),
        Some(SecretSource::Env(var)) => std::env::var(var)
            .ok()
            .filter(|value| !value.is_empty())
            .map(String::into_bytes)
            .ok_or_else(|| format!("the secret's variable {var} is not set")),
        Some(SecretSource::Company(name)) => match dispatcher
            .storage()
            .plugin_get(Space::Secrets, tenant, name)
            .await
        {
            Ok(Some(secret)) => Ok(secret),
            Ok(None) => Err(format!(
                "the company has no secret {name:?} yet (the app stores it)"
            )),
            Err(error) => Err(format!("the secret {name:?} cannot be read: {error}")),
        },
    }
}
