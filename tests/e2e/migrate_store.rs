//! `keruj-host migrate-store`: a sled database copied into a real
//! PostgreSQL server, verified, safe to run again, and served from there.

use serde_json::{Value, json};

use crate::support::postgres::Postgres;
use crate::support::{Host, Setup, install, plugin, run_keruj_host, submission};

fn probe(host: &Host, company: &str, name: &str, data: Value) -> String {
    let answer = host.send("probe", &submission(name, company, data));
    assert_eq!(answer.status, 200, "{name}: {}", answer.body);
    answer.json()["elements"][0]["label"]
        .as_str()
        .expect("the probe's info element")
        .to_owned()
}

#[test]
fn a_sled_database_moves_to_postgres_and_serves_from_there() {
    let Some(server) = Postgres::start_or_skip("migrate_store") else {
        return;
    };
    let probe_wasm = plugin("probe");
    let mut old = Host::start(Setup::new().app("probe", &probe_wasm).store("sled"));
    for company in ["co-move-1", "co-move-2"] {
        assert_eq!(old.send("probe", &install(company)).status, 200);
        let value = format!("value of {company}");
        let set = json!({"key": "k", "value": value});
        assert_eq!(probe(&old, company, "kv_set", set), "ok: stored");
    }
    let secret = json!({"name": "np", "value": "np_secret_moved"});
    assert_eq!(probe(&old, "co-move-1", "secret_set", secret), "ok: stored");
    old.stop();

    let url = server.new_database();
    let data = old.data_dir();
    let from = data.to_str().unwrap();
    let migrate = |expect_ok: bool| {
        let (status, output) =
            run_keruj_host(&["migrate-store", "--from", from, "--to", &url], &[]);
        assert_eq!(status.success(), expect_ok, "{output}");
        output
    };
    // 2 installs; entries: 2 API keys, 2 values, 1 secret.
    let first = migrate(true);
    assert!(
        first.contains("copied 2 of 2 installs and 5 of 5 entries"),
        "{first}"
    );
    assert!(
        !first.contains("keruj@"),
        "the URL's user is shown: {first}"
    );
    let again = migrate(true);
    assert!(
        again.contains("copied 0 of 2 installs and 0 of 5 entries"),
        "{again}"
    );

    // Ciphertexts are copied as they are: the same bytes in both stores.
    let sled_values = old.db_entries();
    let mut client = server.connect(url.rsplit('/').next().unwrap());
    for row in client
        .query("SELECT value FROM keruj_credentials", &[])
        .unwrap()
    {
        let value: Vec<u8> = row.get(0);
        assert!(value.starts_with(b"age-encryption.org/v1"));
        assert!(
            sled_values.contains(&value),
            "a credential was re-encrypted"
        );
    }

    // A host on PostgreSQL with the same identity serves the moved data.
    let identity = data.join("identity.txt");
    let new = Host::start(
        Setup::new()
            .app("probe", &probe_wasm)
            .store(&url)
            .env("KERUJ_IDENTITY", identity.to_str().unwrap()),
    );
    for company in ["co-move-1", "co-move-2"] {
        let got = probe(&new, company, "kv_get", json!({"key": "k"}));
        assert_eq!(got, format!("ok: value of {company}"));
    }
    let got = probe(&new, "co-move-1", "secret_get", json!({"name": "np"}));
    assert_eq!(got, "ok: np_secret_moved");
    // New installs get generations of their own.
    assert_eq!(new.send("probe", &install("co-move-3")).status, 200);
    drop(new);

    // A target that was changed since: refused, named, nothing changed.
    client
        .execute(
            "UPDATE keruj_data SET value = 'changed' WHERE company = 'co-move-2'",
            &[],
        )
        .unwrap();
    let refused = migrate(false);
    assert!(
        refused.contains("already holds other values for 1"),
        "{refused}"
    );
    assert!(refused.contains("co-move-2"), "{refused}");
}
