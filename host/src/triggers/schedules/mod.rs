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
//!
//! A replica remembers the due times it saw settled, so that a round reads
//! the store only for schedules whose latest due time moved on (or whose
//! run is in flight somewhere): 10,000 companies on `15m` cost about 11
//! claim reads a second, not 10,000. The scheduler runs on the background
//! lane, below Keruj's requests.
//!
//! Schedules an app made at run time (`capabilities::schedules`) take the
//! same path, one claim record each; a one-off run has no first sight (it
//! runs once its time has come) and is deleted once it is settled.

mod memory;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::apps::App;
use crate::capabilities::schedules::{self as made, When};
use crate::dispatch::{Dispatcher, Trigger, new_request_id};
use crate::storage::{Generation, Lease, Swap, Tenant};
pub use memory::MADE_REFRESH;
use memory::Memory;

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
    let lane = dispatcher.clone();
    lane.spawn_background(async move {
        let memory = Arc::new(Memory::default());
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            round(&dispatcher, &memory).await;
            memory.end_round();
        }
    })
}

/// One look at every app with schedules.
async fn round(dispatcher: &Dispatcher, memory: &Arc<Memory>) {
    for name in dispatcher.apps().names() {
        let Some(Ok(app)) = dispatcher.apps().get(&name).map(|entry| entry.serving()) else {
            continue;
        };
        if app.settings.schedules.is_empty() && !app.plugin.makes_schedules {
            continue;
        }
        let companies = match dispatcher.storage().companies(&app.name).await {
            Ok(companies) => companies,
            Err(error) => {
                tracing::warn!(app = app.name, "scheduled runs wait: {error:#}");
                continue;
            }
        };
        let now = Timestamp::now();
        for company in companies {
            for (index, schedule) in app.settings.schedules.iter().enumerate() {
                let Some(due) = schedule.latest_due(&app.name, &company, now) else {
                    continue;
                };
                let due = Due {
                    key: format!("schedule/{index}/{}", schedule.event),
                    event: schedule.event.clone(),
                    due,
                    made: None,
                };
                consider(dispatcher, memory, &app, &company, due).await;
            }
            if app.plugin.makes_schedules
                && let Err(error) = consider_made(dispatcher, memory, &app, &company, now).await
            {
                tracing::warn!(app = app.name, company, "scheduled runs wait: {error:#}");
            }
        }
    }
}

/// The latest due time of one schedule of a company, and whose it is.
struct Due {
    /// The host entry its claims are recorded in.
    key: String,
    event: String,
    due: Timestamp,
    /// A schedule the app made: its id, its payload, and whether it runs once.
    made: Option<Made>,
}

/// What a run of a schedule the app made carries.
#[derive(Clone)]
struct Made {
    id: String,
    payload: Value,
    once: bool,
}

/// The due runs of the schedules the app made for `company`; and the claims
/// of cancelled ones, dropped once no run holds them.
async fn consider_made(
    dispatcher: &Dispatcher,
    memory: &Arc<Memory>,
    app: &Arc<App>,
    company: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    let storage = dispatcher.storage();
    let tenant = Tenant::new(&app.name, company);
    let (schedules, read) = memory.made_list(dispatcher, tenant).await?;
    for (id, schedule) in schedules.iter() {
        let (due, once) = match &schedule.when {
            When::Once(at) if *at <= now.as_millisecond() => {
                (Timestamp::from_millisecond(*at)?, true)
            }
            When::Once(_) => continue,
            _ => match schedule
                .recurring()
                .and_then(|recurring| recurring.latest_due(&app.name, company, now))
            {
                Some(due) => (due, false),
                None => continue,
            },
        };
        let due = Due {
            key: made_claim(id),
            event: schedule.event.clone(),
            due,
            made: Some(Made {
                id: id.clone(),
                payload: schedule.payload.clone(),
                once,
            }),
        };
        consider(dispatcher, memory, app, company, due).await;
    }
    if !read {
        return Ok(());
    }
    for claim in storage.host_entry_names(tenant, MADE_CLAIMS).await? {
        let id = &claim[MADE_CLAIMS.len()..];
        if !schedules.iter().any(|(made, _)| made == id)
            && let Some(generation) = storage.generation(tenant).await?
        {
            let stored = storage.host_entry(tenant, &claim).await?;
            let idle = stored
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Claim>(b).ok())
                .is_none_or(|c| c.settled || c.until <= now.as_millisecond());
            if idle {
                let _ = storage
                    .delete_host_entry(tenant, generation, &claim)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Where the claims of made schedules are recorded.
const MADE_CLAIMS: &str = "schedule/run/";

fn made_claim(id: &str) -> String {
    format!("{MADE_CLAIMS}{id}")
}

/// [`claim`], with a failure logged: the next round tries again.
async fn consider(
    dispatcher: &Dispatcher,
    memory: &Arc<Memory>,
    app: &Arc<App>,
    company: &str,
    due: Due,
) {
    let event = due.event.clone();
    if let Err(error) = claim(dispatcher, memory, app, company, due).await {
        tracing::warn!(
            app = app.name,
            company,
            event,
            "scheduled run waits: {error:#}"
        );
    }
}

/// Claims and starts the company's run of `due`, unless it ran or runs.
async fn claim(
    dispatcher: &Dispatcher,
    memory: &Arc<Memory>,
    app: &Arc<App>,
    company: &str,
    due: Due,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let Due {
        key,
        event,
        due,
        made,
    } = due;
    let due_ms = due.as_millisecond();
    let once = made.as_ref().is_some_and(|made| made.once);
    let storage = dispatcher.storage();
    let tenant = Tenant::new(&app.name, company);
    let Some(generation) = storage.generation(tenant).await? else {
        return Ok(());
    };
    let memo = Memory::key(&app.name, company, generation, &key);
    if memory.holds(&memo, due_ms) {
        return Ok(());
    }
    let stored = storage.host_entry(tenant, &key).await?;
    let previous: Option<Claim> = stored
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok());
    let now_ms = now.as_millisecond();
    let lease = (app.settings.limits.timeout * 2 + LEASE_MARGIN).as_millis() as i64;
    let next = match previous {
        // A one-off run has no first sight: its time has come.
        None if once => Claim {
            due: due_ms,
            attempt: 1,
            until: now_ms + lease,
            settled: false,
        },
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
        Some(claim) => {
            if claim.settled && claim.due == due_ms {
                memory.remember(memo, due_ms);
            }
            return Ok(());
        }
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
        memory.remember(memo, due_ms);
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
        tracing::error!(app = app.name, company, event, due = %due,
            "scheduled run failed {MAX_ATTEMPTS} times: given up until its next due time");
        if let Some(made) = made.as_ref().filter(|made| made.once) {
            forget_once(dispatcher, tenant, generation, &made.id).await;
        }
        return Ok(());
    }
    // The list it came from may be a few seconds old: a schedule cancelled
    // on another replica meanwhile does not run.
    if let Some(made) = &made
        && made::made(storage, tenant, &made.id).await?.is_none()
    {
        let _ = storage.delete_host_entry(tenant, generation, &key).await?;
        return Ok(());
    }
    let (dispatcher, app, company) = (dispatcher.clone(), app.clone(), company.to_owned());
    let memory = memory.clone();
    tokio::spawn(async move {
        let trigger = Trigger::Schedule {
            event,
            due: due.to_string(),
            attempt: next.attempt,
            lease: Some(storage_lease(&key, &claimed)),
            made: made
                .as_ref()
                .map(|made| (made.id.clone(), made.payload.clone())),
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
        let stored = dispatcher
            .storage()
            .swap_host_entry(tenant, generation, &key, Some(&claimed), &settle)
            .await;
        if after.settled && matches!(stored, Ok(Swap::Swapped)) {
            memory.remember(memo, due_ms);
            if let Some(made) = made.as_ref().filter(|made| made.once) {
                forget_once(&dispatcher, tenant, generation, &made.id).await;
            }
        }
    });
    Ok(())
}

/// A one-off run is settled: its schedule and its claim go.
async fn forget_once(
    dispatcher: &Dispatcher,
    tenant: Tenant<'_>,
    generation: Generation,
    id: &str,
) {
    let storage = dispatcher.storage();
    let schedule = format!("{}{id}", made::PREFIX);
    let _ = storage
        .delete_host_entry(tenant, generation, &schedule)
        .await;
    let changes = &dispatcher.services().schedule_changes;
    changes.mark(tenant.app, tenant.company);
    let _ = storage
        .delete_host_entry(tenant, generation, &made_claim(id))
        .await;
}

/// The lease of a claim stored as the host entry `key`.
fn storage_lease(key: &str, claim: &[u8]) -> Lease {
    Lease {
        key: key.to_owned(),
        claim: claim.to_vec(),
    }
}

/// A made schedule run now by hand, and what came of it.
pub struct RanNow {
    pub schedule: made::Made,
    /// The `schedule` object of the run's body.
    pub body: Value,
    pub result: Result<crate::dispatch::Reply, crate::dispatch::DispatchError>,
}

/// Runs the schedule `id` the app made for `company` now, outside the
/// scheduler's claims (the dev console's "Run now", the test harness's
/// `run_made_schedule`): `due` now, `attempt` 1, its id and payload. A
/// one-off the app handled is gone afterwards, as after its due run.
/// `None` if the company has no schedule `id`.
pub async fn run_made_now(
    dispatcher: &Dispatcher,
    app: &Arc<App>,
    company: &str,
    id: &str,
    request_id: &str,
) -> anyhow::Result<Option<RanNow>> {
    let tenant = Tenant::new(&app.name, company);
    let Some(schedule) = made::made(dispatcher.storage(), tenant, id).await? else {
        return Ok(None);
    };
    let due = Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| Timestamp::now())
        .to_string();
    let body = serde_json::json!({"event": schedule.event, "due": due, "attempt": 1,
        "id": id, "payload": schedule.payload});
    let trigger = Trigger::Schedule {
        event: schedule.event.clone(),
        due,
        attempt: 1,
        // Run by hand, outside the scheduler's claims: no lease to lose.
        lease: None,
        made: Some((id.to_owned(), schedule.payload.clone())),
    };
    let result = dispatcher
        .dispatch_background(app, company, trigger, request_id)
        .await;
    if matches!(schedule.when, When::Once(_))
        && result.is_ok()
        && let Some(generation) = dispatcher.storage().generation(tenant).await?
    {
        forget_once(dispatcher, tenant, generation, id).await;
    }
    Ok(Some(RanNow {
        schedule,
        body,
        result,
    }))
}
