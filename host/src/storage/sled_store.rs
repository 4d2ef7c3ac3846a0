//! The embedded store: sled, in `DATA/db`, for one process.
//!
//! Three trees: `installs` (a JSON record per install), `data` (what plugins
//! keep with `kv`) and `credentials` (age ciphertexts: the account API key
//! and plugins' secrets). Every key starts with `app 0x00 company 0x00`, so
//! all that is held for one install is one prefix, and uninstall deletes that
//! prefix from each tree. The layout is the one keruj-host has always
//! written: a database from an older version opens as it is.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree, abort};
use sled::{Transactional, Tree as SledTree};

use super::backend::{
    Address, Backend, Installed, Reseal, Snapshot, StoredEntry, StoredInstall, Tenant,
};
use super::installs_cache::InstallsCache;
use super::{Generation, Install, Put, Room, Swap, Tree, Uninstalled};

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

pub struct SledStore {
    db: sled::Db,
    installs: SledTree,
    credentials: SledTree,
    data: SledTree,
    /// One flush at a time (see [`Backend::flush`]).
    flushing: tokio::sync::Mutex<()>,
}

impl SledStore {
    /// Opens (or creates) the database in `data_dir/db`. This process is
    /// its only writer, so `installs` hears every uninstall from the start.
    pub fn open(data_dir: &Path, installs: Arc<InstallsCache>) -> anyhow::Result<SledStore> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let db_path = data_dir.join("db");
        let db = open_when_released(&db_path).with_context(|| {
            format!(
                "cannot open the database {} (one process at a time: is another keruj-host using it?)",
                db_path.display()
            )
        })?;
        installs.set_following(true);
        Ok(SledStore {
            installs: db.open_tree("installs")?,
            credentials: db.open_tree("credentials")?,
            data: db.open_tree("data")?,
            db,
            flushing: Default::default(),
        })
    }

    fn tree(&self, tree: Tree) -> &SledTree {
        match tree {
            Tree::Data => &self.data,
            Tree::Credentials => &self.credentials,
        }
    }

    /// Any one stored credential: the identity check at start.
    pub fn sample(&self) -> anyhow::Result<Option<Vec<u8>>> {
        match self.credentials.iter().next() {
            Some(entry) => Ok(Some(entry?.1.to_vec())),
            None => Ok(None),
        }
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

    /// The database underneath, for tests that write what an older host
    /// or an interrupted operation left.
    #[cfg(test)]
    pub(super) fn raw(&self) -> sled::Db {
        self.db.clone()
    }
}
#[async_trait]
impl Backend for SledStore {
    fn kind(&self) -> &'static str {
        "sled"
    }

    fn name(&self) -> &str {
        "sled"
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.installs.first()?;
        Ok(())
    }

    async fn install(
        &self,
        tenant: Tenant<'_>,
        install: &Install,
        sealed_key: &[u8],
    ) -> anyhow::Result<Installed> {
        let scope = scope(tenant);
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
                credentials.insert(key(&scope, super::API_KEY), sealed_key)?;
                Ok(Installed {
                    generation,
                    fresh: existing.is_none(),
                })
            })
            .map_err(|e: TransactionError<anyhow::Error>| {
                anyhow::anyhow!("storing the install failed: {e}")
            })
    }

    async fn install_of(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Install>> {
        match self.installs.get(scope(tenant))? {
            Some(bytes) => Ok(Some(serde_json::from_slice::<Record>(&bytes)?.install)),
            None => Ok(None),
        }
    }

    /// One lookup, the generation decoded alone.
    async fn generation(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Generation>> {
        self.installs
            .get(scope(tenant))?
            .map(|record| generation_of(&record))
            .transpose()
    }

    async fn get(&self, at: Address<'_>) -> anyhow::Result<Option<Vec<u8>>> {
        let stored = self.tree(at.tree).get(key(&scope(at.tenant), at.name))?;
        Ok(stored.map(|value| value.to_vec()))
    }

    async fn put(
        &self,
        at: Address<'_>,
        generation: Generation,
        value: &[u8],
        room: Option<Room<'_>>,
    ) -> anyhow::Result<Put> {
        let scope = scope(at.tenant);
        let entry = key(&scope, at.name);
        let target = self.tree(at.tree);
        if let Some(room) = room {
            let prefix = key(&scope, room.prefix);
            if !target.contains_key(&entry)?
                && target.scan_prefix(&prefix).count() >= room.max_entries
            {
                return Ok(Put::Full);
            }
        }
        let stored = (&self.installs, target).transaction(|(installs, target)| {
            check_generation(installs, &scope, generation)?;
            target.insert(entry.as_slice(), value)?;
            Ok(())
        });
        match stored {
            Ok(()) => Ok(Put::Stored),
            Err(TransactionError::Abort(Uninstalled)) => Ok(Put::Uninstalled),
            Err(TransactionError::Storage(error)) => Err(error.into()),
        }
    }

    async fn swap(
        &self,
        at: Address<'_>,
        generation: Generation,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        let scope = scope(at.tenant);
        let entry = key(&scope, at.name);
        let swapped = (&self.installs, self.tree(at.tree)).transaction(|(installs, target)| {
            check_generation(installs, &scope, generation)
                .map_err(|_| lost_swap(Swap::Uninstalled))?;
            if target.get(entry.as_slice())?.as_deref() != expected {
                return Err(lost_swap(Swap::Lost));
            }
            target.insert(entry.as_slice(), new)?;
            Ok(())
        });
        match swapped {
            Ok(()) => Ok(Swap::Swapped),
            Err(TransactionError::Abort(outcome)) => Ok(outcome),
            Err(TransactionError::Storage(error)) => Err(error.into()),
        }
    }

    async fn companies(&self, app: &str) -> anyhow::Result<Vec<String>> {
        let prefix = [app.as_bytes(), &[0]].concat();
        let mut companies = Vec::new();
        for entry in self.installs.scan_prefix(&prefix) {
            let (stored, _) = entry?;
            let company = stored[prefix.len()..]
                .strip_suffix(&[0])
                .unwrap_or_default();
            companies.push(String::from_utf8_lossy(company).into_owned());
        }
        Ok(companies)
    }

    async fn delete(
        &self,
        at: Address<'_>,
        generation: Generation,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let scope = scope(at.tenant);
        let entry = key(&scope, at.name);
        let removed = (&self.installs, self.tree(at.tree)).transaction(|(installs, target)| {
            check_generation(installs, &scope, generation)?;
            target.remove(entry.as_slice())?;
            Ok(())
        });
        match removed {
            Ok(()) => Ok(Ok(())),
            Err(TransactionError::Abort(uninstalled)) => Ok(Err(uninstalled)),
            Err(TransactionError::Storage(error)) => Err(error.into()),
        }
    }

    async fn list(
        &self,
        tenant: Tenant<'_>,
        tree: Tree,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        let scope = scope(tenant);
        let mut names = Vec::new();
        for entry in self.tree(tree).scan_prefix(key(&scope, prefix)) {
            let (stored_key, _) = entry?;
            names.push(String::from_utf8_lossy(&stored_key[scope.len()..]).into_owned());
        }
        Ok(names)
    }

    /// The install record goes first: from then on every write for it is
    /// refused, so what is deleted next stays deleted. Interrupted, it
    /// leaves data without an install, which the next uninstall or install
    /// of the company deletes.
    async fn uninstall(&self, tenant: Tenant<'_>) -> anyhow::Result<bool> {
        let scope = scope(tenant);
        let installed = self.installs.remove(&scope)?.is_some();
        let swept = self.sweep(&scope)?;
        Ok(installed || swept)
    }

    /// Flushes run one at a time, each a blocking `flush` on a blocking
    /// thread: sled 0.34's `flush_async` deadlocks when called concurrently
    /// (spacejam/sled#1308), which under load froze every worker thread of
    /// the host (found by `scripts/soak`). Serialized, a waiting flush also
    /// covers every write made before it started.
    async fn flush(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .context("the flush task failed")?
            .context("flushing the database failed")?;
        Ok(())
    }

    async fn sample_credential(&self) -> anyhow::Result<Option<Vec<u8>>> {
        self.sample()
    }

    /// One atomic batch, then flushed.
    async fn reseal_credentials(
        &self,
        _recipient: &str,
        reseal: Reseal<'_>,
    ) -> anyhow::Result<usize> {
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for entry in self.credentials.iter() {
            let (key, sealed) = entry?;
            batch.insert(key, reseal(&sealed)?);
            count += 1;
        }
        self.credentials.apply_batch(batch)?;
        self.db.flush().context("flushing the database failed")?;
        Ok(count)
    }

    async fn export(&self) -> anyhow::Result<Snapshot> {
        let mut snapshot = Snapshot::default();
        for entry in self.installs.iter() {
            let (scope, record) = entry?;
            let (app, company, _) = split_key(&scope)?;
            let record: Record = serde_json::from_slice(&record).with_context(|| {
                format!("the install record of {app}/{company} is not readable")
            })?;
            snapshot.installs.push(StoredInstall {
                app,
                company,
                install: record.install,
                generation: Generation(record.generation),
            });
        }
        for tree in [Tree::Data, Tree::Credentials] {
            for entry in self.tree(tree).iter() {
                let (stored_key, value) = entry?;
                let (app, company, key) = split_key(&stored_key)?;
                snapshot.entries.push(StoredEntry {
                    tree,
                    app,
                    company,
                    key,
                    value: value.to_vec(),
                });
            }
        }
        Ok(snapshot)
    }
}

/// Opens sled's database, waiting up to [`RELEASE_WAIT`] for its lock: after
/// the last handle in this process is dropped, sled's own IO threads may
/// hold the lock a moment longer (an embedder restarting a host in-process,
/// or a test reopening, would otherwise be refused). Another process
/// holding it is refused once the wait is over.
pub(super) fn open_when_released(path: &Path) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + RELEASE_WAIT;
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(error))
                if error.kind() == std::io::ErrorKind::WouldBlock
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result,
        }
    }
}

const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `app 0x00 company 0x00`: the prefix of everything held for one install.
fn lost_swap(outcome: Swap) -> ConflictableTransactionError<Swap> {
    ConflictableTransactionError::Abort(outcome)
}

fn scope(Tenant { app, company }: Tenant<'_>) -> Vec<u8> {
    let mut scope = Vec::with_capacity(app.len() + company.len() + 2);
    scope.extend_from_slice(app.as_bytes());
    scope.push(0);
    scope.extend_from_slice(company.as_bytes());
    scope.push(0);
    scope
}

fn key(scope: &[u8], name: &str) -> Vec<u8> {
    [scope, name.as_bytes()].concat()
}

/// A stored key back into (app, company, name).
fn split_key(stored: &[u8]) -> anyhow::Result<(String, String, String)> {
    let text = std::str::from_utf8(stored).context("a stored key is not UTF-8")?;
    let mut parts = text.splitn(3, '\0');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(app), Some(company), Some(name)) => Ok((app.into(), company.into(), name.into())),
        _ => anyhow::bail!("a stored key is not `app 0x00 company 0x00 name`: {text:?}"),
    }
}

/// Aborts a transaction that found a record it cannot read.
fn abort_with(error: anyhow::Error) -> ConflictableTransactionError<anyhow::Error> {
    ConflictableTransactionError::Abort(error)
}

#[cfg(test)]
pub(super) fn raw_scope(app: &str, company: &str) -> Vec<u8> {
    scope(Tenant::new(app, company))
}
