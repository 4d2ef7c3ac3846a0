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

use anyhow::Context;

use super::check_identity;
use super::postgres::{PgAddress, PgStore, table};
use super::sled_store::SledStore;
use super::vault::Vault;

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
    let db_path = data_dir.join("db");
    anyhow::ensure!(
        db_path.is_dir(),
        "no database at {}: nothing to migrate",
        db_path.display()
    );
    let source = SledStore::open(data_dir).context("stop the keruj-host using it first")?;
    let vault = Vault::open(identity_path, false)?;
    check_identity(
        &vault,
        source.sample_credential()?.as_deref(),
        identity_path,
    )?;
    let target = PgStore::connect(to).await?;
    let recorded = target.claim_recipient(&vault.recipient()).await?;
    anyhow::ensure!(
        recorded == vault.recipient(),
        "{}'s credentials are encrypted to {recorded}, this database's to {}: one store holds one identity's credentials",
        target.name,
        vault.recipient()
    );

    let installs = source.all_installs()?;
    let entries = source.all_entries()?;
    let installed: HashSet<(&str, &str)> = installs
        .iter()
        .map(|i| (i.app.as_str(), i.company.as_str()))
        .collect();
    let (entries, leftovers): (Vec<_>, Vec<_>) = entries
        .iter()
        .partition(|e| installed.contains(&(e.app.as_str(), e.company.as_str())));

    let mut client = target.client().await?;
    let tx = client.transaction().await?;
    let mut report = Migration {
        installs: installs.len(),
        entries: entries.len(),
        leftovers: leftovers.len(),
        ..Migration::default()
    };
    for install in &installs {
        report.installs_copied += tx
            .execute(
                "INSERT INTO keruj_installs (app, company, account_id, installed_at, generation) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &install.app,
                    &install.company,
                    &install.install.account_id,
                    &(install.install.installed_at as i64),
                    &(install.generation.0 as i64),
                ],
            )
            .await? as usize;
    }
    // New installs get generations past every copied one.
    tx.execute(
        "SELECT setval('keruj_install_generations', \
             GREATEST((SELECT max(generation) FROM keruj_installs), \
                      (SELECT last_value FROM keruj_install_generations), 1))",
        &[],
    )
    .await?;
    for entry in &entries {
        let sql = format!(
            "INSERT INTO {} (app, company, key, value) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            table(entry.tree)
        );
        report.entries_copied += tx
            .execute(
                &sql,
                &[&entry.app, &entry.company, &entry.key, &entry.value],
            )
            .await? as usize;
    }

    // Every row of the source, found as it is in the target.
    let mut differing = Vec::new();
    for install in &installs {
        let row = tx
            .query_opt(
                "SELECT generation FROM keruj_installs WHERE app = $1 AND company = $2",
                &[&install.app, &install.company],
            )
            .await?;
        if row.map(|row| row.get::<_, i64>(0)) != Some(install.generation.0 as i64) {
            differing.push(format!(
                "the install of {}/{}",
                install.app, install.company
            ));
        }
    }
    for entry in &entries {
        let sql = format!(
            "SELECT value FROM {} WHERE app = $1 AND company = $2 AND key = $3",
            table(entry.tree)
        );
        let row = tx
            .query_opt(&sql, &[&entry.app, &entry.company, &entry.key])
            .await?;
        if row.map(|row| row.get::<_, Vec<u8>>(0)).as_ref() != Some(&entry.value) {
            differing.push(format!("{} of {}/{}", entry.key, entry.app, entry.company));
        }
    }
    anyhow::ensure!(
        differing.is_empty(),
        "{} already holds other values for {} of the copied rows (first: {}); nothing was changed. \
         Was the target served while the source still was?",
        target.name,
        differing.len(),
        differing[0]
    );
    tx.commit().await?;
    Ok(report)
}
