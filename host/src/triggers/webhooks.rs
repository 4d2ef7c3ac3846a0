//! Webhook deliveries: `POST /hooks/<id>` from a third party, verified and
//! deduplicated here, before the app runs.
//!
//! The route is public and nobody authenticates to it with a token: an id
//! the host did not seal, a revoked one (the company uninstalled) or one of
//! an app that no longer declares the webhook is 404 and nothing runs; a
//! signature that does not verify is 401 and the app never sees the body.
//! A delivery whose id (the scheme's header) was handled within
//! [`DEDUP_WINDOW`] is answered as the first one was, without running the
//! app again, on every replica: the first to record the id runs it. An app
//! error is 500, so that the provider retries (and the retry runs again);
//! the run is bounded by the app's time limit.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::capabilities::webhooks;
use crate::dispatch::{DispatchError, Dispatcher, Trigger};
use crate::metrics::Delivery;
use crate::settings::{SecretSource, Webhook};
use crate::signatures::{self, Scheme};
use crate::storage::{Space, Swap, Tenant};

/// How long a delivery id is remembered.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Why a delivery did not reach the app, or what the app made of it.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// For the caller: never a secret, never what the app said.
    pub message: &'static str,
}

impl Answer {
    const fn new(status: StatusCode, message: &'static str) -> Answer {
        Answer { status, message }
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

/// What is remembered of a delivery id.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
struct Seen {
    /// When the first delivery arrived (ms since the epoch).
    at: i64,
    /// `None` while it runs; then the status its caller got.
    status: Option<u16>,
}

/// Handles one delivery to webhook `id`: the answer for the caller.
pub async fn deliver(
    dispatcher: &Dispatcher,
    id: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
    request_id: &str,
) -> Answer {
    let Some(target) = dispatcher.webhook_urls().open(id) else {
        return UNKNOWN;
    };
    let Ok(app) = dispatcher.app(&target.app) else {
        return UNKNOWN;
    };
    let Some(webhook) = app.settings.webhooks.iter().find(|w| w.name == target.name) else {
        return UNKNOWN;
    };
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
        Some(key) => match webhooks::minted(storage, tenant, key).await {
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
    let now = Timestamp::now();
    let verified =
        match signatures::verify(webhook.verify, &secret, headers, &body, now.as_second()) {
            Ok(verified) => verified,
            Err(why) => {
                tracing::info!(app = app_name, company, webhook = webhook.name, request_id,
                scheme = %webhook.verify, "webhook delivery refused: {why}");
                triggers.delivery(app_name, Delivery::refused);
                return REFUSED;
            }
        };
    let seen_key = verified.delivery_id.as_deref().map(|delivery| {
        let digest = Sha256::digest(delivery.as_bytes());
        match &target.minted {
            None => format!("webhook/{}/{}", webhook.name, hex(&digest[..16])),
            Some(key) => format!("webhook/{}~{key}/{}", webhook.name, hex(&digest[..16])),
        }
    });
    let mut claimed = None;
    if let Some(key) = &seen_key {
        match first_delivery(dispatcher, tenant, target.generation, key, now).await {
            Ok(Ok(record)) => claimed = Some(record),
            Ok(Err(answer)) => {
                triggers.delivery(app_name, Delivery::duplicate);
                return answer;
            }
            Err(_) => return BUSY,
        }
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
        "body": String::from_utf8_lossy(&body),
    });
    let trigger = Trigger::Webhook {
        event: webhook.event.clone(),
        delivery,
    };
    let answer = match dispatcher
        .dispatch_background(&app, company, trigger, request_id)
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
    if let (Some(key), Some(record)) = (&seen_key, claimed) {
        // A delivery that failed is forgotten, so that the provider's retry runs.
        let settled = Seen {
            status: Some(answer.status.as_u16()),
            ..record
        };
        let _ = storage
            .swap_host_entry(
                tenant,
                target.generation,
                key,
                Some(&serde_json::to_vec(&record).expect("serializes")),
                &serde_json::to_vec(&settled).expect("serializes"),
            )
            .await;
    }
    answer
}

/// Records a delivery id as running: `Ok(record)` for the first delivery
/// of it (or one after a failed or forgotten one), else the answer the
/// first one got.
async fn first_delivery(
    dispatcher: &Dispatcher,
    tenant: Tenant<'_>,
    generation: crate::storage::Generation,
    key: &str,
    now: Timestamp,
) -> anyhow::Result<Result<Seen, Answer>> {
    let storage = dispatcher.storage();
    let running = Seen {
        at: now.as_millisecond(),
        status: None,
    };
    let new = serde_json::to_vec(&running)?;
    let stored = storage.host_entry(tenant, key).await?;
    if let Some(bytes) = &stored {
        let seen: Option<Seen> = serde_json::from_slice(bytes).ok();
        let fresh =
            seen.is_some_and(|s| now.as_millisecond() - s.at < DEDUP_WINDOW.as_millis() as i64);
        match seen.and_then(|s| s.status) {
            _ if !fresh => {}
            None => return Ok(Err(IN_FLIGHT)),
            Some(200) => return Ok(Err(ACCEPTED)),
            Some(_) => {} // it failed: this retry runs
        }
    }
    Ok(
        match storage
            .swap_host_entry(tenant, generation, key, stored.as_deref(), &new)
            .await?
        {
            Swap::Swapped => Ok(running),
            Swap::Lost => Err(IN_FLIGHT),
            Swap::Uninstalled => Err(UNKNOWN),
        },
    )
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
