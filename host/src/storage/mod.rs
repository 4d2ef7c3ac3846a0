//! Durable state: installs, their encrypted API keys, and the data plugins
//! store, in one of two stores behind one API ([`Storage`]):
//! - sled ([`sled_store`]), embedded, the default: one process, its own disk;
//! - PostgreSQL ([`postgres`]): any number of replicas sharing one database.
//!
//! Every credential is sealed with age here, before either store sees it
//! ([`vault`]): neither the disk nor the database's operators ever see a key.
//!
//! ## Uninstall against writes in flight
//!
//! Each install has a [`Generation`], unique in the store and kept in the
//! install's record. An event learns it when it starts, and every write made
//! for the event (a plugin's `kv` or `secrets` write, a new API key) checks it
//! in the same transaction as the write. Uninstall removes the record first,
//! then deletes the data: a write that committed before the removal is
//! deleted with the rest, and one that comes after finds no install (or,
//! after a reinstall, another generation) and is refused. Nothing here is a
//! lock held in one process's memory, so the same rule holds for any number of
//! host processes sharing one database.

mod installs_cache;
mod metrics;
pub mod migrate;
mod plugin_data;
pub mod postgres;
mod rotate;
mod sled_store;
pub mod vault;

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use metrics::{Backend, Op, StoreMetrics};
pub use migrate::{Migration, migrate_store};
pub use plugin_data::{PluginDataError, Quota, Space};
use postgres::{PgAddress, PgStore};
pub use rotate::{Rotation, rotate_identity};
use sled_store::SledStore;
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
pub struct Generation(pub(crate) u64);

/// A write refused because the install it was for is gone: the company
/// uninstalled the app (and maybe installed it again) meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the app was uninstalled for this company while this event ran: nothing was stored")]
pub struct Uninstalled;

/// The store cannot be reached (PostgreSQL down, restarting, unreachable or
/// too slow): the host answers 503, never a guess such as "not installed".
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store is unreachable: {0}")]
pub struct Unreachable(pub String);

/// Whether `error` (anywhere in its chain) is the store being unreachable.
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Unreachable>())
}

/// The two kinds of stored entry: plain data, and age ciphertexts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    Data,
    Credentials,
}

/// What a checked write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    Stored,
    /// The install already holds the most entries allowed.
    Full,
    /// The install is gone (see [`Generation`]).
    Uninstalled,
}

/// A new entry is stored only while the install holds fewer than
/// `max_entries` names starting with `prefix`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Room<'a> {
    pub prefix: &'a str,
    pub max_entries: usize,
}

/// The name the account API key is stored under, beside plugins' `kv/…`
/// and `secret/…` entries.
const API_KEY: &str = "account_api_key";

/// Where the host keeps its state: `--store` / `KERUJ_STORE`.
#[derive(Debug, Clone, Default)]
pub enum StoreLocation {
    /// sled in `DATA/db` (the default).
    #[default]
    Sled,
    /// A PostgreSQL database shared by replicas.
    Postgres(Box<PgAddress>),
}

impl FromStr for StoreLocation {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<StoreLocation> {
        match value {
            "" | "sled" => Ok(StoreLocation::Sled),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreLocation::Postgres(Box::new(PgAddress::parse(url)?)))
            }
            other => anyhow::bail!(
                "unknown store {:?}: expected `sled` or a `postgres://` URL",
                other.split(['@', '?']).next_back().unwrap_or_default()
            ),
        }
    }
}

enum Store {
    Sled(SledStore),
    Postgres(PgStore),
}

/// Runs `$call` on whichever store this is, timed as `$op`: the same method
/// on both, answered at once by sled, awaited from PostgreSQL.
macro_rules! on_store {
    ($self:ident, $op:expr, |$store:ident| $call:expr) => {
        $self
            .timed($op, async {
                match &$self.store {
                    Store::Sled($store) => $call,
                    Store::Postgres($store) => $call.await,
                }
            })
            .await
    };
}

/// The store and the vault that guards its credentials.
pub struct Storage {
    store: Store,
    vault: Vault,
    metrics: StoreMetrics,
}

impl Storage {
    /// Opens (or creates) the sled database in `data_dir/db` and the identity.
    pub fn open(data_dir: &Path, identity_path: &Path) -> anyhow::Result<Storage> {
        let store = SledStore::open(data_dir)?;
        let sample = store.sample_credential()?;
        // A new identity is only made for a database with nothing encrypted yet.
        let vault = Vault::open(identity_path, sample.is_none())?;
        check_identity(&vault, sample.as_deref(), identity_path)?;
        Ok(Storage {
            store: Store::Sled(store),
            vault,
            metrics: StoreMetrics::new(Backend::sled, None),
        })
    }

    /// Opens the store at `location`: sled in `data_dir`, or connects to
    /// PostgreSQL (creating or migrating its schema). With PostgreSQL, a new
    /// identity is only made for a database that has never held a
    /// credential, and the database remembers which identity that is: a
    /// replica started with another one is refused.
    pub async fn connect(
        location: &StoreLocation,
        data_dir: &Path,
        identity_path: &Path,
    ) -> anyhow::Result<Storage> {
        let address = match location {
            StoreLocation::Sled => return Storage::open(data_dir, identity_path),
            StoreLocation::Postgres(address) => address,
        };
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let store = PgStore::connect(address).await?;
        let vault = Vault::open(identity_path, !store.has_credentials().await?)?;
        let recorded = store.claim_recipient(&vault.recipient()).await?;
        anyhow::ensure!(
            recorded == vault.recipient(),
            "the age identity {} ({}) does not decrypt this database's credentials: {} holds \
             credentials encrypted to {recorded}; give every replica the same identity file (--identity)",
            identity_path.display(),
            vault.recipient(),
            store.name,
        );
        let sample = store.sample_credential().await?;
        check_identity(&vault, sample.as_deref(), identity_path)?;
        Ok(Storage {
            metrics: StoreMetrics::new(Backend::postgres, Some(store.pool())),
            store: Store::Postgres(store),
            vault,
        })
    }

    /// The handles `/metrics` reads.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Which store this is, for the log: `sled` or `postgres://host:port/db`.
    pub fn describe(&self) -> String {
        match &self.store {
            Store::Sled(_) => "sled".into(),
            Store::Postgres(store) => store.name.clone(),
        }
    }

    /// Times `operation` into the store's metrics.
    async fn timed<T>(
        &self,
        op: Op,
        operation: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        let started = Instant::now();
        let result = operation.await;
        self.metrics.observe(op, started.elapsed(), result.is_err());
        result
    }

    /// Records an install and its encrypted API key together. Installing
    /// again replaces both and keeps the install's generation (and data); a
    /// new install starts a new generation, on a clean slate. Call
    /// [`Storage::flush`] before acknowledging.
    pub async fn install(
        &self,
        app: &str,
        company: &str,
        install: &Install,
        api_key: &str,
    ) -> anyhow::Result<Generation> {
        let sealed = self.vault.seal(api_key.as_bytes())?;
        on_store!(self, Op::install, |store| store
            .install(app, company, install, &sealed))
    }

    /// The install of `company`, if any.
    pub async fn find_install(&self, app: &str, company: &str) -> anyhow::Result<Option<Install>> {
        on_store!(self, Op::install_check, |store| store
            .install_of(app, company))
    }

    /// A cheap read, for readiness: whether the store answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        on_store!(self, Op::ping, |store| store.ping())
    }

    /// Whether `company` has installed `app`.
    pub async fn is_installed(&self, app: &str, company: &str) -> anyhow::Result<bool> {
        Ok(self.generation(app, company).await?.is_some())
    }

    /// The generation of `company`'s install, `None` when not installed: the
    /// check every event makes.
    pub async fn generation(&self, app: &str, company: &str) -> anyhow::Result<Option<Generation>> {
        on_store!(self, Op::install_check, |store| store
            .generation(app, company))
    }

    /// Replaces the stored API key of the install `generation`; refused if
    /// that install is gone.
    pub async fn set_api_key(
        &self,
        app: &str,
        company: &str,
        generation: Generation,
        api_key: &str,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let sealed = self.vault.seal(api_key.as_bytes())?;
        let put = self
            .put(
                Tree::Credentials,
                app,
                company,
                generation,
                API_KEY,
                &sealed,
                None,
            )
            .await?;
        match put {
            Put::Uninstalled => Ok(Err(Uninstalled)),
            Put::Stored | Put::Full => Ok(Ok(())),
        }
    }

    /// The decrypted API key of an install.
    pub async fn api_key(&self, app: &str, company: &str) -> anyhow::Result<Option<String>> {
        let Some(sealed) = self.get(Tree::Credentials, app, company, API_KEY).await? else {
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
    /// stays deleted.
    pub async fn uninstall(&self, app: &str, company: &str) -> anyhow::Result<bool> {
        on_store!(self, Op::uninstall, |store| store.uninstall(app, company))
    }

    /// Makes every write so far durable. PostgreSQL commits each write
    /// before it returns: nothing is left to do there.
    pub async fn flush(&self) -> anyhow::Result<()> {
        match &self.store {
            Store::Sled(store) => self.timed(Op::flush, store.flush()).await,
            Store::Postgres(_) => Ok(()),
        }
    }

    async fn get(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        name: &str,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        on_store!(self, Op::get, |store| store.get(tree, app, company, name))
    }

    #[allow(clippy::too_many_arguments)]
    async fn put(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        generation: Generation,
        name: &str,
        value: &[u8],
        room: Option<Room<'_>>,
    ) -> anyhow::Result<Put> {
        on_store!(self, Op::put, |store| store
            .put(tree, app, company, generation, name, value, room))
    }

    async fn delete(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        generation: Generation,
        name: &str,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        on_store!(self, Op::delete, |store| store
            .delete(tree, app, company, generation, name))
    }

    async fn list(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        on_store!(self, Op::list, |store| store
            .list(tree, app, company, prefix))
    }
}

/// Refuses an identity that does not decrypt what the store holds.
fn check_identity(
    vault: &Vault,
    sample: Option<&[u8]>,
    identity_path: &Path,
) -> anyhow::Result<()> {
    let Some(sample) = sample else {
        return Ok(());
    };
    vault.unseal(sample).with_context(|| {
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
    Ok(())
}

#[cfg(test)]
mod tests;
