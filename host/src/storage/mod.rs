//! Durable state in sled: installs, their encrypted API keys, and the data
//! plugins store.
//!
//! Every key of every tree starts with `app 0x00 company 0x00`, so all that is
//! held for one install is one prefix, and uninstall deletes that prefix from
//! each tree. Credentials are age ciphertexts (see [`vault`]).
//!
//! ## Uninstall against writes in flight
//!
//! Each install has a [`Generation`], unique in the database and kept in the
//! install's record. An event learns it when it starts, and every write made
//! for the event (a plugin's `kv` or `secrets` write, a new API key) checks it
//! in the same transaction as the write. Uninstall removes the record first,
//! then deletes the data: a write that committed before the removal is
//! deleted with the rest, and one that comes after finds no install (or,
//! after a reinstall, another generation) and is refused. Nothing here is a
//! lock held in one process's memory, so the same rule holds for any number of
//! host processes sharing one database.

mod plugin_data;
mod rotate;
pub mod vault;

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree, abort};
use sled::{Transactional, Tree};

pub use plugin_data::{PluginDataError, Quota, Space};
pub use rotate::{Rotation, rotate_identity};
use vault::Vault;

/// What the host keeps of an install (the API key is stored apart, encrypted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    pub account_id: String,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
}

/// Which install of an (app, company) an event acts for: each install gets
/// a new one, so an event that began before an uninstall cannot write into
/// the company's next install either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// The install as stored: what [`Install`] says, plus its generation.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    install: Install,
    /// 0 in records written before generations existed.
    #[serde(default)]
    generation: u64,
}

/// A record's generation alone, read without decoding the rest.
#[derive(Deserialize)]
struct GenerationOf {
    #[serde(default)]
    generation: u64,
}

fn generation_of(record: &[u8]) -> anyhow::Result<Generation> {
    let GenerationOf { generation } =
        serde_json::from_slice(record).context("an install record is not readable")?;
    Ok(Generation(generation))
}

/// A write refused because the install it was for is gone: the company
/// uninstalled the app (and maybe installed it again) meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the app was uninstalled for this company while this event ran: nothing was stored")]
pub struct Uninstalled;

/// Inside a transaction: aborts unless `scope`'s install is `expected`.
fn check_generation(
    installs: &TransactionalTree,
    scope: &[u8],
    expected: Generation,
) -> Result<(), ConflictableTransactionError<Uninstalled>> {
    let current = installs.get(scope)?;
    match current.map(|record| generation_of(&record)) {
        Some(Ok(generation)) if generation == expected => Ok(()),
        _ => abort(Uninstalled),
    }
}

/// The database and the vault that guards its credentials.
pub struct Storage {
    db: sled::Db,
    installs: Tree,
    /// Age ciphertexts: the account API key and, later, plugin secrets.
    credentials: Tree,
    /// Plain data plugins store.
    data: Tree,
    vault: Vault,
    /// One flush at a time (see [`Storage::flush`]).
    flushing: tokio::sync::Mutex<()>,
}

const API_KEY: &[u8] = b"account_api_key";

impl Storage {
    /// Opens (or creates) the database in `data_dir/db` and the identity.
    pub fn open(data_dir: &Path, identity_path: &Path) -> anyhow::Result<Storage> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let db_path = data_dir.join("db");
        let db = sled::open(&db_path)
            .with_context(|| format!("cannot open the database {}", db_path.display()))?;
        let credentials = db.open_tree("credentials")?;
        // A new identity is only made for a database with nothing encrypted yet.
        let vault = Vault::open(identity_path, credentials.is_empty())?;
        if let Some(entry) = credentials.iter().next() {
            let (_, sample) = entry?;
            vault.unseal(&sample).with_context(|| {
                let pending = rotate::pending_path(identity_path);
                let hint = match pending.exists() {
                    true => format!(
                        " (an interrupted rotate-identity left {}: run `keruj-host rotate-identity` again to finish it)",
                        pending.display()
                    ),
                    false => String::new(),
                };
                format!(
                    "the age identity {} does not decrypt this database's credentials{hint}",
                    identity_path.display()
                )
            })?;
        }
        Ok(Storage {
            installs: db.open_tree("installs")?,
            data: db.open_tree("data")?,
            credentials,
            db,
            vault,
            flushing: Default::default(),
        })
    }

    /// Records an install and its encrypted API key together. Installing
    /// again replaces both and keeps the install's generation (and data); a
    /// new install starts a new generation, on a clean slate. Call
    /// [`Storage::flush`] before acknowledging.
    pub fn install(
        &self,
        app: &str,
        company: &str,
        install: &Install,
        api_key: &str,
    ) -> anyhow::Result<Generation> {
        let scope = scope(app, company);
        let existing = self.installs.get(&scope)?;
        let fresh = match &existing {
            Some(record) => generation_of(record)?,
            None => {
                // Whatever an uninstall interrupted before its end left behind.
                self.sweep(&scope)?;
                // Never 0, the generation of records older than generations.
                Generation(self.db.generate_id()? + 1)
            }
        };
        let sealed = self.vault.seal(api_key.as_bytes())?;
        (&self.installs, &self.credentials)
            .transaction(|(installs, credentials)| {
                let generation = match installs.get(&scope)? {
                    Some(record) => generation_of(&record).map_err(abort_with)?,
                    None => fresh,
                };
                let record = Record {
                    install: install.clone(),
                    generation: generation.0,
                };
                let record = serde_json::to_vec(&record).map_err(|e| abort_with(e.into()))?;
                installs.insert(scope.as_slice(), record)?;
                credentials.insert(key(&scope, API_KEY), sealed.as_slice())?;
                Ok(generation)
            })
            .map_err(|e: TransactionError<anyhow::Error>| {
                anyhow::anyhow!("storing the install failed: {e}")
            })
    }

    /// The install of `company`, if any.
    pub fn find_install(&self, app: &str, company: &str) -> anyhow::Result<Option<Install>> {
        match self.installs.get(scope(app, company))? {
            Some(bytes) => Ok(Some(serde_json::from_slice::<Record>(&bytes)?.install)),
            None => Ok(None),
        }
    }

    /// A cheap read, for readiness: whether the database answers.
    pub fn ping(&self) -> anyhow::Result<()> {
        self.installs.first()?;
        Ok(())
    }

    /// Whether `company` has installed `app`.
    pub fn is_installed(&self, app: &str, company: &str) -> anyhow::Result<bool> {
        Ok(self.installs.contains_key(scope(app, company))?)
    }

    /// The generation of `company`'s install, `None` when not installed: the
    /// check every event makes, so one lookup and the generation decoded alone.
    pub fn generation(&self, app: &str, company: &str) -> anyhow::Result<Option<Generation>> {
        self.installs
            .get(scope(app, company))?
            .map(|record| generation_of(&record))
            .transpose()
    }

    /// Replaces the stored API key of the install `generation`; refused if
    /// that install is gone.
    pub fn set_api_key(
        &self,
        app: &str,
        company: &str,
        generation: Generation,
        api_key: &str,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let scope = scope(app, company);
        let sealed = self.vault.seal(api_key.as_bytes())?;
        let stored = (&self.installs, &self.credentials).transaction(|(installs, credentials)| {
            check_generation(installs, &scope, generation)?;
            credentials.insert(key(&scope, API_KEY), sealed.as_slice())?;
            Ok(())
        });
        match stored {
            Ok(()) => Ok(Ok(())),
            Err(TransactionError::Abort(uninstalled)) => Ok(Err(uninstalled)),
            Err(TransactionError::Storage(error)) => Err(error.into()),
        }
    }

    /// The decrypted API key of an install.
    pub fn api_key(&self, app: &str, company: &str) -> anyhow::Result<Option<String>> {
        let Some(sealed) = self.credentials.get(key(&scope(app, company), API_KEY))? else {
            return Ok(None);
        };
        let plain = self.vault.unseal(&sealed)?;
        Ok(Some(
            String::from_utf8(plain).context("stored API key is not UTF-8")?,
        ))
    }

    /// Deletes everything held for (app, company), and tells whether there
    /// was anything. The install record goes first: from then on every write
    /// for it is refused (see the module's doc), so what is deleted next
    /// stays deleted. Interrupted, it leaves data without an install, which
    /// the next uninstall or install of the company deletes.
    pub fn uninstall(&self, app: &str, company: &str) -> anyhow::Result<bool> {
        let scope = scope(app, company);
        let installed = self.installs.remove(&scope)?.is_some();
        let swept = self.sweep(&scope)?;
        Ok(installed || swept)
    }

    /// Deletes the plugin's data and the credentials under `scope`; tells
    /// whether there were any.
    fn sweep(&self, scope: &[u8]) -> anyhow::Result<bool> {
        let mut any = false;
        for tree in [&self.data, &self.credentials] {
            let mut batch = sled::Batch::default();
            for entry in tree.scan_prefix(scope) {
                batch.remove(entry?.0);
                any = true;
            }
            tree.apply_batch(batch)?;
        }
        Ok(any)
    }

    /// Makes every write so far durable.
    ///
    /// Flushes run one at a time, each a blocking `flush` on a blocking
    /// thread: sled 0.34's `flush_async` deadlocks when called concurrently
    /// (spacejam/sled#1308), which under load froze every worker thread of
    /// the host (found by `scripts/soak`). Serialized, a waiting flush also
    /// covers every write made before it started.
    pub async fn flush(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .context("the flush task failed")?
            .context("flushing the database failed")?;
        Ok(())
    }
}

/// `app 0x00 company 0x00`: the prefix of everything held for one install.
fn scope(app: &str, company: &str) -> Vec<u8> {
    let mut scope = Vec::with_capacity(app.len() + company.len() + 2);
    scope.extend_from_slice(app.as_bytes());
    scope.push(0);
    scope.extend_from_slice(company.as_bytes());
    scope.push(0);
    scope
}

fn key(scope: &[u8], name: &[u8]) -> Vec<u8> {
    [scope, name].concat()
}

/// Aborts a transaction that found a record it cannot read.
fn abort_with(error: anyhow::Error) -> ConflictableTransactionError<anyhow::Error> {
    ConflictableTransactionError::Abort(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Storage {
        Storage::open(&dir.join("data"), &dir.join("data/identity.txt")).unwrap()
    }

    fn install(storage: &Storage, app: &str, company: &str, key: &str) -> Generation {
        let record = Install {
            account_id: "acc".into(),
            installed_at: 1,
        };
        storage.install(app, company, &record, key).unwrap()
    }

    #[test]
    fn install_is_found_and_key_decrypts() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let generation = install(&storage, "hello", "co1", "kj_live_1");
        assert_eq!(
            storage
                .find_install("hello", "co1")
                .unwrap()
                .unwrap()
                .account_id,
            "acc"
        );
        assert_eq!(
            storage.api_key("hello", "co1").unwrap().unwrap(),
            "kj_live_1"
        );
        assert!(storage.find_install("hello", "co2").unwrap().is_none());
        assert!(storage.is_installed("hello", "co1").unwrap());
        assert!(!storage.is_installed("hello", "co2").unwrap());
        assert!(storage.find_install("other", "co1").unwrap().is_none());
        storage
            .set_api_key("hello", "co1", generation, "kj_live_2")
            .unwrap()
            .unwrap();
        assert_eq!(
            storage.api_key("hello", "co1").unwrap().unwrap(),
            "kj_live_2"
        );
    }

    #[test]
    fn uninstall_removes_only_that_company() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        install(&storage, "hello", "co", "k1");
        // A company whose id extends the other's must not be caught by its prefix.
        install(&storage, "hello", "co2", "k2");
        storage
            .data
            .insert(key(&scope("hello", "co"), b"x"), b"1".as_slice())
            .unwrap();
        assert!(storage.uninstall("hello", "co").unwrap());
        assert!(!storage.uninstall("hello", "co").unwrap(), "nothing left");
        assert!(storage.find_install("hello", "co").unwrap().is_none());
        assert!(storage.api_key("hello", "co").unwrap().is_none());
        assert!(
            storage
                .data
                .scan_prefix(scope("hello", "co"))
                .next()
                .is_none()
        );
        assert_eq!(storage.api_key("hello", "co2").unwrap().unwrap(), "k2");
    }

    #[test]
    fn generations_refuse_writes_for_an_install_that_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let first = install(&storage, "hello", "co", "k1");
        assert_eq!(storage.generation("hello", "co").unwrap(), Some(first));
        // Installing again keeps the generation: events in flight may still write.
        assert_eq!(install(&storage, "hello", "co", "k2"), first);
        storage.uninstall("hello", "co").unwrap();
        assert_eq!(storage.generation("hello", "co").unwrap(), None);
        assert_eq!(
            storage.set_api_key("hello", "co", first, "k3").unwrap(),
            Err(Uninstalled)
        );
        let second = install(&storage, "hello", "co", "k4");
        assert_ne!(second, first, "a new install is a new generation");
        assert_eq!(
            storage.set_api_key("hello", "co", first, "k5").unwrap(),
            Err(Uninstalled)
        );
        assert_eq!(storage.api_key("hello", "co").unwrap().unwrap(), "k4");
    }

    #[test]
    fn a_record_from_before_generations_is_generation_zero() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let old = br#"{"account_id":"acc","installed_at":1}"#;
        storage
            .installs
            .insert(scope("hello", "co"), old.as_slice())
            .unwrap();
        assert_eq!(
            storage.generation("hello", "co").unwrap(),
            Some(Generation(0))
        );
        assert_eq!(
            storage
                .find_install("hello", "co")
                .unwrap()
                .unwrap()
                .account_id,
            "acc"
        );
        assert_eq!(install(&storage, "hello", "co", "k"), Generation(0));
    }

    #[test]
    fn a_new_install_starts_clean_after_an_interrupted_uninstall() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        install(&storage, "hello", "co", "k1");
        // An uninstall that removed the record and stopped before the data.
        storage.installs.remove(scope("hello", "co")).unwrap();
        storage
            .data
            .insert(key(&scope("hello", "co"), b"kv/left"), b"1".as_slice())
            .unwrap();
        install(&storage, "hello", "co", "k2");
        assert!(
            storage
                .data
                .scan_prefix(scope("hello", "co"))
                .next()
                .is_none()
        );
    }

    #[tokio::test]
    async fn survives_reopen_and_refuses_a_foreign_identity() {
        let dir = tempfile::tempdir().unwrap();
        {
            let storage = open(dir.path());
            install(&storage, "hello", "co", "kj_live_1");
            storage.flush().await.unwrap();
        }
        assert_eq!(
            open(dir.path()).api_key("hello", "co").unwrap().unwrap(),
            "kj_live_1"
        );

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
}
