//! `keruj-host migrate-store`: copies a sled database into PostgreSQL.
//!
//! Encrypted values are copied as they are (no key is decrypted on the way;
//! the identity is only checked to open what the copy will be served with).
//! Everything is copied in one transaction, rows that already exist are left
//! as they are, and every row of the source is then checked in the target:
//! a second run copies nothing new and verifies again, and a run that dies
//! leaves the target as it was.
//!
//! What an interrupted uninstall left in sled (data without an install) is
//! not copied: the company uninstalled the app.

use std::collections::HashSet;
use std::path::Path;

use super::check_identity;
use super::postgres::PgAddress;
use super::vault::Vault;
use super::{Snapshot, StoreLocation};

/// What a migration found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// Installs in the source; how many of them the target did not have yet.
    pub installs: usize,
    pub installs_copied: usize,
    /// `kv` data and credentials (API keys, secrets) in the source, and copied.
    pub entries: usize,
    pub entries_copied: usize,
    /// Entries of companies with no install (an interrupted uninstall's), left out.
    pub leftovers: usize,
}

/// Copies the sled database in `data_dir` into the PostgreSQL store at
/// `to`, then verifies it. The host using `data_dir` must be stopped.
pub async fn migrate_store(
    data_dir: &Path,
    identity_path: &Path,
    to: &PgAddress,
) -> anyhow::Result<Migration> {
    let source = StoreLocation::Sled
        .open_existing(data_dir, "migrate")
        .await?;
    let vault = Vault::open(identity_path, false)?;
    check_identity(
        &vault,
        source.sample_credential().await?.as_deref(),
        identity_path,
    )?;
    let target = StoreLocation::Postgres(Box::new(to.clone()))
        .open(data_dir, Default::default())
        .await?;
    let recorded = target.claim_recipient(&vault.recipient()).await?;
    anyhow::ensure!(
        recorded == vault.recipient(),
        "{}'s credentials are encrypted to {recorded}, this database's to {}: one store holds one identity's credentials",
        target.name(),
        vault.recipient()
    );

    let Snapshot { installs, entries } = source.export().await?;
    let installed: HashSet<(&str, &str)> = installs
        .iter()
        .map(|i| (i.app.as_str(), i.company.as_str()))
        .collect();
    let (entries, leftovers): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| installed.contains(&(e.app.as_str(), e.company.as_str())));
    let copied = Snapshot { installs, entries };
    let imported = target.import(&copied).await?;
    Ok(Migration {
        installs: copied.installs.len(),
        installs_copied: imported.installs_copied,
        entries: copied.entries.len(),
        entries_copied: imported.entries_copied,
        leftovers: leftovers.len(),
    })
}
