//! The embedded store: sled, in `DATA/db`, for one process.
//!
//! Three trees: `installs` (a JSON record per install), `data` (what plugins
//! keep with `kv`) and `credentials` (age ciphertexts: the account API key
//! and plugins' secrets). Every key starts with `app 0x00 company 0x00`, so
//! all that is held for one install is one prefix, and uninstall deletes that
//! prefix from each tree. The layout is the one keruj-host has always
//! written: a database from an older version opens as it is.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree, abort};
use sled::{Transactional, Tree as SledTree};

use super::installs_cache::InstallsCache;
use super::{Generation, Install, Put, Room, Tree, Uninstalled};

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

/// One install's record, as `migrate-store` copies it.
pub struct StoredInstall {
    pub app: String,
    pub company: String,
    pub install: Install,
    pub generation: Generation,
}

/// One entry of `data` or `credentials`, as `migrate-store` copies it.
pub struct StoredEntry {
    pub tree: Tree,
    pub app: String,
    pub company: String,
    /// The name within the install: `kv/…`, `secret/…`, `account_api_key`.
    pub key: String,
    pub value: Vec<u8>,
}

pub struct SledStore {
    db: sled::Db,
    installs: SledTree,
    credentials: SledTree,
    data: SledTree,
    /// The install check of every event, answered from memory: this process
    /// is the database's only writer, so it hears every uninstall.
    installs_cache: InstallsCache,
    /// One flush at a time (see [`SledStore::flush`]).
    flushing: tokio::sync::Mutex<()>,
}

impl SledStore {
    /// Opens (or creates) the database in `data_dir/db`.
    pub fn open(data_dir: &Path) -> anyhow::Result<SledStore> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data folder {}", data_dir.display()))?;
        let db_path = data_dir.join("db");
        let db = open_when_released(&db_path).with_context(|| {
            format!(
                "cannot open the database {} (one process at a time: is another keruj-host using it?)",
                db_path.display()
            )
        })?;
        Ok(SledStore {
            installs: db.open_tree("installs")?,
            credentials: db.open_tree("credentials")?,
            data: db.open_tree("data")?,
            db,
            installs_cache: InstallsCache::following(),
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
    pub fn sample_credential(&self) -> anyhow::Result<Option<Vec<u8>>> {
        match self.credentials.iter().next() {
            Some(entry) => Ok(Some(entry?.1.to_vec())),
            None => Ok(None),
        }
    }

    pub fn install(
        &self,
        app: &str,
        company: &str,
        install: &Install,
        sealed_key: &[u8],
    ) -> anyhow::Result<Generation> {
        let scope = scope(app, company);
        let existing = self.installs.get(&scope)?;
        let fresh = match &existing {
            Some(record) => generation_of(record)?,
            None => {
                // Whatever an uninstall interrupted before its end left behind.
                self.sweep(&scope)?;
                // A new generation: nothing remembered of an older one stays.
                self.installs_cache.forget(app, company);
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
                Ok(generation)
            })
            .map_err(|e: TransactionError<anyhow::Error>| {
                anyhow::anyhow!("storing the install failed: {e}")
            })
    }

    pub fn install_of(&self, app: &str, company: &str) -> anyhow::Result<Option<Install>> {
        match self.installs.get(scope(app, company))? {
            Some(bytes) => Ok(Some(serde_json::from_slice::<Record>(&bytes)?.install)),
            None => Ok(None),
        }
    }

    /// Every event asks: from memory when it can be (see [`InstallsCache`]),
    /// else one lookup, the generation decoded alone.
    pub fn generation(&self, app: &str, company: &str) -> anyhow::Result<Option<Generation>> {
        if let Some(generation) = self.installs_cache.get(app, company) {
            return Ok(Some(generation));
        }
        let epoch = self.installs_cache.epoch();
        let found = self
            .installs
            .get(scope(app, company))?
            .map(|record| generation_of(&record))
            .transpose()?;
        if let Some(generation) = found {
            self.installs_cache
                .remember(epoch, app, company, generation);
        }
        Ok(found)
    }

    pub fn get(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        name: &str,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let stored = self.tree(tree).get(key(&scope(app, company), name))?;
        Ok(stored.map(|value| value.to_vec()))
    }

    /// Stores `name` in one transaction with the check that the install
    /// `generation` is still there; with `room`, only if the entry exists or
    /// the install holds fewer than `room.max_entries` under `room.prefix`.
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        generation: Generation,
        name: &str,
        value: &[u8],
        room: Option<Room<'_>>,
    ) -> anyhow::Result<Put> {
        let scope = scope(app, company);
        let entry = key(&scope, name);
        let target = self.tree(tree);
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

    /// Removes `name`, checked like [`SledStore::put`].
    pub fn delete(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        generation: Generation,
        name: &str,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let scope = scope(app, company);
        let entry = key(&scope, name);
        let removed = (&self.installs, self.tree(tree)).transaction(|(installs, target)| {
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

    /// The names under `prefix`, in byte order.
    pub fn list(
        &self,
        tree: Tree,
        app: &str,
        company: &str,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        let scope = scope(app, company);
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
    pub fn uninstall(&self, app: &str, company: &str) -> anyhow::Result<bool> {
        let scope = scope(app, company);
        let installed = self.installs.remove(&scope)?.is_some();
        // After the removal: a lookup that read the record before it is
        // not remembered (the epoch moved).
        self.installs_cache.forget(app, company);
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

    pub fn ping(&self) -> anyhow::Result<()> {
        self.installs.first()?;
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

    /// Re-encrypts every credential with `reseal`, in one atomic batch, and
    /// flushes; returns how many (`rotate-identity`).
    pub fn reseal_credentials(
        &self,
        mut reseal: impl FnMut(&[u8]) -> anyhow::Result<Vec<u8>>,
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

    /// Every install record (`migrate-store`).
    pub fn all_installs(&self) -> anyhow::Result<Vec<StoredInstall>> {
        let mut installs = Vec::new();
        for entry in self.installs.iter() {
            let (scope, record) = entry?;
            let (app, company, _) = split_key(&scope)?;
            let record: Record = serde_json::from_slice(&record).with_context(|| {
                format!("the install record of {app}/{company} is not readable")
            })?;
            installs.push(StoredInstall {
                app,
                company,
                install: record.install,
                generation: Generation(record.generation),
            });
        }
        Ok(installs)
    }

    /// Every entry of `data` and `credentials` (`migrate-store`).
    pub fn all_entries(&self) -> anyhow::Result<Vec<StoredEntry>> {
        let mut entries = Vec::new();
        for tree in [Tree::Data, Tree::Credentials] {
            for entry in self.tree(tree).iter() {
                let (stored_key, value) = entry?;
                let (app, company, key) = split_key(&stored_key)?;
                entries.push(StoredEntry {
                    tree,
                    app,
                    company,
                    key,
                    value: value.to_vec(),
                });
            }
        }
        Ok(entries)
    }

    #[cfg(test)]
    pub(super) fn raw_tree(&self, tree: &str) -> SledTree {
        self.db.open_tree(tree).unwrap()
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
fn scope(app: &str, company: &str) -> Vec<u8> {
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
    scope(app, company)
}
