//! `migrate-store`'s target side: a [`Snapshot`] copied in one transaction,
//! rows already there kept, every row read back before the commit.

use deadpool_postgres::Object;

use super::table;
use crate::storage::backend::{Imported, Snapshot};

/// Copies `snapshot` into the database of `client` (named `name` in
/// messages); see [`Backend::import`](crate::storage::Backend::import).
pub(super) async fn import(
    client: &mut Object,
    name: &str,
    snapshot: &Snapshot,
) -> anyhow::Result<Imported> {
    let tx = client.transaction().await?;
    let mut report = Imported::default();
    for install in &snapshot.installs {
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
    for entry in &snapshot.entries {
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
    for install in &snapshot.installs {
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
    for entry in &snapshot.entries {
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
        name,
        differing.len(),
        differing[0]
    );
    tx.commit().await?;
    Ok(report)
}
