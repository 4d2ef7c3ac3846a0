//! The seam between the storage API and the stores: what a store does,
//! in the host's words. A third store is one more module implementing
//! [`Backend`] (and one arm in [`StoreLocation::open`](super::StoreLocation::open)).
//!
//! A store keeps bytes: credentials reach it sealed by the vault, and the
//! installs cache sits above it, in [`Storage`](super::Storage). What every
//! store must guarantee is the install generation's rule (the module doc of
//! [`storage`](super)): a checked write lands only while its install is there.

use std::sync::Arc;

use async_trait::async_trait;
use prometheus_client::collector::Collector;

use super::{Generation, Install, Put, Room, Swap, Tree, Uninstalled};

/// Whose data: one app's install at one company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tenant<'a> {
    pub app: &'a str,
    pub company: &'a str,
}

impl<'a> Tenant<'a> {
    pub fn new(app: &'a str, company: &'a str) -> Tenant<'a> {
        Tenant { app, company }
    }

    /// One entry of this tenant's `tree`.
    pub fn entry(self, tree: Tree, name: &'a str) -> Address<'a> {
        Address {
            tree,
            tenant: self,
            name,
        }
    }
}

/// Where one stored entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub tree: Tree,
    pub tenant: Tenant<'a>,
    /// The name within the install: `kv/…`, `secret/…`, `account_api_key`.
    pub name: &'a str,
}

/// What storing an install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    pub generation: Generation,
    /// A new install (a new generation), not a repeated one.
    pub fresh: bool,
}

/// One install's record, as `migrate-store` copies it.
#[derive(Debug, Clone)]
pub struct StoredInstall {
    pub app: String,
    pub company: String,
    pub install: Install,
    pub generation: Generation,
}

/// One entry of `data` or `credentials`, as `migrate-store` copies it.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub tree: Tree,
    pub app: String,
    pub company: String,
    /// The name within the install: `kv/…`, `secret/…`, `account_api_key`.
    pub key: String,
    pub value: Vec<u8>,
}

/// Everything a store holds, as `migrate-store` reads and writes it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub installs: Vec<StoredInstall>,
    pub entries: Vec<StoredEntry>,
}

/// What copying a [`Snapshot`] into a store did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Rows the store did not have yet.
    pub installs_copied: usize,
    pub entries_copied: usize,
}

/// Re-encrypts one sealed credential (`rotate-identity`).
pub type Reseal<'a> = &'a (dyn Fn(&[u8]) -> anyhow::Result<Vec<u8>> + Send + Sync);

/// A store: where installs, plugins' entries and sealed credentials live.
#[async_trait]
pub trait Backend: Send + Sync {
    /// `sled` or `postgres`: the metrics' `store` label.
    fn kind(&self) -> &'static str;

    /// What messages may show of it: `sled`, `postgres://host:port/db`
    /// (never a password).
    fn name(&self) -> &str;

    /// What `/metrics` reads of the store itself at each scrape (a pool's slots).
    fn collector(&self) -> Option<Arc<dyn Collector>> {
        None
    }

    /// A cheap read: whether the store answers.
    async fn ping(&self) -> anyhow::Result<()>;

    /// Records an install and its sealed API key together; an install again
    /// keeps its generation and data, a new one starts a new generation on a
    /// clean slate.
    async fn install(
        &self,
        tenant: Tenant<'_>,
        install: &Install,
        sealed_key: &[u8],
    ) -> anyhow::Result<Installed>;

    async fn install_of(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Install>>;

    /// The install check, read from the store (the cache is above).
    async fn generation(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Generation>>;

    async fn get(&self, at: Address<'_>) -> anyhow::Result<Option<Vec<u8>>>;

    /// Stores `value` at `at` in one transaction with the check that the
    /// install `generation` is still there; with `room`, only if the entry
    /// exists or the install holds fewer than `room.max_entries` under
    /// `room.prefix`.
    async fn put(
        &self,
        at: Address<'_>,
        generation: Generation,
        value: &[u8],
        room: Option<Room<'_>>,
    ) -> anyhow::Result<Put>;

    /// Stores `new` at `at` only if the entry holds `expected` now (`None`:
    /// absent), checked like [`Backend::put`], in one atomic step: of
    /// replicas racing to swap the same value, one wins.
    async fn swap(
        &self,
        at: Address<'_>,
        generation: Generation,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap>;

    /// The companies that have `app` installed.
    async fn companies(&self, app: &str) -> anyhow::Result<Vec<String>>;

    /// Removes the entry at `at`, checked like [`Backend::put`].
    async fn delete(
        &self,
        at: Address<'_>,
        generation: Generation,
    ) -> anyhow::Result<Result<(), Uninstalled>>;

    /// The names under `prefix` in the tenant's `tree`, in byte order.
    async fn list(
        &self,
        tenant: Tenant<'_>,
        tree: Tree,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>>;

    /// Deletes everything held for the tenant, the install record first;
    /// tells whether there was anything.
    async fn uninstall(&self, tenant: Tenant<'_>) -> anyhow::Result<bool>;

    /// Makes every write so far durable (a store that commits each write
    /// before it returns has nothing to do).
    async fn flush(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Any one stored credential: the identity check at start.
    async fn sample_credential(&self) -> anyhow::Result<Option<Vec<u8>>>;

    /// Whether the store holds a credential or records an identity: if so,
    /// an identity must be given, never made up.
    async fn holds_credentials(&self) -> anyhow::Result<bool> {
        Ok(self.sample_credential().await?.is_some())
    }

    /// The age recipient the store's credentials belong to, recording
    /// `mine` when none is: a store shared by replicas refuses one started
    /// with another identity. A store of one process records none.
    async fn claim_recipient(&self, mine: &str) -> anyhow::Result<String> {
        Ok(mine.to_owned())
    }

    /// Re-encrypts every credential with `reseal` at once and records
    /// `recipient` as the store's identity; returns how many.
    async fn reseal_credentials(
        &self,
        recipient: &str,
        reseal: Reseal<'_>,
    ) -> anyhow::Result<usize>;

    /// Everything the store holds (`migrate-store`'s source).
    async fn export(&self) -> anyhow::Result<Snapshot> {
        anyhow::bail!("{} cannot be the source of migrate-store", self.name())
    }

    /// Copies `snapshot` in one transaction, keeping rows the store already
    /// has, then checks every row of it: the copy is committed only if each
    /// reads back as it is; else nothing is and the error names what differs.
    async fn import(&self, snapshot: &Snapshot) -> anyhow::Result<Imported> {
        let _ = snapshot;
        anyhow::bail!("{} cannot be the target of migrate-store", self.name())
    }
}
