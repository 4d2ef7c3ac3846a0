//! Schedules and webhooks with replicas on one real PostgreSQL: each due
//! time runs once across them; a replica that stops mid-run loses its
//! lease, its due time is run again elsewhere and its late writes are
//! refused; a delivery sent to two replicas at once runs the app once;
//! deliveries of one `order_by` key sent to two replicas run one at a time.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::replicas::shared_identity;
use crate::schedules::{eventually, seen};
use crate::support::postgres::Postgres;
use crate::support::stub::{Reply, Stub};
use crate::support::{Host, Setup, install, plugin};

fn replica(url: &str, identity: &std::path::Path, sidecar: &str) -> Host {
    Host::start(
        Setup::new()
            .app("recorder", &plugin("recorder"))
            .sidecar(sidecar)
            .store(url)
            .env("KERUJ_IDENTITY", identity.to_str().unwrap())
            .env("KERUJ_MIN_SCHEDULE_INTERVAL", "1s")
            .env("HOOK_SECRET", "replicated secret"),
    )
}

/// (due, attempt) of every scheduled run the recorder stored for `company`.
fn runs(host: &Host, company: &str) -> Vec<(String, u64)> {
    seen(host, "recorder", company)
        .values()
        .map(|run| {
            let schedule = &run["schedule"];
            (
                schedule["due"].as_str().unwrap().to_owned(),
                schedule["attempt"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn three_replicas_run_each_due_time_once() {
    let Some(server) = Postgres::start_or_skip("three_replicas_run_each_due_time_once") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, identity) = (server.new_database(), shared_identity(dir.path()));
    let sidecar = "[[schedule]]\nevent = \"tick\"\nevery = \"1s\"\n";
    let hosts: Vec<Host> = (0..3).map(|_| replica(&url, &identity, sidecar)).collect();
    for company in ["co-rep-s1", "co-rep-s2"] {
        assert_eq!(hosts[0].send("recorder", &install(company)).status, 200);
    }
    for (n, company) in ["co-rep-s1", "co-rep-s2"].into_iter().enumerate() {
        let runs = eventually(Duration::from_secs(90), || {
            let runs = runs(&hosts[n + 1], company);
            (runs.len() >= 8).then_some(runs)
        });
        let dues: HashSet<&String> = runs.iter().map(|(due, _)| due).collect();
        assert_eq!(dues.len(), runs.len(), "a due time ran twice: {runs:?}");
        assert!(runs.iter().all(|(_, attempt)| *attempt == 1), "{runs:?}");
    }
}

#[test]
fn a_run_an_app_scheduled_runs_once_across_replicas() {
    let Some(server) = Postgres::start_or_skip("a_run_an_app_scheduled_runs_once_across_replicas")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, identity) = (server.new_database(), shared_identity(dir.path()));
    let hosts: Vec<Host> = (0..3).map(|_| replica(&url, &identity, "")).collect();
    let company = "co-rep-made";
    assert_eq!(hosts[0].send("recorder", &install(company)).status, 200);
    let made = |n: usize, data: Value| {
        crate::made_at_run_time::call(&hosts[n], company, "schedule", data).unwrap()
    };
    let once = made(
        0,
        json!({"event": "once", "after": "1", "payload": "\"p\""}),
    );
    made(1, json!({"event": "tick", "every": "1s"}));
    let seen_all = eventually(Duration::from_secs(90), || {
        let seen = seen(&hosts[2], "recorder", company);
        (seen.keys().filter(|k| k.starts_with("seen/tick/")).count() >= 6).then_some(seen)
    });
    let ones: Vec<&Value> = seen_all
        .iter()
        .filter(|(key, _)| key.starts_with("seen/once/"))
        .map(|(_, run)| &run["schedule"])
        .collect();
    assert_eq!(ones.len(), 1, "the one-off run ran once: {ones:?}");
    assert_eq!(ones[0]["id"], once);
    let dues: Vec<&Value> = seen_all
        .iter()
        .filter(|(key, _)| key.starts_with("seen/tick/"))
        .map(|(_, run)| &run["schedule"]["due"])
        .collect();
    let distinct: HashSet<String> = dues.iter().map(|due| due.to_string()).collect();
    assert_eq!(distinct.len(), dues.len(), "a due time ran twice: {dues:?}");
}

/// A stub that holds the first request until [`Held::release`]; the others
/// are answered at once.
#[derive(Clone, Default)]
struct Held(Arc<(Mutex<(usize, bool)>, Condvar)>);

impl Held {
    fn stub(&self) -> Stub {
        let held = self.clone();
        Stub::start(move |_| {
            let (lock, wake) = &*held.0;
            let mut state = lock.lock().unwrap();
            state.0 += 1;
            wake.notify_all();
            if state.0 == 1 {
                let _ = wake.wait_timeout_while(state, Duration::from_secs(120), |s| !s.1);
            }
            Reply::json(json!({"ok": true}))
        })
    }

    fn wait_for(&self, requests: usize) {
        let (lock, wake) = &*self.0;
        let state = lock.lock().unwrap();
        let (_state, timeout) = wake
            .wait_timeout_while(state, Duration::from_secs(120), |s| s.0 < requests)
            .unwrap();
        assert!(!timeout.timed_out(), "{requests} request(s) never came");
    }

    fn release(&self) {
        let (lock, wake) = &*self.0;
        lock.lock().unwrap().1 = true;
        wake.notify_all();
    }
}

/// A recorder sidecar whose `slow_sync` runs every 30 s and waits on
/// `stub` first, with this time limit (the lease is twice it, plus 5 s).
fn slow_sidecar(stub: &Stub, timeout_ms: u64) -> String {
    format!(
        "allowed_hosts = [\"{}\"]\ntimeout_ms = {timeout_ms}\nhttp_timeout_ms = {timeout_ms}\n\
         [config]\nwait_url = \"{}\"\n\n[[schedule]]\nevent = \"slow_sync\"\nevery = \"30s\"\n",
        stub.authority(),
        stub.url("/wait")
    )
}

#[test]
fn a_replica_killed_mid_run_has_its_due_time_run_again_after_the_lease() {
    let Some(server) = Postgres::start_or_skip("a_replica_killed_mid_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, identity) = (server.new_database(), shared_identity(dir.path()));
    let held = Held::default();
    let stub = held.stub();
    let mut first = replica(&url, &identity, &slow_sidecar(&stub, 2_000));
    let company = "co-rep-killed";
    assert_eq!(first.send("recorder", &install(company)).status, 200);
    // The first replica claims the next due time, waits on the stub, and dies.
    held.wait_for(1);
    first.kill();
    // The second one's calls go to a stub of their own, answered at once.
    let instant = Stub::start(|_| Reply::json(json!({"ok": true})));
    let second = replica(&url, &identity, &slow_sidecar(&instant, 2_000));
    // Once the lease (2 × 2 s + 5 s) has run out, the due time runs again.
    let retried = eventually(Duration::from_secs(90), || {
        let runs = runs(&second, company);
        (!runs.is_empty()).then_some(runs)
    });
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0].1, 2, "the retry counts its attempt: {retried:?}");
    held.release();
}

#[test]
fn a_run_that_lost_its_lease_cannot_write() {
    let Some(server) = Postgres::start_or_skip("a_run_that_lost_its_lease_cannot_write") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, identity) = (server.new_database(), shared_identity(dir.path()));
    let held = Held::default();
    let stub = held.stub();
    let host = replica(&url, &identity, &slow_sidecar(&stub, 30_000));
    let company = "co-rep-fenced";
    assert_eq!(host.send("recorder", &install(company)).status, 200);
    held.wait_for(1);
    // Mid-run, the claim changes under it, as when another replica takes
    // the due time over (its clock ahead, or this one frozen past the lease).
    let database = url.rsplit('/').next().unwrap();
    let taken = server
        .connect(database)
        .execute(
            "UPDATE keruj_data SET value = value || ' '::bytea \
             WHERE app = 'recorder' AND company = $1 AND key LIKE 'host/schedule/%'",
            &[&company],
        )
        .unwrap();
    assert_eq!(taken, 1, "the run's claim is in the store");
    held.release();
    eventually(Duration::from_secs(60), || {
        host.log().contains("lost its lease").then_some(())
    });
    assert_eq!(runs(&host, company), vec![], "the run stored nothing");
}

#[test]
fn a_delivery_sent_to_two_replicas_at_once_runs_the_app_once() {
    let Some(server) = Postgres::start_or_skip("a_delivery_sent_to_two_replicas_at_once") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, identity) = (server.new_database(), shared_identity(dir.path()));
    let sidecar = "[[webhook]]\nname = \"status\"\nevent = \"np_status\"\n\
                   verify = \"github\"\nsecret = \"env:HOOK_SECRET\"\n";
    let hosts = [
        replica(&url, &identity, sidecar),
        replica(&url, &identity, sidecar),
    ];
    let company = "co-rep-hook";
    assert_eq!(hosts[0].send("recorder", &install(company)).status, 200);
    let show = hosts[0].send("recorder", &crate::support::event("show", company));
    let body: Value =
        serde_json::from_str(show.json()["elements"][0]["label"].as_str().unwrap()).unwrap();
    let url_a = body["webhooks"]["status"].as_str().unwrap().to_owned();
    // The same URL on the other replica: the id is the same everywhere.
    let url_b = url_a.replace(&hosts[0].url(""), &hosts[1].url(""));
    let payload = r#"{"parcel":"1","status":"moving"}"#;
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"replicated secret").unwrap();
        mac.update(payload.as_bytes());
        let bytes = mac.finalize().into_bytes();
        format!(
            "sha256={}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let sends: Vec<_> = [&url_a, &url_b, &url_a, &url_b]
            .into_iter()
            .map(|url| {
                let signature = signature.clone();
                scope.spawn(move || {
                    reqwest::blocking::Client::new()
                        .post(url.as_str())
                        .header("x-hub-signature-256", signature)
                        .header("x-github-delivery", "same-delivery")
                        .body(payload)
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        sends.into_iter().map(|send| send.join().unwrap()).collect()
    });
    // Each answer is the first's (200), or 409 while the first still ran.
    assert!(
        statuses.iter().all(|s| [200, 409].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert_eq!(
        seen(&hosts[1], "recorder", company).len(),
        1,
        "the app ran once"
    );
}

#[test]
fn deliveries_of_one_key_sent_to_two_replicas_run_one_at_a_time() {
    use crate::webhook_limits::{Gate, metric, post};
    let Some(server) = Postgres::start_or_skip("deliveries_of_one_key_sent_to_two_replicas") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, identity) = (server.new_database(), shared_identity(dir.path()));
    let gate = Gate::start();
    let sidecar = format!(
        "allowed_hosts = [\"{addr}\"]\ntimeout_ms = 30000\nhttp_timeout_ms = 30000\n\
         [config]\nwait_url = \"http://{addr}/wait\"\n\n\
         [[webhook]]\nname = \"tracking\"\nevent = \"slow_status\"\norder_by = \"/ttn\"\n",
        addr = gate.addr
    );
    let hosts = [
        replica(&url, &identity, &sidecar),
        replica(&url, &identity, &sidecar),
    ];
    let company = "co-rep-order";
    assert_eq!(hosts[0].send("recorder", &install(company)).status, 200);
    let show = hosts[0].send("recorder", &crate::support::event("show", company));
    let body: Value =
        serde_json::from_str(show.json()["elements"][0]["label"].as_str().unwrap()).unwrap();
    let url_a = body["webhooks"]["tracking"].as_str().unwrap().to_owned();
    let url_b = url_a.replace(&hosts[0].url(""), &hosts[1].url(""));
    let waiting = "keruj_webhook_ordered_waiting{app=\"recorder\"}";
    std::thread::scope(|scope| {
        let send = |url: &str, id: &'static str, ttn: &str| {
            let (url, body) = (url.to_owned(), format!(r#"{{"ttn":"{ttn}"}}"#));
            scope.spawn(move || post(&url, id, &body).0)
        };
        let a1 = send(&url_a, "a1", "204500");
        gate.wait_for("a1");
        // The same parcel on the other replica waits for the first's claim.
        let a2 = send(&url_b, "a2", "204500");
        eventually(Duration::from_secs(30), || {
            (metric(&hosts[1], waiting) == Some(1.0)).then_some(())
        });
        let b1 = send(&url_b, "b1", "999999");
        let arrived = gate.wait_for("b1");
        assert_eq!(
            arrived,
            ["a1", "b1"],
            "a2 waits for a1 on the other replica"
        );
        gate.release("b1");
        assert_eq!(b1.join().unwrap(), 200);
        gate.release("a1");
        assert_eq!(a1.join().unwrap(), 200);
        gate.wait_for("a2");
        gate.release("a2");
        assert_eq!(a2.join().unwrap(), 200);
    });
    assert_eq!(seen(&hosts[0], "recorder", company).len(), 3);
}
