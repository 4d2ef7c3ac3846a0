//! Scheduled runs: each sidecar `[[schedule]]` delivered to every company
//! that has the app installed, once per due time across replicas.
//!
//! Every [`TICK`] the scheduler looks at each installed company's latest
//! due time and claims it in the store with a compare-and-swap of one
//! record per (company, schedule), so that of replicas racing for a due
//! time one runs it (no leader to elect; sled has one process anyway):
//!
//! - a due time newer than the record's is claimed with a lease (the app's
//!   time limit, doubled, plus [`LEASE_MARGIN`]) and run, `attempt` 1;
//! - a run that failed (or whose replica died: its lease ran out) is tried
//!   again after a backoff, `attempt` + 1, up to [`MAX_ATTEMPTS`]; then it
//!   is recorded as failed (log and metrics) and waits for the next due time;
//! - only the latest due time counts: runs missed while every replica was
//!   down are caught up once, never in a burst;
//! - a company's first due time is the first after the scheduler first saw
//!   its install: installing does not run the schedule at once;
//! - an uninstall deletes the records with the rest, and the next round
//!   finds no install: runs stop within one tick (plus a run in flight).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::apps::App;
use crate::dispatch::{Dispatcher, Trigger, new_request_id};
use crate::settings::Schedule;
use crate::storage::{Lease, Swap, Tenant};

/// How often the scheduler looks for due runs.
pub const TICK: Duration = Duration::from_secs(1);
/// Tries of one due time before it is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// Added to a run's lease beyond its time limit.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The record of one (company, schedule), as stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Claim {
    /// The due time claimed (ms since the epoch).
    due: i64,
    /// Tries of it so far; 0: seen, never run (a company's first sight).
    attempt: u32,
    /// Until when the try in flight owns it; another replica may try again after.
    until: i64,
    /// Finished: done, or failed for good.
    settled: bool,
}

/// How long after its `attempt`th try failed a due time is tried again
/// (ms): 1 s, 2 s, 4 s, 8 s, ... at most 5 minutes. A newer due time
/// replaces it meanwhile.
fn backoff(attempt: u32) -> i64 {
    (1_000i64 << attempt.saturating_sub(1).min(16)).min(300_000)
}

/// Runs due schedules until the returned task is aborted (with the host).
pub fn start(dispatcher: Dispatcher) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            round(&dispatcher).await;
        }
    })
}

/// One look at every app with schedules.
async fn round(dispatcher: &Dispatcher) {
    for name in dispatcher.apps().names() {
        let Some(Ok(app)) = dispatcher.apps().get(&name).map(|entry| entry.serving()) else {
            continue;
        };
        if app.settings.schedules.is_empty() {
            continue;
        }
        let companies = match dispatcher.storage().companies(&app.name).await {
            Ok(companies) => companies,
            Err(error) => {
                tracing::warn!(app = app.name, "scheduled runs wait: {error:#}");
                continue;
            }
        };
        for company in companies {
            for (index, schedule) in app.settings.schedules.iter().enumerate() {
                if let Err(error) = consider(dispatcher, &app, &company, index, schedule).await {
                    tracing::warn!(
                        app = app.name,
                        company,
                        event = schedule.event,
                        "scheduled run waits: {error:#}"
                    );
                }
            }
        }
    }
}

/// Claims and starts the company's due run of `schedule`, if one is due.
async fn consider(
    dispatcher: &Dispatcher,
    app: &Arc<App>,
    company: &str,
    index: usize,
    schedule: &Schedule,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let Some(due) = schedule.latest_due(&app.name, company, now) else {
        return Ok(());
    };
    let due_ms = due.as_millisecond();
    let storage = dispatcher.storage();
    let tenant = Tenant::new(&app.name, company);
    let Some(generation) = storage.generation(tenant).await? else {
        return Ok(());
    };
    let key = format!("schedule/{index}/{}", schedule.event);
    let stored = storage.host_entry(tenant, &key).await?;
    let previous: Option<Claim> = stored
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok());
    let now_ms = now.as_millisecond();
    let lease = (app.settings.limits.timeout * 2 + LEASE_MARGIN).as_millis() as i64;
    let next = match previous {
        // First sight of this install: its runs start at the next due time.
        None => Claim {
            due: due_ms,
            attempt: 0,
            until: 0,
            settled: true,
        },
        Some(claim) if claim.due < due_ms => Claim {
            due: due_ms,
            attempt: 1,
            until: now_ms + lease,
            settled: false,
        },
        Some(claim) if !claim.settled && claim.until <= now_ms => Claim {
            attempt: claim.attempt + 1,
            until: now_ms + lease,
            ..claim
        },
        Some(_) => return Ok(()),
    };
    let claimed = serde_json::to_vec(&next)?;
    if storage
        .swap_host_entry(tenant, generation, &key, stored.as_deref(), &claimed)
        .await?
        != Swap::Swapped
    {
        return Ok(()); // another replica claimed it, or the company uninstalled
    }
    if next.settled {
        return Ok(());
    }
    if next.attempt > MAX_ATTEMPTS {
        let failed = Claim {
            settled: true,
            ..next
        };
        storage
            .swap_host_entry(
                tenant,
                generation,
                &key,
                Some(&claimed),
                &serde_json::to_vec(&failed)?,
            )
            .await?;
        dispatcher.metrics().triggers.schedule_given_up(&app.name);
        tracing::error!(app = app.name, company, event = schedule.event, due = %due,
            "scheduled run failed {MAX_ATTEMPTS} times: given up until its next due time");
        return Ok(());
    }
    let (dispatcher, app, company) = (dispatcher.clone(), app.clone(), company.to_owned());
    let event = schedule.event.clone();
    tokio::spawn(async move {
        let trigger = Trigger::Schedule {
            event: event.clone(),
            due: due.to_string(),
            attempt: next.attempt,
            lease: Some(storage_lease(&key, &claimed)),
        };
        let request_id = new_request_id();
        let lag = Timestamp::now().duration_since(due).unsigned_abs();
        dispatcher
            .metrics()
            .triggers
            .schedule_started(&app.name, lag, next.attempt);
        let result = dispatcher
            .dispatch_background(&app, &company, trigger, &request_id)
            .await;
        let after = match result {
            Ok(_) => Claim {
                settled: true,
                ..next
            },
            Err(_) => Claim {
                until: Timestamp::now().as_millisecond() + backoff(next.attempt),
                ..next
            },
        };
        let tenant = Tenant::new(&app.name, &company);
        let settle = serde_json::to_vec(&after).expect("a claim serializes");
        // Lost or uninstalled: another replica took over after the lease, or
        // the company left; either way there is nothing left to record.
        let _ = dispatcher
            .storage()
            .swap_host_entry(tenant, generation, &key, Some(&claimed), &settle)
            .await;
    });
    Ok(())
}

/// The lease of a claim stored as the host entry `key`.
fn storage_lease(key: &str, claim: &[u8]) -> Lease {
    Lease {
        key: key.to_owned(),
        claim: claim.to_vec(),
    }
}
