//! The host's tables in PostgreSQL, created and migrated by the host itself
//! at start, in one transaction under an advisory lock (replicas starting
//! together take turns). `keruj_schema` holds the version; a database newer
//! than this binary is refused rather than misread.
//!
//! The layout mirrors the sled trees, one row per entry, keyed by
//! (app, company, name): uninstall is one bounded delete per table for one
//! (app, company), served by the primary key's leading columns.

use anyhow::{Context, bail};
use tokio_postgres::Client;

/// The schema this binary reads and writes.
pub const VERSION: i32 = 1;

/// Any number, the same in every keruj-host: the lock replicas share.
const MIGRATION_LOCK: i64 = 0x6b65_7275_6a00;

/// Each version's statements, in order; `STEPS[n]` takes the schema from
/// version `n` to `n + 1`. Released steps never change: a new version adds one.
const STEPS: &[&str] = &[r#"
    CREATE SEQUENCE keruj_install_generations;
    CREATE TABLE keruj_installs (
        app          text   NOT NULL,
        company      text   NOT NULL,
        account_id   text   NOT NULL,
        installed_at bigint NOT NULL,
        -- Each install's own: writes for an install that is gone are refused.
        generation   bigint NOT NULL UNIQUE,
        PRIMARY KEY (app, company)
    );
    -- What plugins keep with `kv`.
    CREATE TABLE keruj_data (
        app     text NOT NULL,
        company text NOT NULL,
        key     text COLLATE "C" NOT NULL,
        value   bytea NOT NULL,
        PRIMARY KEY (app, company, key)
    );
    -- Age ciphertexts only: account API keys and plugins' secrets.
    CREATE TABLE keruj_credentials (
        app     text NOT NULL,
        company text NOT NULL,
        key     text COLLATE "C" NOT NULL,
        value   bytea NOT NULL,
        PRIMARY KEY (app, company, key)
    );
    -- The age recipient every credential is encrypted to: a replica started
    -- with another identity is refused instead of writing what the others
    -- cannot read.
    CREATE TABLE keruj_identity (
        recipient text NOT NULL
    );
"#];

/// Brings the database to [`VERSION`]; refuses a newer one.
pub async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS keruj_schema (version integer NOT NULL)")
        .await?;
    let found: Option<i32> = tx
        .query_one("SELECT max(version) FROM keruj_schema", &[])
        .await?
        .get(0);
    let found = found.unwrap_or(0);
    if found > VERSION {
        bail!(
            "the database's keruj schema is version {found}, newer than this keruj-host knows \
             ({VERSION}): run the keruj-host version that upgraded it, or a newer one"
        );
    }
    for (from, step) in STEPS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(step)
            .await
            .with_context(|| format!("migrating the schema from version {from}"))?;
    }
    if found < VERSION {
        tx.execute("DELETE FROM keruj_schema", &[]).await?;
        tx.execute(
            "INSERT INTO keruj_schema (version) VALUES ($1)",
            &[&VERSION],
        )
        .await?;
        tracing::info!(from = found, to = VERSION, "database schema migrated");
    }
    tx.commit().await?;
    Ok(())
}
