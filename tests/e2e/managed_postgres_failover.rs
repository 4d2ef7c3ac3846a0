//! What a managed PostgreSQL's failover looks like to the host: every
//! connection dropped at once under load, and a server that takes no
//! writes (a standby, or a primary made read-only). Nothing acknowledged is
//! lost, the gap is answered with 503 (never 409 or 500), the uninstall
//! feed subscribes again, and service resumes by itself.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::replicas::{eventually, kv_get, probe, shared_identity};
use crate::support::postgres::Postgres;
use crate::support::{Host, Setup, install, submission};

/// Ends every session of `database` but the caller's; how many it ended.
fn terminate_all(server: &Postgres, database: &str) -> i64 {
    server
        .connect("postgres")
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&database],
        )
        .unwrap()
        .get(0)
}

/// How many sessions of `database` are listening for uninstalls.
fn listeners(server: &Postgres, database: &str) -> i64 {
    server
        .connect("postgres")
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
            &[&database],
        )
        .unwrap()
        .get(0)
}

#[test]
fn every_connection_dropped_under_load_loses_nothing_and_answers_503() {
    let Some(server) = Postgres::start_or_skip("every_connection_dropped_under_load") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.new_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let identity = shared_identity(dir.path());
    let hosts: Vec<Host> = (0..2)
        .map(|_| {
            Host::start(
                Setup::new()
                    .app("probe", &plugin_probe())
                    .store(&url)
                    .env("KERUJ_IDENTITY", identity.to_str().unwrap()),
            )
        })
        .collect();
    assert!(eventually(Duration::from_secs(30), || listeners(
        &server, &database
    ) == 2));
    let urls: Arc<Vec<String>> =
        Arc::new(hosts.iter().map(|h| h.url("/apps/probe/events")).collect());

    // Load: clients install companies and store a value for each; what was
    // acknowledged is recorded, any answer but 200 or 503 is a failure.
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (urls, acknowledged, failures, stop) = (
                urls.clone(),
                acknowledged.clone(),
                failures.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let company = format!("co-failover-{client}-{n}");
                    let value = format!("v-{client}-{n}");
                    let steps = [
                        install(&company),
                        submission(
                            "kv_set",
                            &company,
                            json!({"key": "k", "value": value.clone()}),
                        ),
                    ];
                    let mut all = true;
                    for body in steps {
                        let answer = http
                            .post(&urls[(client + n) % 2])
                            .header("x-keruj-app-token", crate::support::TOKEN)
                            .json(&body)
                            .send();
                        match answer.map(|answer| answer.status().as_u16()) {
                            Ok(200) => {}
                            Ok(503) => {
                                all = false;
                                break;
                            }
                            other => {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{company}: {other:?}"));
                                all = false;
                                break;
                            }
                        }
                    }
                    if all {
                        acknowledged.lock().unwrap().insert((company, value));
                    }
                    n += 1;
                }
            })
        })
        .collect();

    // Every session dropped at once, three times, while the load runs.
    for round in 1..=3 {
        let before = acknowledged.lock().unwrap().len();
        assert!(
            eventually(Duration::from_secs(60), || {
                acknowledged.lock().unwrap().len() >= before + 10
            }),
            "the load does not progress before round {round}"
        );
        assert!(terminate_all(&server, &database) > 0);
    }
    let after = acknowledged.lock().unwrap().len();
    assert!(
        eventually(Duration::from_secs(60), || acknowledged
            .lock()
            .unwrap()
            .len()
            >= after + 10),
        "service did not resume by itself:\n{}",
        hosts[0].log()
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "answers other than 200 or 503: {failures:?}"
    );

    let acknowledged = acknowledged.lock().unwrap().clone();
    for (i, (company, value)) in acknowledged.iter().enumerate() {
        assert_eq!(
            kv_get(&hosts[i % 2], company, "k"),
            Ok(format!("ok: {value}")),
            "{company}: an acknowledged write is lost"
        );
    }

    // Both replicas listen for uninstalls again, and hear them.
    assert!(
        eventually(Duration::from_secs(30), || listeners(&server, &database)
            == 2),
        "the uninstall feed did not subscribe again"
    );
    let (a, b) = (&hosts[0], &hosts[1]);
    let (company, _) = acknowledged.iter().next().unwrap();
    assert!(kv_get(b, company, "k").is_ok());
    let uninstall = a.send(
        "probe",
        &crate::support::event("application_uninstall", company),
    );
    assert_eq!(uninstall.status, 200, "{}", uninstall.body);
    let bound = Duration::from_secs(5) + Duration::from_secs(2);
    assert!(eventually(bound, || kv_get(b, company, "k") == Err(409)));
}

#[test]
fn a_read_only_server_is_refused_for_writes_with_503_and_said_so() {
    let Some(server) = Postgres::start_or_skip("a_read_only_server_is_refused") else {
        return;
    };
    let url = server.new_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let host = Host::start(Setup::new().app("probe", &plugin_probe()).store(&url));
    assert_eq!(host.send("probe", &install("co-ro")).status, 200);
    let set = |value: &str| {
        probe(
            &host,
            "co-ro",
            "kv_set",
            json!({"key": "k", "value": value}),
        )
    };
    assert_eq!(set("before"), Ok("ok: stored".into()));

    // As after a failover to a standby: new sessions are read-only.
    let mut admin = server.connect("postgres");
    let read_only = |on: bool| {
        format!(
            "ALTER DATABASE {database} SET default_transaction_read_only = {}",
            if on { "on" } else { "off" }
        )
    };
    admin.batch_execute(&read_only(true)).unwrap();
    terminate_all(&server, &database);
    assert!(
        eventually(Duration::from_secs(30), || set("during") == Err(503)),
        "a write on a read-only server was not refused with 503:\n{}",
        host.log()
    );
    let answer = host.send(
        "probe",
        &submission("kv_set", "co-ro", json!({"key": "k", "value": "during"})),
    );
    answer.assert_error(503);
    let answer = host.send("probe", &install("co-ro-new"));
    answer.assert_error(503);
    assert!(
        answer.body.contains("store is unreachable"),
        "{}",
        answer.body
    );
    let ready = host.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert!(ready.body.contains("read-only"), "{}", ready.body);
    let log = host.log();
    assert!(
        log.contains("is read-only") && log.contains(&format!("/{database}")),
        "no log line naming the read-only store:\n{log}"
    );
    // What was stored is still read.
    assert_eq!(kv_get(&host, "co-ro", "k"), Ok("ok: before".into()));

    // Writable again (the primary is back): served by itself.
    admin.batch_execute(&read_only(false)).unwrap();
    terminate_all(&server, &database);
    assert!(
        eventually(Duration::from_secs(30), || set("after")
            == Ok("ok: stored".into())),
        "writes did not resume:\n{}",
        host.log()
    );
    assert_eq!(host.get("/readyz").status, 200);
}

fn plugin_probe() -> std::path::PathBuf {
    crate::support::plugin("probe")
}
