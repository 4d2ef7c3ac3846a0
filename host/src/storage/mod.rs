//! Durable state in sled: installs, their encrypted API keys, and the data
//! plugins store.
//!
//! Every key of every tree starts with `app 0x00 company 0x00`, so all that is
//! held for one install is one prefix, and uninstall deletes that prefix from
//! each tree. Credentials are age ciphertexts (see [`vault`]).

mod plugin_data;
mod rotate;
pub mod vault;

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
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

    /// Records an install and its encrypted API key together (replacing any
    /// earlier one). Call [`Storage::flush`] before acknowledging.
    pub fn install(
        &self,
        app: &str,
        company: &str,
        install: &Install,
        api_key: &str,
    ) -> anyhow::Result<()> {
        let scope = scope(app, company);
        let record = serde_json::to_vec(install)?;
        let sealed = self.vault.seal(api_key.as_bytes())?;
        (&self.installs, &self.credentials)
            .transaction(|(installs, credentials)| {
                installs.insert(scope.as_slice(), record.as_slice())?;
                credentials.insert(key(&scope, API_KEY), sealed.as_slice())?;
                Ok::<_, ConflictableTransactionError>(())
            })
            .map_err(|e: TransactionError| anyhow::anyhow!("storing the install failed: {e}"))
    }

    /// The install of `company`, if any.
    pub fn find_install(&self, app: &str, company: &str) -> anyhow::Result<Option<Install>> {
        match self.installs.get(scope(app, company))? {
            Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Whether `company` has installed `app`: the check every event makes,
    /// so a key lookup only, without reading the record.
    pub fn is_installed(&self, app: &str, company: &str) -> anyhow::Result<bool> {
        Ok(self.installs.contains_key(scope(app, company))?)
    }

    /// Replaces the stored API key of an existing install.
    pub fn set_api_key(&self, app: &str, company: &str, api_key: &str) -> anyhow::Result<()> {
        let sealed = self.vault.seal(api_key.as_bytes())?;
        self.credentials
            .insert(key(&scope(app, company), API_KEY), sealed)?;
        Ok(())
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

    /// Deletes everything held for (app, company): the plugin's data first,
    /// the install last, so an interrupted uninstall is simply retried.
    pub fn uninstall(&self, app: &str, company: &str) -> anyhow::Result<()> {
        let scope = scope(app, company);
        for tree in [&self.data, &self.credentials, &self.installs] {
            let mut batch = sled::Batch::default();
            for entry in tree.scan_prefix(&scope) {
                batch.remove(entry?.0);
            }
            tree.apply_batch(batch)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Storage {
        Storage::open(&dir.join("data"), &dir.join("data/identity.txt")).unwrap()
    }

    fn install(storage: &Storage, app: &str, company: &str, key: &str) {
        let record = Install {
            account_id: "acc".into(),
            installed_at: 1,
        };
        storage.install(app, company, &record, key).unwrap();
    }

    #[test]
    fn install_is_found_and_key_decrypts() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        install(&storage, "hello", "co1", "kj_live_1");
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
        storage.set_api_key("hello", "co1", "kj_live_2").unwrap();
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
        storage.uninstall("hello", "co").unwrap();
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
