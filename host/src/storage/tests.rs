//! The storage API on the embedded store (the PostgreSQL store runs the same
//! lifecycle end to end: `tests/e2e/replicas.rs`).

use super::sled_store::raw_scope;
use super::*;

fn open(dir: &Path) -> Storage {
    Storage::open(&dir.join("data"), &dir.join("data/identity.txt")).unwrap()
}

async fn install(storage: &Storage, app: &str, company: &str, key: &str) -> Generation {
    let record = Install {
        account_id: "acc".into(),
        installed_at: 1,
    };
    storage
        .install(Tenant::new(app, company), &record, key)
        .await
        .unwrap()
}

/// The storage API and, beside it, the sled database underneath.
fn open_raw(dir: &Path) -> (Storage, sled::Db) {
    Storage::open_raw(&dir.join("data"), &dir.join("data/identity.txt"))
}

#[tokio::test]
async fn install_is_found_and_key_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let generation = install(&storage, "hello", "co1", "kj_live_1").await;
    let found = storage
        .find_install(Tenant::new("hello", "co1"))
        .await
        .unwrap();
    assert_eq!(found.unwrap().account_id, "acc");
    let key = storage.api_key(Tenant::new("hello", "co1")).await.unwrap();
    assert_eq!(key.as_deref(), Some("kj_live_1"));
    assert!(
        storage
            .find_install(Tenant::new("hello", "co2"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        storage
            .is_installed(Tenant::new("hello", "co1"))
            .await
            .unwrap()
    );
    assert!(
        !storage
            .is_installed(Tenant::new("hello", "co2"))
            .await
            .unwrap()
    );
    assert!(
        storage
            .find_install(Tenant::new("other", "co1"))
            .await
            .unwrap()
            .is_none()
    );
    storage
        .set_api_key(Tenant::new("hello", "co1"), generation, "kj_live_2")
        .await
        .unwrap()
        .unwrap();
    let key = storage.api_key(Tenant::new("hello", "co1")).await.unwrap();
    assert_eq!(key.as_deref(), Some("kj_live_2"));
}

#[tokio::test]
async fn uninstall_removes_only_that_company() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, db) = open_raw(dir.path());
    install(&storage, "hello", "co", "k1").await;
    // A company whose id extends the other's must not be caught by its prefix.
    install(&storage, "hello", "co2", "k2").await;
    let data = db.open_tree("data").unwrap();
    let scope = raw_scope("hello", "co");
    data.insert([scope.as_slice(), b"x"].concat(), b"1".as_slice())
        .unwrap();
    assert!(storage.uninstall(Tenant::new("hello", "co")).await.unwrap());
    assert!(
        !storage.uninstall(Tenant::new("hello", "co")).await.unwrap(),
        "nothing left"
    );
    assert!(
        storage
            .find_install(Tenant::new("hello", "co"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        storage
            .api_key(Tenant::new("hello", "co"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(data.scan_prefix(&scope).next().is_none());
    let kept = storage.api_key(Tenant::new("hello", "co2")).await.unwrap();
    assert_eq!(kept.as_deref(), Some("k2"));
}

#[tokio::test]
async fn generations_refuse_writes_for_an_install_that_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    let first = install(&storage, "hello", "co", "k1").await;
    assert_eq!(
        storage
            .generation(Tenant::new("hello", "co"))
            .await
            .unwrap(),
        Some(first)
    );
    // Installing again keeps the generation: events in flight may still write.
    assert_eq!(install(&storage, "hello", "co", "k2").await, first);
    storage.uninstall(Tenant::new("hello", "co")).await.unwrap();
    assert_eq!(
        storage
            .generation(Tenant::new("hello", "co"))
            .await
            .unwrap(),
        None
    );
    let refused = storage
        .set_api_key(Tenant::new("hello", "co"), first, "k3")
        .await;
    assert_eq!(refused.unwrap(), Err(Uninstalled));
    let second = install(&storage, "hello", "co", "k4").await;
    assert_ne!(second, first, "a new install is a new generation");
    // The install check (answered from memory once read) follows each change.
    assert_eq!(
        storage
            .generation(Tenant::new("hello", "co"))
            .await
            .unwrap(),
        Some(second)
    );
    let refused = storage
        .set_api_key(Tenant::new("hello", "co"), first, "k5")
        .await;
    assert_eq!(refused.unwrap(), Err(Uninstalled));
    let key = storage.api_key(Tenant::new("hello", "co")).await.unwrap();
    assert_eq!(key.as_deref(), Some("k4"));
}

#[tokio::test]
async fn a_record_from_before_generations_is_generation_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, db) = open_raw(dir.path());
    let old = br#"{"account_id":"acc","installed_at":1}"#;
    db.open_tree("installs")
        .unwrap()
        .insert(raw_scope("hello", "co"), old.as_slice())
        .unwrap();
    assert_eq!(
        storage
            .generation(Tenant::new("hello", "co"))
            .await
            .unwrap(),
        Some(Generation(0))
    );
    let found = storage
        .find_install(Tenant::new("hello", "co"))
        .await
        .unwrap();
    assert_eq!(found.unwrap().account_id, "acc");
    assert_eq!(install(&storage, "hello", "co", "k").await, Generation(0));
}

#[tokio::test]
async fn a_new_install_starts_clean_after_an_interrupted_uninstall() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, db) = open_raw(dir.path());
    let first = install(&storage, "hello", "co", "k1").await;
    assert_eq!(
        storage
            .generation(Tenant::new("hello", "co"))
            .await
            .unwrap(),
        Some(first)
    );
    // An uninstall that removed the record and stopped before the data.
    let scope = raw_scope("hello", "co");
    db.open_tree("installs").unwrap().remove(&scope).unwrap();
    let data = db.open_tree("data").unwrap();
    data.insert([scope.as_slice(), b"kv/left"].concat(), b"1".as_slice())
        .unwrap();
    let second = install(&storage, "hello", "co", "k2").await;
    assert!(data.scan_prefix(&scope).next().is_none());
    // Not the generation remembered from before the interruption.
    assert_eq!(
        storage
            .generation(Tenant::new("hello", "co"))
            .await
            .unwrap(),
        Some(second)
    );
}

#[tokio::test]
async fn survives_reopen_and_refuses_a_foreign_identity() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path());
        install(&storage, "hello", "co", "kj_live_1").await;
        storage.flush().await.unwrap();
    }
    let key = open(dir.path())
        .api_key(Tenant::new("hello", "co"))
        .await
        .unwrap();
    assert_eq!(key.as_deref(), Some("kj_live_1"));

    let other = dir.path().join("other-identity.txt");
    Vault::open(&other, true).unwrap();
    let err = Storage::open(&dir.path().join("data"), &other)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("does not decrypt"), "{err:#}");

    let missing = dir.path().join("missing.txt");
    let err = Storage::open(&dir.path().join("data"), &missing)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("is missing"), "{err:#}");
}

#[test]
fn store_locations_are_sled_or_postgres_urls() {
    assert!(matches!("sled".parse(), Ok(StoreLocation::Sled)));
    assert!(matches!(
        "postgres://keruj@localhost/keruj".parse(),
        Ok(StoreLocation::Postgres(_))
    ));
    let err = "mysql://root:hunter2@db/keruj"
        .parse::<StoreLocation>()
        .unwrap_err();
    assert!(format!("{err}").contains("expected `sled` or a `postgres://` URL"));
    assert!(!format!("{err}").contains("hunter2"), "{err}");
    let direct = Some("postgres://keruj@db-primary/keruj");
    assert!(matches!(
        StoreLocation::parse_with_direct("postgres://keruj@bouncer/keruj", direct),
        Ok(StoreLocation::Postgres(_))
    ));
    let err = StoreLocation::parse_with_direct("sled", direct).unwrap_err();
    assert!(format!("{err}").contains("--store is sled"), "{err}");
}

#[tokio::test]
async fn operations_are_timed_into_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    install(&storage, "hello", "co", "k").await;
    storage
        .generation(Tenant::new("hello", "co"))
        .await
        .unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    storage.metrics().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(
            r#"store_operation_duration_seconds_count{store="sled",op="install_check"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"store_operation_duration_seconds_count{store="sled",op="install"} 1"#),
        "{text}"
    );
}
