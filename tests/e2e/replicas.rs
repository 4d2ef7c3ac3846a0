//! Three `keruj-host serve` processes on one real PostgreSQL server: the
//! lifecycle spread over them, one killed with SIGKILL under load, the
//! database stopped and started again. Nothing acknowledged is lost, and no
//! error reaches Keruj beyond the stated ones (requests in flight on the
//! killed replica; 503 while the database is down).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::support::postgres::Postgres;
use crate::support::{Host, Setup, event, install, plugin, submission};

/// What the probe showed for an event (its info element), or the status.
pub(crate) fn probe(host: &Host, company: &str, name: &str, data: Value) -> Result<String, u16> {
    let answer = host.send("probe", &submission(name, company, data));
    match answer.status {
        200 => Ok(answer.json()["elements"][0]["label"]
            .as_str()
            .expect("the probe's info element")
            .to_owned()),
        status => Err(status),
    }
}

pub(crate) fn kv_get(host: &Host, company: &str, key: &str) -> Result<String, u16> {
    probe(host, company, "kv_get", json!({ "key": key }))
}

/// Three replicas of the probe app on `url`, sharing one identity file.
fn replicas(url: &str, identity: &Path) -> Vec<Host> {
    (0..3)
        .map(|_| {
            Host::start(
                Setup::new()
                    .app("probe", &plugin("probe"))
                    .store(url)
                    .env("KERUJ_IDENTITY", identity.to_str().unwrap()),
            )
        })
        .collect()
}

pub(crate) fn shared_identity(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("identity.txt");
    let identity = age::x25519::Identity::generate();
    std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    path
}

/// Polls `check` until it holds, for at most `limit` (the bound the host
/// promises, not a speed: a replica that never catches up fails here).
pub(crate) fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn replicas_share_installs_data_and_uninstalls() {
    let Some(server) = Postgres::start_or_skip("replicas_share_installs_data_and_uninstalls")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.new_database();
    let hosts = replicas(&url, &shared_identity(dir.path()));
    let (a, b, c) = (&hosts[0], &hosts[1], &hosts[2]);
    let company = "co-replicas-1";

    // Installed on one, served by the others at once.
    assert_eq!(a.send("probe", &install(company)).status, 200);
    let metrics = a.get_admin("/metrics").body;
    for line in [
        r#"keruj_store_operation_duration_seconds_count{store="postgres",op="install"} 1"#,
        r#"keruj_store_pool_connections{state="max"} 16"#,
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
    let set = json!({"key": "city", "value": "Kyiv"});
    assert_eq!(probe(b, company, "kv_set", set), Ok("ok: stored".into()));
    assert_eq!(kv_get(c, company, "city"), Ok("ok: Kyiv".into()));
    let secret = json!({"name": "np", "value": "np_secret_replicated"});
    assert_eq!(
        probe(c, company, "secret_set", secret),
        Ok("ok: stored".into())
    );
    assert_eq!(
        probe(a, company, "secret_get", json!({"name": "np"})),
        Ok("ok: np_secret_replicated".into())
    );

    // Every replica has the install in its memory now; uninstalled on one,
    // every other one answers 409 within the bound the host states.
    for host in [a, b, c] {
        assert!(kv_get(host, company, "city").is_ok());
    }
    let acknowledged = Instant::now();
    let uninstall = b.send("probe", &event("application_uninstall", company));
    assert_eq!(uninstall.status, 200, "{}", uninstall.body);
    assert_eq!(
        kv_get(b, company, "city"),
        Err(409),
        "the uninstalling replica"
    );
    let bound = Duration::from_secs(5) + Duration::from_secs(2);
    for host in [a, c] {
        assert!(
            eventually(bound, || kv_get(host, company, "city") == Err(409)),
            "a replica still serves the uninstalled company after {:?}",
            acknowledged.elapsed()
        );
    }
    // A write after the uninstall lands nowhere.
    let late = json!({"key": "late", "value": "v"});
    assert_eq!(probe(a, company, "kv_set", late), Err(409));

    // Installed again on another replica: a clean slate, seen everywhere.
    assert_eq!(c.send("probe", &install(company)).status, 200);
    assert_eq!(kv_get(a, company, "city"), Ok("ok: <none>".into()));
    let mut client = server.connect(url.rsplit('/').next().unwrap());
    let rows: i64 = client
        .query_one(
            "SELECT count(*) FROM keruj_data WHERE company = $1",
            &[&company],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "data of the uninstalled install survived");
}

#[test]
fn a_killed_replica_and_a_database_outage_lose_nothing_acknowledged() {
    let Some(server) = Postgres::start_or_skip("a_killed_replica_and_a_database_outage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.new_database();
    let mut hosts = replicas(&url, &shared_identity(dir.path()));
    let urls: Arc<Vec<String>> = Arc::new(
        hosts
            .iter()
            .map(|host| host.url("/apps/probe/events"))
            .collect(),
    );

    // Load: 4 clients each install companies and store a value for each,
    // round-robin over the replicas; what was acknowledged is recorded.
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (urls, acknowledged, failures, stop, killed) = (
                urls.clone(),
                acknowledged.clone(),
                failures.clone(),
                stop.clone(),
                killed.clone(),
            );
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let replica = (client + n) % 3;
                    // Replica 2 is the one killed: what it was doing is in flight.
                    let on_victim = replica == 2;
                    if on_victim && killed.load(std::sync::atomic::Ordering::Relaxed) {
                        n += 1;
                        continue;
                    }
                    let company = format!("co-load-{client}-{n}");
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
                        let sent = http
                            .post(&urls[replica])
                            .header("x-keruj-app-token", crate::support::TOKEN)
                            .json(&body)
                            .send();
                        match sent {
                            Ok(answer) if answer.status() == 200 => {}
                            Ok(answer) if !on_victim => {
                                failures.lock().unwrap().push(format!(
                                    "{company} on replica {replica}: {}",
                                    answer.status()
                                ));
                                all = false;
                                break;
                            }
                            Err(error) if !on_victim => {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{company} on replica {replica}: {error}"));
                                all = false;
                                break;
                            }
                            _ => {
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

    // Kill replica 2 once the load is under way.
    assert!(eventually(Duration::from_secs(60), || {
        acknowledged.lock().unwrap().len() >= 20
    }));
    hosts[2].signal(libc::SIGKILL);
    killed.store(true, std::sync::atomic::Ordering::Relaxed);
    let at_kill = acknowledged.lock().unwrap().len();
    assert!(eventually(Duration::from_secs(60), || {
        acknowledged.lock().unwrap().len() >= at_kill + 20
    }));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    hosts[2].wait_exit();
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "the surviving replicas failed requests: {failures:?}"
    );

    // Every acknowledged value is there, read through the survivors.
    let acknowledged = acknowledged.lock().unwrap().clone();
    for (i, (company, value)) in acknowledged.iter().enumerate() {
        let reader = &hosts[i % 2];
        assert_eq!(
            kv_get(reader, company, "k"),
            Ok(format!("ok: {value}")),
            "{company}: an acknowledged write is lost"
        );
    }

    // The database down: 503 with a clear error, never 409, and /readyz says so.
    let (a, b) = (&hosts[0], &hosts[1]);
    let (known, _) = acknowledged.iter().next().unwrap();
    server.stop().unwrap();
    for host in [a, b] {
        let answer = host.send("probe", &install("co-outage-new"));
        answer.assert_error(503);
        assert!(
            answer.body.contains("store is unreachable"),
            "{}",
            answer.body
        );
        let answer = host.send("probe", &submission("kv_get", known, json!({"key": "k"})));
        answer.assert_error(503);
        let ready = host.get("/readyz");
        assert_eq!(ready.status, 503, "{}", ready.body);
        assert!(ready.body.contains("store"), "{}", ready.body);
        assert_eq!(host.get("/healthz").status, 200, "the process is alive");
    }

    for host in [a, b] {
        let metrics = host.get_admin("/metrics").body;
        let line = r#"keruj_store_errors_total{store="postgres",op="install"} 1"#;
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }

    // Back by itself once the database is.
    server.start_again().unwrap();
    for host in [a, b] {
        assert!(
            eventually(Duration::from_secs(30), || host.get("/readyz").status
                == 200),
            "not ready again after the database came back:\n{}",
            host.log()
        );
        assert_eq!(
            kv_get(host, known, "k").map(|s| s.starts_with("ok: v-")),
            Ok(true)
        );
    }
    assert_eq!(a.send("probe", &install("co-outage-new")).status, 200);
    assert_eq!(
        kv_get(b, "co-outage-new", "k"),
        Ok("ok: <none>".into()),
        "an install after the outage is served by the other replica"
    );
}

#[test]
fn a_newer_schema_or_another_identity_stops_the_start() {
    let Some(server) = Postgres::start_or_skip("a_newer_schema_or_another_identity") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.new_database();
    let identity = shared_identity(dir.path());
    let setup = || {
        Setup::new()
            .app("probe", &plugin("probe"))
            .store(&url)
            .env("KERUJ_IDENTITY", identity.to_str().unwrap())
    };
    let mut first = Host::start(setup());
    assert_eq!(first.send("probe", &install("co-schema-1")).status, 200);
    first.stop();

    // A replica given another identity: refused before it writes anything.
    let other = dir.path().join("other.txt");
    std::fs::write(
        &other,
        format!(
            "{}\n",
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret()
        ),
    )
    .unwrap();
    first.set_env("KERUJ_IDENTITY", other.to_str().unwrap());
    let (status, output) = first.start_refused();
    assert!(!status.success(), "{output}");
    assert!(output.contains("does not decrypt"), "{output}");
    assert!(output.contains("same identity file"), "{output}");
    assert!(
        !output.contains("keruj@"),
        "the store URL's user is shown: {output}"
    );
    first.set_env("KERUJ_IDENTITY", identity.to_str().unwrap());

    // A database migrated by a newer keruj-host: refused, left as it is.
    let mut client = server.connect(url.rsplit('/').next().unwrap());
    client
        .execute("UPDATE keruj_schema SET version = 99", &[])
        .unwrap();
    let (status, output) = first.start_refused();
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("schema is version 99, newer than this keruj-host knows"),
        "{output}"
    );
    let version: i32 = client
        .query_one("SELECT version FROM keruj_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, 99);
    client
        .execute("UPDATE keruj_schema SET version = 1", &[])
        .unwrap();
    first.start_again();
    let answer = first.send(
        "probe",
        &submission("kv_get", "co-schema-1", json!({"key": "k"})),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
}
