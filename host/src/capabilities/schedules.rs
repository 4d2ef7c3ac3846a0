//! `keruj:plugin/schedules` (0.2.0): runs an app schedules at run time for
//! the event's company: once (`at`, `after`) or recurring (`every`,
//! `cron`), each with a JSON payload. They are the install's host entries
//! `runs/<id>`, so an uninstall deletes them with the rest; the scheduler
//! (`crate::triggers::schedules`) runs them as it runs the sidecar's, with
//! the same claim, lease, retries and catch-up rule.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keruj_guest::form::is_event_name;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use crate::bindings::keruj::plugin::schedules::{self, Cron, Schedule as Listed, Timing};
use crate::settings::{Schedule, recurring};
use crate::storage::{Put, Storage, Tenant};

/// Schedules one company's app may hold at once.
pub const MAX_SCHEDULES: usize = 100;
/// The largest payload, in bytes of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 4_096;
/// How far ahead a one-off run may be scheduled.
pub const MAX_AHEAD: Duration = Duration::from_secs(366 * 24 * 3_600);
/// Where the schedules live among the install's host entries.
pub const PREFIX: &str = "runs/";

/// The companies whose made schedules changed on this replica since the
/// scheduler last looked, by `app\0company`: it reads their lists again
/// at once instead of trusting the one it remembers.
#[derive(Debug, Default)]
pub struct Changes(std::sync::Mutex<std::collections::HashSet<String>>);

impl Changes {
    pub fn mark(&self, app: &str, company: &str) {
        let mut changed = self.0.lock().expect("not poisoned");
        changed.insert(format!("{app}\0{company}"));
    }

    /// Whether the company's schedules changed since the last `take`.
    pub fn take(&self, app: &str, company: &str) -> bool {
        let mut changed = self.0.lock().expect("not poisoned");
        changed.remove(&format!("{app}\0{company}"))
    }
}

/// A schedule made at run time, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Made {
    pub event: String,
    pub when: When,
    pub payload: Value,
    /// When it was made (ms since the epoch): the order `all` gives.
    pub made: i64,
}

/// When a made schedule runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Once, at this time (ms since the epoch).
    Once(i64),
    Every(String),
    Cron {
        expression: String,
        timezone: String,
    },
}

impl Made {
    /// The recurring schedule it is, or `None` for a one-off run.
    pub fn recurring(&self) -> Option<Schedule> {
        let checked = match &self.when {
            When::Once(_) => return None,
            When::Every(every) => recurring(&self.event, Some(every), None, Duration::ZERO),
            When::Cron {
                expression,
                timezone,
            } => recurring(
                &self.event,
                None,
                Some((expression, timezone)),
                Duration::ZERO,
            ),
        };
        checked.ok()
    }
}

/// The company's schedule `id`, if it is there.
pub async fn made(storage: &Storage, tenant: Tenant<'_>, id: &str) -> anyhow::Result<Option<Made>> {
    let stored = storage.host_entry(tenant, &format!("{PREFIX}{id}")).await?;
    Ok(stored.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Every schedule the company's app made, with its id, oldest first.
pub async fn all_made(
    storage: &Storage,
    tenant: Tenant<'_>,
) -> anyhow::Result<Vec<(String, Made)>> {
    let mut found = Vec::new();
    for name in storage.host_entry_names(tenant, PREFIX).await? {
        let id = name.trim_start_matches(PREFIX);
        if let Some(made) = made(storage, tenant, id).await? {
            found.push((id.to_owned(), made));
        }
    }
    found.sort_by_key(|(_, made)| made.made);
    Ok(found)
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    schedules::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl schedules::Host for InstanceState {
    async fn add(
        &mut self,
        event: String,
        timing: Timing,
        payload: String,
    ) -> Result<String, String> {
        let made = check(event, timing, &payload, self.services.min_schedule_interval)?;
        let bytes = serde_json::to_vec(&made).expect("a schedule serializes");
        let (id, put) = self
            .scope
            .add_host_entry(PREFIX, MAX_SCHEDULES, &bytes)
            .await?;
        match put {
            Put::Stored => {
                let bound = self.scope.bound();
                let changes = &self.services.schedule_changes;
                changes.mark(&bound.app, &bound.company);
                Ok(id)
            }
            Put::Full => Err(format!(
                "this company already has {MAX_SCHEDULES} schedules: cancel one first"
            )),
            Put::Uninstalled => Err("the company uninstalled the app: nothing is scheduled".into()),
        }
    }

    async fn all(&mut self) -> Result<Vec<Listed>, String> {
        let tenant = self.scope.tenant()?;
        let found = all_made(&self.services.storage, tenant)
            .await
            .map_err(|error| self.scope.store_failed(&error))?;
        Ok(found
            .into_iter()
            .map(|(id, made)| Listed {
                id,
                event: made.event,
                timing: match made.when {
                    When::Once(due) => Timing::At(
                        Timestamp::from_millisecond(due)
                            .map_or_else(|_| String::new(), |t| t.to_string()),
                    ),
                    When::Every(every) => Timing::Every(every),
                    When::Cron {
                        expression,
                        timezone,
                    } => Timing::Cron(Cron {
                        expression,
                        timezone,
                    }),
                },
                payload: made.payload.to_string(),
            })
            .collect())
    }

    async fn cancel(&mut self, id: String) -> Result<bool, String> {
        if !is_id(&id) {
            return Ok(false);
        }
        let (tenant, generation) = self.scope.writable().await?;
        let storage = self.services.storage.clone();
        let name = format!("{PREFIX}{id}");
        let there = storage
            .host_entry(tenant, &name)
            .await
            .map_err(|error| self.scope.store_failed(&error))?
            .is_some();
        if !there {
            return Ok(false);
        }
        // The run claim is left to the scheduler: a run in flight keeps its
        // lease (and its writes) and the scheduler drops the claim after it.
        match storage.delete_host_entry(tenant, generation, &name).await {
            Ok(Ok(())) => {
                let changes = &self.services.schedule_changes;
                changes.mark(tenant.app, tenant.company);
                Ok(true)
            }
            Ok(Err(_uninstalled)) => Ok(false),
            Err(error) => Err(self.scope.store_failed(&error)),
        }
    }
}

/// An id as `add` makes them (32 hex digits), so that no other text names
/// a host entry.
fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The schedule `add` was asked for, or what is wrong with it.
fn check(
    event: String,
    timing: Timing,
    payload: &str,
    min_interval: Duration,
) -> Result<Made, String> {
    if !is_event_name(&event) || event.starts_with("application_") {
        return Err(format!(
            "event {event:?} must be 1 to 128 letters, digits, `_`, `-` or `.`, and not a Keruj \
             lifecycle event"
        ));
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "a payload is at most {MAX_PAYLOAD_BYTES} bytes of JSON"
        ));
    }
    let payload: Value = match payload.trim() {
        "" => Value::Null,
        text => serde_json::from_str(text)
            .map_err(|error| format!("the payload is not JSON: {error}"))?,
    };
    let now = Timestamp::now();
    let latest = now
        .checked_add(SignedDuration::try_from(MAX_AHEAD).expect("a year fits"))
        .expect("a year from now fits");
    let once = |due: Timestamp| {
        if due > latest {
            Err(format!(
                "a run is scheduled at most {} days ahead",
                MAX_AHEAD.as_secs() / 86_400
            ))
        } else {
            Ok(When::Once(due.as_millisecond()))
        }
    };
    let when = match timing {
        Timing::At(at) => once(at.trim().parse::<Timestamp>().map_err(|_| {
            format!("{at:?} is not an RFC 3339 time such as \"2026-12-24T09:00:00+02:00\"")
        })?)?,
        Timing::After(seconds) => {
            let delay = SignedDuration::from_secs(seconds.min(MAX_AHEAD.as_secs() + 1) as i64);
            once(now.checked_add(delay).map_err(|e| e.to_string())?)?
        }
        Timing::Every(every) => {
            recurring(&event, Some(&every), None, min_interval)?;
            When::Every(every)
        }
        Timing::Cron(Cron {
            expression,
            timezone,
        }) => {
            recurring(&event, None, Some((&expression, &timezone)), min_interval)?;
            When::Cron {
                expression,
                timezone,
            }
        }
    };
    Ok(Made {
        event,
        when,
        payload,
        made: now.as_millisecond(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn one_off_runs_are_read_from_a_time_or_a_delay() {
        let at = check(
            "follow_up".into(),
            Timing::At("2026-12-24T09:00:00+02:00".into()),
            "{\"order\":7}",
            MINUTE,
        )
        .unwrap();
        assert!(
            matches!(at.when, When::Once(ms) if ms == "2026-12-24T07:00:00Z".parse::<Timestamp>().unwrap().as_millisecond())
        );
        assert_eq!(at.payload, serde_json::json!({"order": 7}));
        let after = check("follow_up".into(), Timing::After(600), "", MINUTE).unwrap();
        let When::Once(due) = after.when else {
            panic!("{after:?}")
        };
        assert!((due - after.made - 600_000).abs() < 1_000);
        assert_eq!(after.payload, Value::Null);
    }

    #[test]
    fn what_the_host_cannot_honour_is_refused_with_the_reason() {
        let refused = |event: &str, timing: Timing, payload: &str| {
            check(event.into(), timing, payload, MINUTE).unwrap_err()
        };
        assert!(refused("application_install", Timing::After(1), "").contains("lifecycle"));
        assert!(refused("x", Timing::At("tomorrow".into()), "").contains("RFC 3339"));
        assert!(refused("x", Timing::After(400 * 86_400), "").contains("366 days ahead"));
        assert!(
            refused("x", Timing::Every("10s".into()), "")
                .contains("more often than the host allows")
        );
        let cron = Cron {
            expression: "0 9 * * *".into(),
            timezone: "Mars/Olympus".into(),
        };
        assert!(refused("x", Timing::Cron(cron), "").contains("unknown time zone"));
        assert!(refused("x", Timing::After(1), "{not json").contains("not JSON"));
        assert!(
            refused("x", Timing::After(1), &"1".repeat(MAX_PAYLOAD_BYTES + 1)).contains("4096")
        );
    }

    #[test]
    fn recurring_schedules_come_back_as_the_sidecars_do() {
        let cron = Cron {
            expression: "30 2 * * *".into(),
            timezone: "Europe/Kyiv".into(),
        };
        let made = check("nightly".into(), Timing::Cron(cron), "null", MINUTE).unwrap();
        assert!(made.recurring().is_some());
        let every = check("sync".into(), Timing::Every("15m".into()), "null", MINUTE).unwrap();
        assert!(every.recurring().is_some());
        let once = check("once".into(), Timing::After(5), "null", MINUTE).unwrap();
        assert!(once.recurring().is_none());
    }

    #[test]
    fn only_ids_add_makes_name_a_schedule() {
        assert!(is_id(&uuid::Uuid::new_v4().simple().to_string()));
        for bad in ["", "../kv/x", "0123", &"g".repeat(32)] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
