//! Sidecar schedules (`[[schedule]]`): the host delivers the event to every
//! company that has the app installed, on its own, with the contract's body;
//! a failing run is retried with `attempt` counted; a schedule more often
//! than `--min-schedule-interval` refuses the app, saying why.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::support::{Host, Setup, event, install, plugin, submission};

/// What the recorder stored under `seen/` for `company`: key → body.
pub fn seen(host: &Host, app: &str, company: &str) -> Map<String, Value> {
    let answer = host.send(app, &submission("dump", company, json!({})));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = answer.json()["elements"][0]["label"]
        .as_str()
        .expect("the recorder's info element")
        .to_owned();
    match serde_json::from_str(&text).expect("the recorder shows JSON") {
        Value::Object(seen) => seen,
        other => panic!("not an object: {other}"),
    }
}

/// Polls until `check` holds, for at most `limit`: the bound the host
/// promises (not a speed); a run that never comes fails here.
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn recorder_with(sidecar: &str) -> Setup {
    Setup::new()
        .app("recorder", &plugin("recorder"))
        .sidecar(sidecar)
        .env("KERUJ_MIN_SCHEDULE_INTERVAL", "1s")
}

#[test]
fn every_installed_company_gets_its_runs_with_the_contract_body() {
    let host = Host::start(recorder_with(
        "[[schedule]]\nevent = \"tick\"\nevery = \"2s\"\n",
    ));
    for company in ["co-sched-1", "co-sched-2"] {
        assert_eq!(host.send("recorder", &install(company)).status, 200);
    }
    for company in ["co-sched-1", "co-sched-2"] {
        let runs = eventually(Duration::from_secs(60), || {
            let runs = seen(&host, "recorder", company);
            (runs.len() >= 2).then_some(runs)
        });
        let first = &runs["seen/tick/0"];
        assert_eq!(first["event"], "tick");
        assert_eq!(first["company_id"], company);
        assert_eq!(first["account_id"], install(company)["account_id"]);
        assert_eq!(first["schedule"]["event"], "tick");
        assert_eq!(first["schedule"]["attempt"], 1);
        let due = |run: &Value| -> jiff::Timestamp {
            run["schedule"]["due"]
                .as_str()
                .expect("due is text")
                .parse()
                .expect("RFC 3339")
        };
        assert!(
            first["schedule"]["due"].as_str().unwrap().ends_with('Z'),
            "{first}"
        );
        let gap = due(&runs["seen/tick/1"]).duration_since(due(first));
        assert_eq!(
            gap,
            jiff::SignedDuration::from_secs(2),
            "one run per due time: {runs:?}"
        );
    }
    // A company that never installed the app has no runs: Keruj's own
    // events for it are refused, so nothing could have been stored.
    assert_eq!(
        host.send("recorder", &event("dump", "co-sched-none"))
            .status,
        409
    );
}

#[test]
fn uninstall_stops_the_runs() {
    let host = Host::start(recorder_with(
        "[[schedule]]\nevent = \"tick\"\nevery = \"1s\"\n",
    ));
    assert_eq!(host.send("recorder", &install("co-sched-3")).status, 200);
    eventually(Duration::from_secs(60), || {
        (!seen(&host, "recorder", "co-sched-3").is_empty()).then_some(())
    });
    let runs = || scheduled_runs(&host);
    assert!(runs() > 0, "the runs are counted in the metrics");
    assert_eq!(
        host.send("recorder", &event("application_uninstall", "co-sched-3"))
            .status,
        200
    );
    // The bound: one tick of the scheduler plus a run in flight, which its
    // time limit (timeout_ms, 5 s by default) ends.
    std::thread::sleep(Duration::from_secs(6));
    let after_uninstall = runs();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(runs(), after_uninstall, "runs went on after the uninstall");
}

/// Scheduled runs handled so far, from the admin listener's metrics.
fn scheduled_runs(host: &Host) -> u64 {
    let metrics = host.get_admin("/metrics").body;
    metrics
        .lines()
        .filter(|line| {
            line.starts_with("keruj_events_total{") && line.contains("class=\"scheduled\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn a_failing_run_is_retried_with_its_attempt_counted_then_given_up() {
    // The period leaves room for the retries (1 s, 2 s, 4 s, 8 s apart):
    // a newer due time would take their place.
    let host = Host::start(recorder_with(
        "[[schedule]]\nevent = \"fail_sync\"\nevery = \"40s\"\n",
    ));
    assert_eq!(host.send("recorder", &install("co-sched-4")).status, 200);
    let runs = eventually(Duration::from_secs(120), || {
        let runs = seen(&host, "recorder", "co-sched-4");
        (runs.len() >= 5).then_some(runs)
    });
    let attempts: Vec<&Value> = (0..5)
        .map(|n| &runs[&format!("seen/fail_sync/{n}")])
        .collect();
    for (n, run) in attempts.iter().enumerate() {
        assert_eq!(run["schedule"]["attempt"], n as u64 + 1, "{run}");
        assert_eq!(
            run["schedule"]["due"], attempts[0]["schedule"]["due"],
            "one due time, tried again"
        );
    }
    // Given up after the fifth: the next run is the next due time's first try.
    std::thread::sleep(Duration::from_secs(2));
    let later = seen(&host, "recorder", "co-sched-4");
    if let Some(sixth) = later.get("seen/fail_sync/5") {
        assert_eq!(sixth["schedule"]["attempt"], 1, "{sixth}");
        assert_ne!(sixth["schedule"]["due"], attempts[0]["schedule"]["due"]);
    }
    // Recorded as failed once the last backoff has passed.
    eventually(Duration::from_secs(60), || {
        host.log()
            .contains("given up until its next due time")
            .then_some(())
    });
    let metrics = host.get_admin("/metrics").body;
    for line in [
        "keruj_schedule_retries_total{app=\"recorder\"} 4",
        "keruj_schedule_failures_total{app=\"recorder\"} 1",
        "keruj_schedule_lag_seconds_count{app=\"recorder\"} 5",
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
}

#[test]
fn a_schedule_more_often_than_the_minimum_refuses_the_app_saying_why() {
    let host = Host::start(
        Setup::new()
            .app("recorder", &plugin("recorder"))
            .sidecar("[[schedule]]\nevent = \"tick\"\nevery = \"30s\"\n"),
    );
    let health = host.get("/apps/recorder/health");
    assert_eq!(health.status, 503, "{}", health.body);
    let problem = health.json()["problem"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        problem.contains("--min-schedule-interval") && problem.contains("30s"),
        "{problem}"
    );

    let host = Host::start(Setup::new().app("recorder", &plugin("recorder")).sidecar(
        "[[schedule]]\nevent = \"tick\"\ncron = \"0 9 * * *\"\ntimezone = \"Europe/Atlantis\"\n",
    ));
    let problem = host.get("/apps/recorder/health").json()["problem"].to_string();
    assert!(
        problem.contains("unknown time zone") && problem.contains("Europe/Atlantis"),
        "{problem}"
    );
}
