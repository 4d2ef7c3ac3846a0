//! The shared store: PostgreSQL, for any number of keruj-host replicas.
//!
//! The database is the only state: every install, write and uninstall is
//! committed before the host answers, so a replica that dies loses nothing
//! it acknowledged, and any replica serves any company. The one thing kept
//! in memory is which companies are installed ([`InstallsCache`]), forgotten
//! by every replica when any of them uninstalls.
//!
//! ## Writes against uninstalls
//!
//! A plugin's write is one statement that first locks the install's row
//! (`FOR SHARE`) and checks its generation. An uninstall deletes that row,
//! then the data, in one transaction. Whichever comes first, the write either
//! commits before the uninstall's deletes run (and is deleted with the rest)
//! or finds the install gone and stores nothing.
//!
//! ## Poolers
//!
//! `--store` may name a transaction-mode pooler (PgBouncer): no statement
//! outside a transaction is a named prepared statement (each is parsed,
//! bound and run in one round trip, `query_typed`), and nothing relies on
//! session state. What needs a session (the schema's advisory lock, the
//! uninstall feed's `LISTEN`) goes to `--store-direct` when it is given.
//!
//! ## Outages
//!
//! Every operation has a deadline ([`OPERATION_TIMEOUT`]): connecting,
//! waiting for a pool slot and the statements together. A database that does
//! not answer makes operations fail with [`Unreachable`], which the host
//! answers with 503; the pool reconnects by itself once it is back.

mod address;
mod connect;
mod errors;
mod import;
pub mod schema;
mod swap;
mod tls;
mod uninstall_feed;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use prometheus_client::collector::Collector;
use tokio_postgres::types::Type;

use super::backend::{Address, Backend, Imported, Installed, Reseal, Snapshot, Tenant};
pub use super::installs_cache::TRUSTED_FOR;
use super::metrics::PoolSlots;
use super::{Generation, Install, Put, Room, Swap, Tree, Uninstalled, Unreachable};
pub use address::PgAddress;
use errors::Errors;
use uninstall_feed::CHANNEL;

/// The longest one storage operation may take, all waiting included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections in the pool when the store URL does not say.
pub const DEFAULT_POOL_SIZE: usize = 16;

pub(crate) struct PgStore {
    pool: Pool,
    /// The listener task, stopped with the store.
    listener: tokio::task::JoinHandle<()>,
    /// `host:port/dbname`, never the password: for messages.
    pub(super) name: String,
    errors: Errors,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgStore {
    /// Runs `operation` on a pooled connection within [`OPERATION_TIMEOUT`].
    async fn with_client<T, F>(&self, operation: impl FnOnce(Object) -> F) -> anyhow::Result<T>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let run = async {
            let client = self.pool.get().await.map_err(|e| self.errors.pool(e))?;
            operation(client).await.map_err(|e| self.errors.query(e))
        };
        match tokio::time::timeout(OPERATION_TIMEOUT, run).await {
            Ok(result) => result,
            Err(_) => Err(Unreachable(format!(
                "{} did not answer within {OPERATION_TIMEOUT:?}",
                self.name
            ))
            .into()),
        }
    }
}

#[async_trait]
impl Backend for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn collector(&self) -> Option<Arc<dyn Collector>> {
        Some(Arc::new(PoolSlots(self.pool.clone())))
    }

    /// Also refuses a read-only server: a replica whose store takes no
    /// writes is not ready (after a failover, until it points at the primary).
    async fn ping(&self) -> anyhow::Result<()> {
        let read_only = self
            .with_client(|client| async move {
                let answer = client.simple_query("SHOW transaction_read_only").await?;
                Ok(answer.iter().any(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0) == Some("on"),
                    _ => false,
                }))
            })
            .await?;
        match read_only {
            true => Err(Unreachable(self.errors.read_only()).into()),
            false => Ok(()),
        }
    }

    async fn install(
        &self,
        tenant: Tenant<'_>,
        install: &Install,
        sealed_key: &[u8],
    ) -> anyhow::Result<Installed> {
        let Tenant { app, company } = tenant;
        let installed_at = install.installed_at as i64;
        self.with_client(|mut client| async move {
            let tx = client.transaction().await?;
            let row = tx
                .query_one(
                    "INSERT INTO keruj_installs (app, company, account_id, installed_at, generation) \
                     VALUES ($1, $2, $3, $4, nextval('keruj_install_generations')) \
                     ON CONFLICT (app, company) DO UPDATE \
                     SET account_id = EXCLUDED.account_id, installed_at = EXCLUDED.installed_at \
                     RETURNING generation, (xmax = 0) AS fresh",
                    &[&app, &company, &install.account_id, &installed_at],
                )
                .await?;
            let (generation, fresh): (i64, bool) = (row.get(0), row.get(1));
            if fresh {
                // Nothing can be left of an earlier install (uninstall is
                // one transaction) but what an older host left in sled
                // and `migrate-store` copied: a new install starts clean.
                for table in ["keruj_data", "keruj_credentials"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE app = $1 AND company = $2"),
                        &[&app, &company],
                    )
                    .await?;
                }
            }
            tx.execute(
                "INSERT INTO keruj_credentials (app, company, key, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (app, company, key) DO UPDATE SET value = EXCLUDED.value",
                &[&app, &company, &super::API_KEY, &sealed_key],
            )
            .await?;
            tx.commit().await?;
            Ok(Installed {
                generation: Generation(generation as u64),
                fresh,
            })
        })
        .await
    }

    async fn install_of(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Install>> {
        let Tenant { app, company } = tenant;
        self.with_client(|client| async move {
            let row = client
                .query_typed_opt(
                    "SELECT account_id, installed_at FROM keruj_installs \
                     WHERE app = $1 AND company = $2",
                    &[(&app, Type::TEXT), (&company, Type::TEXT)],
                )
                .await?;
            Ok(row.map(|row| Install {
                account_id: row.get(0),
                installed_at: row.get::<_, i64>(1) as u64,
            }))
        })
        .await
    }

    /// One indexed read.
    async fn generation(&self, tenant: Tenant<'_>) -> anyhow::Result<Option<Generation>> {
        let Tenant { app, company } = tenant;
        self.with_client(|client| async move {
            let row = client
                .query_typed_opt(
                    "SELECT generation FROM keruj_installs WHERE app = $1 AND company = $2",
                    &[(&app, Type::TEXT), (&company, Type::TEXT)],
                )
                .await?;
            Ok(row.map(|row| Generation(row.get::<_, i64>(0) as u64)))
        })
        .await
    }

    async fn get(&self, at: Address<'_>) -> anyhow::Result<Option<Vec<u8>>> {
        let (Tenant { app, company }, name) = (at.tenant, at.name);
        let sql = format!(
            "SELECT value FROM {} WHERE app = $1 AND company = $2 AND key = $3",
            table(at.tree)
        );
        self.with_client(|client| async move {
            let row = client
                .query_typed_opt(
                    &sql,
                    &[
                        (&app, Type::TEXT),
                        (&company, Type::TEXT),
                        (&name, Type::TEXT),
                    ],
                )
                .await?;
            Ok(row.map(|row| row.get(0)))
        })
        .await
    }

    /// One statement: the install's row locked and its generation checked,
    /// the room counted, the entry written (see the module's doc).
    async fn put(
        &self,
        at: Address<'_>,
        generation: Generation,
        value: &[u8],
        room: Option<Room<'_>>,
    ) -> anyhow::Result<Put> {
        let (Tenant { app, company }, name) = (at.tenant, at.name);
        let table = table(at.tree);
        let sql = format!(
            "WITH live AS ( \
                 SELECT 1 FROM keruj_installs \
                 WHERE app = $1 AND company = $2 AND generation = $3 FOR SHARE \
             ), room AS ( \
                 SELECT EXISTS (SELECT 1 FROM {table} WHERE app = $1 AND company = $2 AND key = $4) \
                     OR (SELECT count(*) FROM {table} \
                         WHERE app = $1 AND company = $2 AND starts_with(key, $6)) < $7 AS ok \
             ), put AS ( \
                 INSERT INTO {table} (app, company, key, value) \
                 SELECT $1, $2, $4, $5 FROM live, room WHERE room.ok \
                 ON CONFLICT (app, company, key) DO UPDATE SET value = EXCLUDED.value \
                 RETURNING 1 \
             ) \
             SELECT EXISTS (SELECT 1 FROM live), (SELECT ok FROM room)"
        );
        let generation = generation.0 as i64;
        let (prefix, max_entries) = match room {
            Some(room) => (room.prefix, room.max_entries as i64),
            None => ("", i64::MAX),
        };
        let (live, ok): (bool, bool) = self
            .with_client(|client| async move {
                let row = client
                    .query_typed_one(
                        &sql,
                        &[
                            (&app, Type::TEXT),
                            (&company, Type::TEXT),
                            (&generation, Type::INT8),
                            (&name, Type::TEXT),
                            (&value, Type::BYTEA),
                            (&prefix, Type::TEXT),
                            (&max_entries, Type::INT8),
                        ],
                    )
                    .await?;
                Ok((row.get(0), row.get(1)))
            })
            .await?;
        Ok(match (live, ok) {
            (false, _) => Put::Uninstalled,
            (true, false) => Put::Full,
            (true, true) => Put::Stored,
        })
    }

    async fn swap(
        &self,
        at: Address<'_>,
        generation: Generation,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        self.swap_entry(at, generation, expected, new).await
    }

    async fn companies(&self, app: &str) -> anyhow::Result<Vec<String>> {
        self.companies_of(app).await
    }

    async fn delete(
        &self,
        at: Address<'_>,
        generation: Generation,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let (Tenant { app, company }, name) = (at.tenant, at.name);
        let sql = format!(
            "WITH live AS ( \
                 SELECT 1 FROM keruj_installs \
                 WHERE app = $1 AND company = $2 AND generation = $3 FOR SHARE \
             ), gone AS ( \
                 DELETE FROM {} WHERE app = $1 AND company = $2 AND key = $4 \
                 AND EXISTS (SELECT 1 FROM live) RETURNING 1 \
             ) \
             SELECT EXISTS (SELECT 1 FROM live)",
            table(at.tree)
        );
        let generation = generation.0 as i64;
        let live: bool = self
            .with_client(|client| async move {
                let row = client
                    .query_typed_one(
                        &sql,
                        &[
                            (&app, Type::TEXT),
                            (&company, Type::TEXT),
                            (&generation, Type::INT8),
                            (&name, Type::TEXT),
                        ],
                    )
                    .await?;
                Ok(row.get(0))
            })
            .await?;
        Ok(if live { Ok(()) } else { Err(Uninstalled) })
    }

    async fn list(
        &self,
        tenant: Tenant<'_>,
        tree: Tree,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        let Tenant { app, company } = tenant;
        let sql = format!(
            "SELECT key FROM {} WHERE app = $1 AND company = $2 AND starts_with(key, $3) ORDER BY key",
            table(tree)
        );
        self.with_client(|client| async move {
            let rows = client
                .query_typed(
                    &sql,
                    &[
                        (&app, Type::TEXT),
                        (&company, Type::TEXT),
                        (&prefix, Type::TEXT),
                    ],
                )
                .await?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
        .await
    }

    /// One transaction: the install's row, then its data and credentials,
    /// and the notification every replica forgets the install on.
    async fn uninstall(&self, tenant: Tenant<'_>) -> anyhow::Result<bool> {
        let Tenant { app, company } = tenant;
        let payload = format!("{app} {company}");
        self.with_client(|mut client| async move {
            let tx = client.transaction().await?;
            let mut removed = 0;
            for table in ["keruj_installs", "keruj_data", "keruj_credentials"] {
                removed += tx
                    .execute(
                        &format!("DELETE FROM {table} WHERE app = $1 AND company = $2"),
                        &[&app, &company],
                    )
                    .await?;
            }
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
                .await?;
            tx.commit().await?;
            Ok(removed > 0)
        })
        .await
    }

    async fn sample_credential(&self) -> anyhow::Result<Option<Vec<u8>>> {
        self.with_client(|client| async move {
            let row = client
                .query_typed_opt("SELECT value FROM keruj_credentials LIMIT 1", &[])
                .await?;
            Ok(row.map(|row| row.get(0)))
        })
        .await
    }

    async fn holds_credentials(&self) -> anyhow::Result<bool> {
        self.with_client(|client| async move {
            let row = client
                .query_typed_one(
                    "SELECT EXISTS (SELECT 1 FROM keruj_credentials) \
                         OR EXISTS (SELECT 1 FROM keruj_identity)",
                    &[],
                )
                .await?;
            Ok(row.get(0))
        })
        .await
    }

    async fn claim_recipient(&self, mine: &str) -> anyhow::Result<String> {
        self.with_client(|client| async move {
            client
                .execute_typed(
                    "INSERT INTO keruj_identity (recipient) \
                     SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM keruj_identity)",
                    &[(&mine, Type::TEXT)],
                )
                .await?;
            let row = client
                .query_typed_one("SELECT recipient FROM keruj_identity LIMIT 1", &[])
                .await?;
            Ok(row.get(0))
        })
        .await
    }

    /// One transaction, the recorded recipient changed with it.
    async fn reseal_credentials(
        &self,
        recipient: &str,
        reseal: Reseal<'_>,
    ) -> anyhow::Result<usize> {
        let mut client = self.pool.get().await.map_err(|e| self.errors.pool(e))?;
        let tx = client.transaction().await?;
        let rows = tx
            .query(
                "SELECT app, company, key, value FROM keruj_credentials FOR UPDATE",
                &[],
            )
            .await?;
        for row in &rows {
            let (app, company, key, sealed): (&str, &str, &str, &[u8]) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            tx.execute(
                "UPDATE keruj_credentials SET value = $4 WHERE app = $1 AND company = $2 AND key = $3",
                &[&app, &company, &key, &reseal(sealed)?],
            )
            .await?;
        }
        tx.execute("DELETE FROM keruj_identity", &[]).await?;
        tx.execute(
            "INSERT INTO keruj_identity (recipient) VALUES ($1)",
            &[&recipient],
        )
        .await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    async fn import(&self, snapshot: &Snapshot) -> anyhow::Result<Imported> {
        let mut client = self.pool.get().await.map_err(|e| self.errors.pool(e))?;
        import::import(&mut client, &self.name, snapshot).await
    }
}

/// The table of `tree`'s entries.
pub(crate) fn table(tree: Tree) -> &'static str {
    match tree {
        Tree::Data => "keruj_data",
        Tree::Credentials => "keruj_credentials",
    }
}
