//! A managed-style PostgreSQL: a real server accepting TLS only (`ssl=on`,
//! `hostssl` in pg_hba.conf) with a certificate from a CA the test makes,
//! and a real PgBouncer in transaction mode in front of it. The host serves
//! with `sslmode=verify-full`; a certificate that does not verify (another
//! CA, another host name) or no TLS at all stops the start, saying why.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::replicas::{eventually, kv_get, probe, shared_identity};
use crate::support::pgbouncer::Pgbouncer;
use crate::support::postgres::{Postgres, TestCa};
use crate::support::{Host, Setup, event, install, plugin};

/// `postgres://keruj@localhost:PORT/DB?…`, reached at 127.0.0.1 (`hostaddr`)
/// so that the certificate is checked for `localhost`.
fn localhost_url(port: u16, database: &str, params: &str) -> String {
    format!("postgres://keruj@localhost:{port}/{database}?hostaddr=127.0.0.1&{params}")
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// How many of the server's sessions for `database` are encrypted, and in all.
fn sessions(server: &Postgres, database: &str) -> (i64, i64) {
    let row = server
        .connect("postgres")
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
            &[&database],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn verify_full_serves_and_a_certificate_that_does_not_verify_stops_the_start() {
    let ca = TestCa::new(&["localhost"]);
    let Some(server) = Postgres::start_tls_or_skip("verify_full_serves", &ca) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = write(dir.path(), "ca.pem", &ca.ca_pem);
    let other_root = write(
        dir.path(),
        "other-ca.pem",
        &TestCa::new(&["localhost"]).ca_pem,
    );
    let url = server.new_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let port = server.port();

    let verified = localhost_url(
        port,
        &database,
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let mut host = Host::start(Setup::new().app("probe", &plugin("probe")).store(&verified));
    assert_eq!(host.send("probe", &install("co-tls")).status, 200);
    let set = json!({"key": "city", "value": "Lviv"});
    assert_eq!(
        probe(&host, "co-tls", "kv_set", set),
        Ok("ok: stored".into())
    );
    assert_eq!(kv_get(&host, "co-tls", "city"), Ok("ok: Lviv".into()));
    let (encrypted, all) = sessions(&server, &database);
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} sessions encrypted"
    );
    host.stop();

    // Each refused before serving, the certificate named as the reason.
    let refused = [
        (
            "another CA",
            localhost_url(
                port,
                &database,
                &format!("sslmode=verify-full&sslrootcert={other_root}"),
            ),
            "TLS certificate was refused",
        ),
        (
            "another host name",
            format!(
                "postgres://keruj@127.0.0.1:{port}/{database}?sslmode=verify-full&sslrootcert={root}"
            ),
            "TLS certificate was refused",
        ),
        (
            "require with another CA's root file (libpq: verify-ca)",
            localhost_url(
                port,
                &database,
                &format!("sslmode=require&sslrootcert={other_root}"),
            ),
            "TLS certificate was refused",
        ),
        (
            "no TLS",
            format!("postgres://keruj@127.0.0.1:{port}/{database}?sslmode=disable"),
            "no encryption",
        ),
    ];
    for (case, url, reason) in refused {
        host.set_env("KERUJ_STORE", &url);
        let (status, output) = host.start_refused();
        assert!(!status.success(), "{case}: {output}");
        assert!(
            output.contains(reason),
            "{case}: no {reason:?} in:\n{output}"
        );
        assert!(
            output.contains("cannot reach the store"),
            "{case}: {output}"
        );
    }

    // verify-ca checks the chain, not the name: 127.0.0.1 is served.
    let chain_only = format!(
        "postgres://keruj@127.0.0.1:{port}/{database}?sslmode=verify-ca&sslrootcert={root}"
    );
    host.set_env("KERUJ_STORE", &chain_only);
    host.start_again();
    assert_eq!(kv_get(&host, "co-tls", "city"), Ok("ok: Lviv".into()));
}

#[test]
fn replicas_behind_pgbouncer_share_the_lifecycle_and_uninstalls() {
    let ca = TestCa::new(&["localhost"]);
    let Some(server) = Postgres::start_tls_or_skip("replicas_behind_pgbouncer", &ca) else {
        return;
    };
    server.write_owned("ca.pem", &ca.ca_pem).unwrap();
    let Some(bouncer) = Pgbouncer::start_or_skip("replicas_behind_pgbouncer", &server, true) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = write(dir.path(), "ca.pem", &ca.ca_pem);
    let url = server.new_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let tls = format!("sslmode=verify-full&sslrootcert={root}");
    let pooled = localhost_url(bouncer.port(), &database, &format!("{tls}&pool_size=4"));
    let direct = localhost_url(server.port(), &database, &tls);
    let identity = shared_identity(dir.path());
    let replica = || {
        Host::start(
            Setup::new()
                .app("probe", &plugin("probe"))
                .store(&pooled)
                .env("KERUJ_STORE_DIRECT", &direct)
                .env("KERUJ_IDENTITY", identity.to_str().unwrap()),
        )
    };
    let (a, b) = (replica(), replica());
    let company = "co-bouncer-1";

    assert_eq!(a.send("probe", &install(company)).status, 200);
    let set = json!({"key": "city", "value": "Odesa"});
    assert_eq!(probe(&b, company, "kv_set", set), Ok("ok: stored".into()));
    assert_eq!(kv_get(&a, company, "city"), Ok("ok: Odesa".into()));
    let secret = json!({"name": "np", "value": "np_secret_pooled"});
    assert_eq!(
        probe(&a, company, "secret_set", secret),
        Ok("ok: stored".into())
    );
    assert_eq!(
        probe(&b, company, "secret_get", json!({"name": "np"})),
        Ok("ok: np_secret_pooled".into())
    );
    // Many events on few pooled connections: no statement needs a session.
    for n in 0..40 {
        let key = format!("k{n}");
        let set = json!({"key": key, "value": format!("v{n}")});
        let host = [&a, &b][n % 2];
        assert_eq!(probe(host, company, "kv_set", set), Ok("ok: stored".into()));
        assert_eq!(
            kv_get([&b, &a][n % 2], company, &key),
            Ok(format!("ok: v{n}"))
        );
    }

    // Both replicas remember the install; uninstalled on one, the other
    // refuses within the bound the host states (the LISTEN is direct).
    assert!(kv_get(&a, company, "city").is_ok() && kv_get(&b, company, "city").is_ok());
    let acknowledged = Instant::now();
    let uninstall = b.send("probe", &event("application_uninstall", company));
    assert_eq!(uninstall.status, 200, "{}", uninstall.body);
    let bound = Duration::from_secs(5) + Duration::from_secs(2);
    assert!(
        eventually(bound, || kv_get(&a, company, "city") == Err(409)),
        "the other replica still serves the uninstalled company after {:?}",
        acknowledged.elapsed()
    );
    assert_eq!(a.send("probe", &install(company)).status, 200);
    assert_eq!(kv_get(&b, company, "city"), Ok("ok: <none>".into()));

    // The pooler served the replicas' TLS connections; the database's
    // sessions are all encrypted (the pooler's and the direct ones).
    let log = bouncer.log();
    assert!(
        log.contains("tls=TLS"),
        "no TLS login in the pooler's log:\n{log}"
    );
    let (encrypted, all) = sessions(&server, &database);
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} sessions encrypted"
    );
}
