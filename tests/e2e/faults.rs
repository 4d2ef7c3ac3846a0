//! A misbehaving plugin (`tests/plugins/faulty`) fails its own request and
//! nothing else: Keruj gets a clean error, other apps go on serving.

use std::time::{Duration, Instant};

use crate::support::{Host, Setup, event, faulty, hello, install};

/// Panic, trap, error, bad reply and memory hog: 500; endless loop: 504.
const FAULTS: [(&str, u16); 6] = [
    ("panic", 500),
    ("trap", 500),
    ("fail", 500),
    ("bad_reply", 500),
    ("loop", 504),
    ("alloc", 500),
];

#[test]
fn plugin_failures_are_contained() {
    let host = Host::start(
        Setup::new()
            .app("hello", hello())
            .app("faulty", faulty())
            .sidecar("timeout_ms = 500\nmemory_mb = 32\n"),
    );
    let company = "co-faults-1";
    for app in ["hello", "faulty"] {
        let answer = host.send(app, &install(company));
        assert_eq!(answer.status, 200, "install {app}: {}", answer.body);
    }

    for (fault, status) in FAULTS {
        let started = Instant::now();
        let answer = host.send("faulty", &event(fault, company));
        assert_eq!(answer.status, status, "{fault}: {}", answer.body);
        answer.assert_error(status);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{fault} took {:?}",
            started.elapsed()
        );
        for leak in [
            "panicked",
            "backtrace",
            ".rs:",
            "faulty fails as asked",
            "faulty panics",
        ] {
            assert!(
                !answer.body.contains(leak),
                "{fault}: the body shows {leak:?}: {}",
                answer.body
            );
        }

        let form = host.send("hello", &event("application_configure", company));
        assert_eq!(form.status, 200, "hello after {fault}: {}", form.body);
    }

    let log = host.log();
    assert!(
        log.contains("faulty"),
        "the log does not name the app:\n{log}"
    );
    assert!(
        log.contains("faulty fails as asked"),
        "the plugin's error is not logged:\n{log}"
    );
    let health = host.get("/apps/faulty/health");
    assert_eq!(
        health.status, 200,
        "faulty's health after its faults: {}",
        health.body
    );
}
