//! Runs the app schedules at run time for the event's company (contract
//! 0.2.0), beside its sidecar's `[[schedule]]`s, which run for every
//! company. A run arrives as an [`Event::Scheduled`](crate::Event::Scheduled)
//! whose [`id`](crate::Scheduled::id) and [`payload`](crate::Scheduled::payload)
//! are the schedule's. The host runs each due time once across replicas,
//! retries a failed run with backoff, and deletes them all at uninstall.
//! Limits: 100 schedules per company, payloads up to 4 KiB of JSON, one-off
//! runs up to 366 days ahead, recurring ones no more often than the host's
//! `--min-schedule-interval`.
//!
//! ```no_run
//! # fn demo() -> Result<(), keruj_guest::Error> {
//! use std::time::Duration;
//! use keruj_guest::{json, schedules};
//! // Ask the customer again in ten minutes, about this order.
//! let id = schedules::after("follow_up", Duration::from_secs(600), &json!({"order": 7}))?;
//! // And every morning at nine, Kyiv time.
//! schedules::cron("digest", "0 9 * * *", "Europe/Kyiv", &())?;
//! schedules::cancel(&id)?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::__private::bindings::keruj::plugin::schedules::{self as wit, Cron, Timing};
use crate::Error;

/// When a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Once, at this time (RFC 3339).
    At(String),
    /// Once, this many seconds after it was made (this host lists a delay
    /// as [`When::At`], the time it ends).
    After(u64),
    /// Repeatedly, every this long (`15m`).
    Every(String),
    /// Repeatedly, at the times of a cron expression, in a time zone (empty: UTC).
    Cron {
        /// Five fields: `0 9 * * mon-fri`.
        expression: String,
        /// An IANA name: `Europe/Kyiv`.
        timezone: String,
    },
}

/// One of the company's schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// What [`cancel`] takes.
    pub id: String,
    /// The event each run arrives as.
    pub event: String,
    /// When it runs (a delay is shown as the time it ends).
    pub when: When,
    /// What each run carries.
    pub payload: Value,
}

/// Runs `event` once at `time` (RFC 3339, `2026-12-24T09:00:00+02:00`; a
/// time already past runs at once). Returns the schedule's id.
pub fn at(event: &str, time: &str, payload: &impl Serialize) -> Result<String, Error> {
    add(event, Timing::At(time.to_owned()), payload)
}

/// Runs `event` once, `delay` from now.
pub fn after(event: &str, delay: Duration, payload: &impl Serialize) -> Result<String, Error> {
    add(event, Timing::After(delay.as_secs()), payload)
}

/// Runs `event` every `period` (`90s`, `15m`, `1h`, `1d`), at a stable
/// offset of the company's into it.
pub fn every(event: &str, period: &str, payload: &impl Serialize) -> Result<String, Error> {
    add(event, Timing::Every(period.to_owned()), payload)
}

/// Runs `event` at the times of the cron `expression`, read in `timezone`
/// (an IANA name; empty for UTC).
pub fn cron(
    event: &str,
    expression: &str,
    timezone: &str,
    payload: &impl Serialize,
) -> Result<String, Error> {
    let cron = Cron {
        expression: expression.to_owned(),
        timezone: timezone.to_owned(),
    };
    add(event, Timing::Cron(cron), payload)
}

fn add(event: &str, timing: Timing, payload: &impl Serialize) -> Result<String, Error> {
    let payload = serde_json::to_string(payload)
        .map_err(|e| Error::msg(format!("the payload does not serialize: {e}")))?;
    wit::add(event, &timing, &payload).map_err(Error::msg)
}

/// The company's schedules, oldest first (a one-off run that ran is gone).
pub fn all() -> Result<Vec<Schedule>, Error> {
    let found = wit::all().map_err(Error::msg)?;
    Ok(found
        .into_iter()
        .map(|schedule| Schedule {
            id: schedule.id,
            event: schedule.event,
            when: match schedule.timing {
                Timing::At(time) => When::At(time),
                Timing::After(seconds) => When::After(seconds),
                Timing::Every(period) => When::Every(period),
                Timing::Cron(cron) => When::Cron {
                    expression: cron.expression,
                    timezone: cron.timezone,
                },
            },
            payload: serde_json::from_str(&schedule.payload).unwrap_or(Value::Null),
        })
        .collect())
}

/// Cancels the schedule `id`; `false` if there was none. A run already
/// started finishes.
pub fn cancel(id: &str) -> Result<bool, Error> {
    wit::cancel(id).map_err(Error::msg)
}
