//! The sidecar's `[[schedule]]` and `[[webhook]]` tables: work an app does
//! on its own, for every company that has it installed. Read and checked
//! here, at load: a table the host cannot honour refuses the app, with the
//! reason in its health.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use keruj_guest::form::is_event_name;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::webhook_limits::{Rate, check_pointer};
use crate::signatures::Scheme;

/// `[[schedule]]` as the operator writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScheduleTable {
    event: String,
    every: Option<String>,
    cron: Option<String>,
    timezone: Option<String>,
}

/// `[[webhook]]` as the operator writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookTable {
    name: String,
    event: String,
    verify: Option<String>,
    secret: Option<String>,
    rate: Option<String>,
    burst: Option<u32>,
    order_by: Option<String>,
}

/// An event the host delivers on its own, for each installed company.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The event name the app receives.
    pub event: String,
    pub cadence: Cadence,
}

/// When a schedule's event is due.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Every `period`, each company at its own stable offset into it, so
    /// that many companies on one period do not all run at once.
    Every(Duration),
    /// A cron pattern (minute resolution) read in a time zone: a local time
    /// a daylight-saving change skips runs at the next valid minute, a
    /// repeated local hour runs a fixed time once (croner's rules).
    Cron { cron: Box<Cron>, zone: TimeZone },
}

impl Schedule {
    /// The latest time at or before `now` that this schedule was due for
    /// `company` of `app`. Only the latest counts: runs missed while no
    /// replica was up are caught up once, never in a burst.
    pub fn latest_due(&self, app: &str, company: &str, now: Timestamp) -> Option<Timestamp> {
        match &self.cadence {
            Cadence::Every(period) => {
                let period = period.as_millis().max(1) as i64;
                let offset = spread(app, company, &self.event, period);
                let now_ms = now.as_millisecond();
                let due = now_ms - (now_ms - offset).rem_euclid(period);
                Timestamp::from_millisecond(due).ok()
            }
            Cadence::Cron { cron, zone } => {
                let now = now.to_zoned(zone.clone());
                cron.find_previous_occurrence(&now, true)
                    .ok()
                    .map(|due: Zoned| due.timestamp())
            }
        }
    }

    /// The first time after `after` this schedule is due for the company.
    pub fn next_due(&self, app: &str, company: &str, after: Timestamp) -> Option<Timestamp> {
        match &self.cadence {
            Cadence::Every(period) => {
                let latest = self.latest_due(app, company, after)?;
                latest
                    .checked_add(jiff::SignedDuration::try_from(*period).ok()?)
                    .ok()
            }
            Cadence::Cron { cron, zone } => cron
                .find_next_occurrence(&after.to_zoned(zone.clone()), false)
                .ok()
                .map(|due: Zoned| due.timestamp()),
        }
    }

    /// The shortest gap between two runs: the period, or for a cron pattern
    /// the least gap among its next 64 occurrences (enough to see `*/5`, an
    /// hour list, or a weekday range).
    fn shortest_gap(&self) -> Duration {
        match &self.cadence {
            Cadence::Every(period) => *period,
            Cadence::Cron { cron, zone } => {
                let times: Vec<Timestamp> = cron
                    .clone()
                    .iter_after(Timestamp::now().to_zoned(zone.clone()))
                    .take(64)
                    .map(|t| t.timestamp())
                    .collect();
                times
                    .windows(2)
                    .map(|w| w[1].duration_since(w[0]).unsigned_abs())
                    .min()
                    .unwrap_or(Duration::MAX)
            }
        }
    }
}

/// A company's stable offset into a period: its runs are spread evenly
/// over the interval (as Atlassian Forge spreads its scheduled triggers),
/// the same on every replica and across restarts.
fn spread(app: &str, company: &str, event: &str, period_ms: i64) -> i64 {
    let digest = Sha256::new()
        .chain_update(app)
        .chain_update([0])
        .chain_update(company)
        .chain_update([0])
        .chain_update(event)
        .finalize();
    let n = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % period_ms as u64) as i64
}

/// A URL per installed company that a third party calls.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The key the app knows the URL by.
    pub name: String,
    /// The event name a delivery arrives as.
    pub event: String,
    pub verify: Scheme,
    /// Where the signing secret is; `None` only with `verify = "none"`.
    pub secret: Option<SecretSource>,
    /// How many deliveries each of its URLs takes.
    pub rate: Rate,
    /// A JSON pointer into the body: deliveries with the same value there
    /// run one at a time for a company, in arrival order.
    pub order_by: Option<String>,
}

/// Where a webhook's signing secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `secret:<name>`: the company's own secret, stored by the app (a
    /// per-tenant signing key, e.g. from its configure form).
    Company(String),
    /// `env:<VAR>`: one secret for every company, from the host's environment.
    Env(String),
}

impl FromStr for SecretSource {
    type Err = String;

    fn from_str(text: &str) -> Result<SecretSource, String> {
        match text.split_once(':') {
            Some(("secret", name)) if !name.is_empty() => Ok(SecretSource::Company(name.into())),
            Some(("env", var)) if !var.is_empty() => Ok(SecretSource::Env(var.into())),
            _ => Err(format!(
                "secret must be \"secret:<name>\" or \"env:<VAR>\", not {text:?}"
            )),
        }
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Company(name) => write!(f, "secret:{name}"),
            SecretSource::Env(var) => write!(f, "env:{var}"),
        }
    }
}

/// A duration as sidecars and flags write it: `90s`, `15m`, `1h`, `1d`,
/// or several parts (`1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration such as \"90s\", \"15m\", \"1h\" or \"1d\"");
    let span: jiff::Span = text.trim().parse().map_err(|_| bad())?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|_| bad())?;
    Duration::try_from(duration)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(bad)
}

/// A recurring schedule an app makes at run time (`keruj:plugin/schedules`),
/// checked as the sidecar's are: `every` a duration, or `cron` read in
/// `timezone` (empty: UTC), no more often than `min_interval`.
pub fn recurring(
    event: &str,
    every: Option<&str>,
    cron: Option<(&str, &str)>,
    min_interval: Duration,
) -> Result<Schedule, String> {
    let (cron, timezone) = match cron {
        Some((cron, "")) => (Some(cron.to_owned()), None),
        Some((cron, zone)) => (Some(cron.to_owned()), Some(zone.to_owned())),
        None => (None, None),
    };
    let table = ScheduleTable {
        event: event.to_owned(),
        every: every.map(str::to_owned),
        cron,
        timezone,
    };
    table
        .check("the schedule", min_interval)
        .map_err(|error| error.to_string())
}

impl ScheduleTable {
    /// The schedule, or why the app cannot have it (`file` names the sidecar).
    pub(super) fn check(self, file: &str, min_interval: Duration) -> anyhow::Result<Schedule> {
        let event = self.event;
        anyhow::ensure!(
            is_event_name(&event) && !event.starts_with("application_"),
            "{file}: [[schedule]] event {event:?} must be 1 to 128 letters, digits, `_`, `-` or `.`, \
             and not a Keruj lifecycle event"
        );
        let cadence = match (self.every, self.cron) {
            (Some(every), None) => {
                anyhow::ensure!(
                    self.timezone.is_none(),
                    "{file}: [[schedule]] {event}: timezone goes with cron, not every"
                );
                Cadence::Every(parse_duration(&every).map_err(|e| anyhow::anyhow!("{file}: {e}"))?)
            }
            (None, Some(pattern)) => {
                let cron = CronParser::builder()
                    .seconds(Seconds::Disallowed)
                    .build()
                    .parse(&pattern)
                    .map_err(|e| {
                        anyhow::anyhow!("{file}: [[schedule]] {event}: cron {pattern:?}: {e}")
                    })?;
                let zone = match self.timezone.as_deref() {
                    None => TimeZone::UTC,
                    Some(name) => TimeZone::get(name).map_err(|_| {
                        anyhow::anyhow!("{file}: [[schedule]] {event}: unknown time zone {name:?} (IANA names, such as \"Europe/Kyiv\")")
                    })?,
                };
                Cadence::Cron {
                    cron: Box::new(cron),
                    zone,
                }
            }
            _ => anyhow::bail!("{file}: [[schedule]] {event} needs either every or cron"),
        };
        let schedule = Schedule { event, cadence };
        let gap = schedule.shortest_gap();
        anyhow::ensure!(
            gap >= min_interval,
            "{file}: [[schedule]] {}: runs {} apart, more often than the host allows \
             (--min-schedule-interval {})",
            schedule.event,
            jiff::SignedDuration::try_from(gap).map_or("?".into(), |d| format!("{d:#}")),
            jiff::SignedDuration::try_from(min_interval).map_or("?".into(), |d| format!("{d:#}")),
        );
        Ok(schedule)
    }
}

impl WebhookTable {
    /// The webhook, or why the app cannot have it.
    pub(super) fn check(self, file: &str) -> anyhow::Result<Webhook> {
        let name = self.name;
        anyhow::ensure!(
            is_event_name(&name) && name.len() <= 64,
            "{file}: [[webhook]] name {name:?} must be 1 to 64 letters, digits, `_`, `-` or `.`"
        );
        anyhow::ensure!(
            is_event_name(&self.event) && !self.event.starts_with("application_"),
            "{file}: [[webhook]] {name}: event {:?} is not an event name the app can receive",
            self.event
        );
        let verify: Scheme = match self.verify.as_deref() {
            None => Scheme::None,
            Some(text) => text
                .parse()
                .map_err(|e| anyhow::anyhow!("{file}: [[webhook]] {name}: {e}"))?,
        };
        let secret = match self.secret.as_deref() {
            None => None,
            Some(text) => Some(
                text.parse::<SecretSource>()
                    .map_err(|e| anyhow::anyhow!("{file}: [[webhook]] {name}: {e}"))?,
            ),
        };
        anyhow::ensure!(
            secret.is_some() || !verify.needs_secret(),
            "{file}: [[webhook]] {name}: verify = \"{verify}\" needs a secret (\"secret:<name>\" or \"env:<VAR>\")"
        );
        let rate = Rate::parse(self.rate.as_deref(), self.burst)
            .map_err(|e| anyhow::anyhow!("{file}: [[webhook]] {name}: {e}"))?;
        if let Some(pointer) = &self.order_by {
            check_pointer(pointer)
                .map_err(|e| anyhow::anyhow!("{file}: [[webhook]] {name}: {e}"))?;
        }
        Ok(Webhook {
            name,
            event: self.event,
            verify,
            secret,
            rate,
            order_by: self.order_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(toml: &str) -> anyhow::Result<Schedule> {
        let table: ScheduleTable = toml::from_str(toml).unwrap();
        table.check("demo.toml", Duration::from_secs(60))
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn every_spreads_companies_over_the_period_and_keeps_each_one_s_offset() {
        let every = schedule("event = \"sync\"\nevery = \"15m\"").unwrap();
        let now = at("2026-12-03T10:07:00Z");
        let mut per_minute = [0u32; 15];
        for n in 0..3_000 {
            let company = format!("company-{n}");
            let due = every.latest_due("shop", &company, now).unwrap();
            assert!(due <= now && now.duration_since(due) < jiff::SignedDuration::from_mins(15));
            assert_eq!(every.latest_due("shop", &company, now), Some(due), "stable");
            let next = every.next_due("shop", &company, due).unwrap();
            assert_eq!(
                next.duration_since(due),
                jiff::SignedDuration::from_mins(15)
            );
            per_minute[(due.as_second().rem_euclid(900) / 60) as usize] += 1;
        }
        // 200 a minute on average: none of the 15 minutes holds twice that.
        assert!(
            per_minute.iter().all(|&n| (100..400).contains(&n)),
            "{per_minute:?}"
        );
    }

    #[test]
    fn cron_in_kyiv_runs_a_skipped_time_at_the_next_valid_minute_and_a_repeated_one_once() {
        let daily =
            schedule("event = \"digest\"\ncron = \"30 3 * * *\"\ntimezone = \"Europe/Kyiv\"")
                .unwrap();
        let next = |after: &str| daily.next_due("shop", "c1", at(after)).unwrap();
        // 2026-03-29: 03:00 EET jumps to 04:00 EEST, so 03:30 never happens
        // that day; it runs at 04:00 local (01:00 UTC), then as usual.
        assert_eq!(next("2026-03-28T12:00:00Z"), at("2026-03-29T01:00:00Z"));
        assert_eq!(next("2026-03-29T01:00:00Z"), at("2026-03-30T00:30:00Z"));
        // 2026-10-25: 04:00 EEST falls back to 03:00 EET, so 03:30 happens
        // twice (00:30 and 01:30 UTC); it runs at the first only.
        assert_eq!(next("2026-10-24T12:00:00Z"), at("2026-10-25T00:30:00Z"));
        assert_eq!(next("2026-10-25T00:30:00Z"), at("2026-10-26T01:30:00Z"));
        // And the scheduler, looking back from after the second 03:30,
        // finds the one it already ran: no second run.
        assert_eq!(
            daily.latest_due("shop", "c1", at("2026-10-25T01:45:00Z")),
            Some(at("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn bad_tables_are_refused_saying_what_and_where() {
        let refused = |toml: &str| schedule(toml).unwrap_err().to_string();
        let err = refused("event = \"sync\"\nevery = \"30s\"");
        assert!(
            err.contains("demo.toml") && err.contains("--min-schedule-interval"),
            "{err}"
        );
        assert!(
            schedule("event = \"sync\"\ncron = \"* * * * *\"").is_ok(),
            "the minimum itself"
        );
        let table: ScheduleTable =
            toml::from_str("event = \"sync\"\ncron = \"0,2 9 * * *\"").unwrap();
        let err = table
            .check("demo.toml", Duration::from_secs(300))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2m apart"),
            "the least gap of a cron pattern counts: {err}"
        );
        assert!(refused("event = \"sync\"\ncron = \"61 * * * *\"").contains("cron"));
        assert!(refused("event = \"sync\"\nevery = \"soon\"").contains("not a duration"));
        assert!(refused("event = \"sync\"").contains("needs either every or cron"));
        assert!(refused("event = \"application_install\"\nevery = \"1h\"").contains("lifecycle"));
        assert!(
            refused("event = \"s\"\ncron = \"0 9 * * *\"\ntimezone = \"Mars/Olympus\"")
                .contains("unknown time zone")
        );
        let webhook = |toml: &str| {
            let table: WebhookTable = toml::from_str(toml).unwrap();
            table.check("demo.toml")
        };
        let err = webhook("name = \"a\"\nevent = \"e\"\nverify = \"github\"").unwrap_err();
        assert!(err.to_string().contains("needs a secret"), "{err}");
        let err = webhook("name = \"a\"\nevent = \"e\"\nverify = \"hmac\"").unwrap_err();
        assert!(err.to_string().contains("standard-webhooks"), "{err}");
        let err = webhook("name = \"a\"\nevent = \"e\"\nverify = \"github\"\nsecret = \"k\"")
            .unwrap_err();
        assert!(err.to_string().contains("secret:<name>"), "{err}");
        let ok = webhook(
            "name = \"a\"\nevent = \"e\"\nverify = \"stripe\"\nsecret = \"env:STRIPE_KEY\"",
        )
        .unwrap();
        assert_eq!(ok.secret, Some(SecretSource::Env("STRIPE_KEY".into())));
        assert_eq!(ok.rate, Rate::DEFAULT);
        let err = webhook("name = \"a\"\nevent = \"e\"\nrate = \"fast\"").unwrap_err();
        assert!(
            err.to_string().contains("demo.toml: [[webhook]] a: rate"),
            "{err}"
        );
        let err = webhook("name = \"a\"\nevent = \"e\"\norder_by = \"ttn\"").unwrap_err();
        assert!(err.to_string().contains("JSON pointer"), "{err}");
        let ordered =
            webhook("name = \"a\"\nevent = \"e\"\norder_by = \"/ttn\"\nrate = \"2/s\"\nburst = 4")
                .unwrap();
        assert_eq!(ordered.order_by.as_deref(), Some("/ttn"));
        assert_eq!(ordered.rate.burst.get(), 4);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("").is_err());
    }
}
