//! Opening the store: the pool, the schema migrated on a session of its
//! own, and the uninstall feed started.

use std::sync::Arc;

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use super::errors::Errors;
use super::{OPERATION_TIMEOUT, PgAddress, PgStore, schema, uninstall_feed};
use crate::storage::installs_cache::InstallsCache;

impl PgStore {
    /// Connects, creates or migrates the schema, and starts telling
    /// `installs` of every replica's uninstalls. Fails when the database
    /// cannot be reached now. The schema lock and `LISTEN` need a session
    /// of their own: they use `--store-direct` when given (the pool may be
    /// behind a transaction-mode pooler), the store's own address otherwise.
    pub async fn connect(
        address: &PgAddress,
        installs: Arc<InstallsCache>,
    ) -> anyhow::Result<PgStore> {
        let name = address.display_name();
        let errors = Errors::new(&name, &address.tls);
        let manager = Manager::from_config(
            address.config.clone(),
            address.tls.connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(address.pool_size)
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .create_timeout(Some(OPERATION_TIMEOUT))
            .recycle_timeout(Some(OPERATION_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .context("cannot build the connection pool")?;

        let session = address.session();
        let session_name = session.display_name();
        let session_errors = Errors::new(&session_name, &session.tls);
        let connecting = session.config.connect(session.tls.connector.clone());
        let (mut direct, driver) =
            match tokio::time::timeout(OPERATION_TIMEOUT, connecting).await {
                Ok(connected) => connected.map_err(|e| session_errors.query(e)),
                Err(_) => Err(anyhow::anyhow!("no answer within {OPERATION_TIMEOUT:?}")),
            }
            .with_context(|| format!("cannot reach the store {session_name}"))?;
        // Ends by itself once `direct` is dropped (after a clean goodbye).
        tokio::spawn(driver);
        schema::migrate(&mut direct)
            .await
            .map_err(|e| session_errors.anyhow(e))
            .with_context(|| format!("cannot prepare the store {session_name}"))?;

        let client = pool
            .get()
            .await
            .map_err(|e| errors.pool(e))
            .with_context(|| format!("cannot reach the store {name}"))?;
        if address.direct.is_some() {
            let database = "SELECT current_database()";
            let pooled: String = client.query_typed_one(database, &[]).await?.get(0);
            let direct: String = direct.query_typed_one(database, &[]).await?.get(0);
            anyhow::ensure!(
                pooled == direct,
                "--store ({name}) is the database {pooled:?}, --store-direct \
                 ({session_name}) is {direct:?}: they must be the same database"
            );
        }
        drop((client, direct));
        let listener = tokio::spawn(uninstall_feed::listen(session.clone(), installs));
        Ok(PgStore {
            pool,
            listener,
            name,
            errors,
        })
    }
}
