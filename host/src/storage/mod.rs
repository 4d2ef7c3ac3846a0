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

mod backend;
mod host_entries;
pub use host_entries::Lease;
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
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

pub use backend::{
    Address, Backend, Imported, Installed, Snapshot, StoredEntry, StoredInstall, Tenant,
};
use installs_cache::InstallsCache;
pub use metrics::{Op, StoreMetrics};
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
pub enum Put {
    Stored,
    /// The install already holds the most entries allowed.
    Full,
    /// The install is gone (see [`Generation`]).
    Uninstalled,
}

/// What a compare-and-swap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    Swapped,
    /// The entry held something else: another replica (or run) got there first.
    Lost,
    /// The install is gone (see [`Generation`]).
    Uninstalled,
}

/// A new entry is stored only while the install holds fewer than
/// `max_entries` names starting with `prefix`.
#[derive(Debug, Clone, Copy)]
pub struct Room<'a> {
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

impl StoreLocation {
    /// Opens the store: sled in `data_dir/db` (created if need be), or
    /// PostgreSQL (connecting, creating or migrating its schema). Every
    /// uninstall it hears of is told to `installs`.
    pub async fn open(
        &self,
        data_dir: &Path,
        installs: Arc<InstallsCache>,
    ) -> anyhow::Result<Box<dyn Backend>> {
        Ok(match self {
            StoreLocation::Sled => Box::new(SledStore::open(data_dir, installs)?),
            StoreLocation::Postgres(address) => {
                std::fs::create_dir_all(data_dir).with_context(|| {
                    format!("cannot create the data folder {}", data_dir.display())
                })?;
                Box::new(PgStore::connect(address, installs).await?)
            }
        })
    }

    /// [`StoreLocation::open`] for a tool that works on a stopped host's
    /// store (`rotate-identity`, `migrate-store`, named by `tool`): a sled
    /// database that is not there is an error, not a new one.
    pub async fn open_existing(
        &self,
        data_dir: &Path,
        tool: &str,
    ) -> anyhow::Result<Box<dyn Backend>> {
        if let StoreLocation::Sled = self {
            let db_path = data_dir.join("db");
            anyhow::ensure!(
                db_path.is_dir(),
                "no database at {}: nothing to {tool}",
                db_path.display()
            );
            let store =
                SledStore::open(data_dir, Arc::default()).context("stop keruj-host first")?;
            return Ok(Box::new(store));
        }
        self.open(data_dir, Arc::default()).await
    }
}

impl StoreLocation {
    /// `--store` and `--store-direct` together: a direct address is for a
    /// PostgreSQL store only.
    pub fn parse_with_direct(store: &str, direct: Option<&str>) -> anyhow::Result<StoreLocation> {
        let location: StoreLocation = store.parse()?;
        match (location, direct.filter(|url| !url.is_empty())) {
            (location, None) => Ok(location),
            (StoreLocation::Postgres(address), Some(direct)) => Ok(StoreLocation::Postgres(
                Box::new(address.with_direct(direct)?),
            )),
            (StoreLocation::Sled, Some(_)) => anyhow::bail!(
                "--store-direct names a direct connection to the PostgreSQL store, \
                 but --store is sled"
            ),
        }
    }
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

/// The store, the vault that guards its credentials, and what is kept in
/// memory above it: the storage API the rest of the host uses.
pub struct Storage {
    store: Box<dyn Backend>,
    vault: Vault,
    /// The install check of every event, answered from memory when it can
    /// be (see [`InstallsCache`]).
    installs: Arc<InstallsCache>,
    metrics: StoreMetrics,
}

impl Storage {
    /// Opens (or creates) the sled database in `data_dir/db` and the identity.
    pub fn open(data_dir: &Path, identity_path: &Path) -> anyhow::Result<Storage> {
        let installs = Arc::new(InstallsCache::default());
        let store = SledStore::open(data_dir, installs.clone())?;
        let sample = store.sample();
        Storage::guard(Box::new(store), installs, identity_path, sample?, None)
    }

    /// Opens the store at `location` (see [`StoreLocation::open`]) and the
    /// identity. A new identity is only made for a store that has never held
    /// a credential; a store shared by replicas remembers which identity
    /// that is, and refuses a replica started with another one.
    pub async fn connect(
        location: &StoreLocation,
        data_dir: &Path,
        identity_path: &Path,
    ) -> anyhow::Result<Storage> {
        let installs = Arc::new(InstallsCache::default());
        let store = location.open(data_dir, installs.clone()).await?;
        let fresh = !store.holds_credentials().await?;
        let vault = Vault::open(identity_path, fresh)?;
        let recorded = store.claim_recipient(&vault.recipient()).await?;
        anyhow::ensure!(
            recorded == vault.recipient(),
            "the age identity {} ({}) does not decrypt this database's credentials: {} holds \
             credentials encrypted to {recorded}; give every replica the same identity file (--identity)",
            identity_path.display(),
            vault.recipient(),
            store.name(),
        );
        let sample = store.sample_credential().await?;
        Storage::guard(store, installs, identity_path, sample, Some(vault))
    }

    /// The storage API over `store`, once the identity (opened here unless
    /// given) decrypts what the store holds.
    fn guard(
        store: Box<dyn Backend>,
        installs: Arc<InstallsCache>,
        identity_path: &Path,
        sample: Option<Vec<u8>>,
        vault: Option<Vault>,
    ) -> anyhow::Result<Storage> {
        let vault = match vault {
            Some(vault) => vault,
            // A new identity is only made for a store with nothing encrypted yet.
            None => Vault::open(identity_path, sample.is_none())?,
        };
        check_identity(&vault, sample.as_deref(), identity_path)?;
        Ok(Storage {
            metrics: StoreMetrics::new(store.kind(), store.collector()),
            store,
            vault,
            installs,
        })
    }

    /// [`Storage::open`], and the sled database underneath.
    #[cfg(test)]
    fn open_raw(data_dir: &Path, identity_path: &Path) -> (Storage, sled::Db) {
        let installs = Arc::new(InstallsCache::default());
        let store = SledStore::open(data_dir, installs.clone()).unwrap();
        let (db, sample) = (store.raw(), store.sample().unwrap());
        let storage = Storage::guard(Box::new(store), installs, identity_path, sample, None);
        (storage.unwrap(), db)
    }

    /// The handles `/metrics` reads.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
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
        tenant: Tenant<'_>,
        install: &Install,
        api_key: &str,
    ) -> anyhow::Result<Generation> {
        let sealed = self.vault.seal(api_key.as_bytes())?;
        let installed = self
            .timed(Op::install, self.store.install(tenant, install, &sealed))
            .await?;
        if installed.fresh {
            // A new generation: nothing remembered of an older one stays.
            self.installs.forget(tenant);
        }
        Ok(installed.generation)
    }

    /// The install of `tenant`, if any.
    pub async fn find_install(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Install>> {
        self.timed(Op::install_check, self.store.install_of(tenant))
            .await
    }

    /// A cheap read, for readiness: whether the store answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.timed(Op::ping, self.store.ping()).await
    }

    /// Whether the tenant's company has installed its app.
    pub async fn is_installed(&self, tenant: Tenant<'_>) -> anyhow::Result<bool> {
        Ok(self.generation(tenant).await?.is_some())
    }

    /// The generation of the tenant's install, `None` when not installed:
    /// the check every event makes, from memory when it can be (see
    /// [`InstallsCache`]), else one read of the store.
    pub async fn generation(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Generation>> {
        self.timed(Op::install_check, async {
            if let Some(generation) = self.installs.get(tenant) {
                return Ok(Some(generation));
            }
            let epoch = self.installs.epoch();
            let found = self.store.generation(tenant).await?;
            if let Some(generation) = found {
                self.installs.remember(epoch, tenant, generation);
            }
            Ok(found)
        })
        .await
    }

    /// Replaces the stored API key of the install `generation`; refused if
    /// that install is gone.
    pub async fn set_api_key(
        &self,
        tenant: Tenant<'_>,
        generation: Generation,
        api_key: &str,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let sealed = self.vault.seal(api_key.as_bytes())?;
        let at = tenant.entry(Tree::Credentials, API_KEY);
        match self.put(at, generation, &sealed, None).await? {
            Put::Uninstalled => Ok(Err(Uninstalled)),
            Put::Stored | Put::Full => Ok(Ok(())),
        }
    }

    /// The decrypted API key of an install.
    pub async fn api_key(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<String>> {
        let at = tenant.entry(Tree::Credentials, API_KEY);
        let Some(sealed) = self.get(at).await? else {
            return Ok(None);
        };
        let plain = self.vault.unseal(&sealed)?;
        Ok(Some(
            String::from_utf8(plain).context("stored API key is not UTF-8")?,
        ))
    }

    /// Deletes everything held for the tenant, and tells whether there was
    /// anything. The install record goes first: from then on every write
    /// for it is refused (see the module's doc), so what is deleted next
    /// stays deleted.
    pub async fn uninstall(&self, tenant: Tenant<'_>) -> anyhow::Result<bool> {
        self.installs.forget(tenant);
        let removed = self
            .timed(Op::uninstall, self.store.uninstall(tenant))
            .await;
        // A lookup that raced the removal may have remembered it meanwhile.
        self.installs.forget(tenant);
        removed
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.timed(Op::flush, self.store.flush()).await
    }

    async fn get(&self, at: Address<'_>) -> anyhow::Result<Option<Vec<u8>>> {
        self.timed(Op::get, self.store.get(at)).await
    }

    async fn put(
        &self,
        at: Address<'_>,
        generation: Generation,
        value: &[u8],
        room: Option<Room<'_>>,
    ) -> anyhow::Result<Put> {
        let put = self
            .timed(Op::put, self.store.put(at, generation, value, room))
            .await?;
        if put == Put::Uninstalled {
            self.installs.forget(at.tenant);
        }
        Ok(put)
    }

    async fn delete(
        &self,
        at: Address<'_>,
        generation: Generation,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let deleted = self
            .timed(Op::delete, self.store.delete(at, generation))
            .await?;
        if deleted.is_err() {
            self.installs.forget(at.tenant);
        }
        Ok(deleted)
    }

    async fn list(
        &self,
        tenant: Tenant<'_>,
        tree: Tree,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        self.timed(Op::list, self.store.list(tenant, tree, prefix))
            .await
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
