//! The host's own entries on PostgreSQL: a compare-and-swap (claims of
//! scheduled runs, webhook deliveries seen) and the companies of an app.

use tokio_postgres::types::Type;

use super::{PgStore, table};
use crate::storage::backend::{Address, Tenant};
use crate::storage::{Generation, Swap};

impl PgStore {
    pub(super) async fn swap_entry(
        &self,
        at: Address<'_>,
        generation: Generation,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        let (Tenant { app, company }, name) = (at.tenant, at.name);
        let table = table(at.tree);
        // Racing inserts meet in ON CONFLICT, racing updates in the row
        // lock: either way the loser's condition is false against the
        // winner's value, and it stores nothing.
        let sql = format!(
            "WITH live AS ( \
                 SELECT 1 FROM keruj_installs \
                 WHERE app = $1 AND company = $2 AND generation = $3 FOR SHARE \
             ), current AS ( \
                 SELECT value FROM {table} WHERE app = $1 AND company = $2 AND key = $4 FOR UPDATE \
             ), put AS ( \
                 INSERT INTO {table} (app, company, key, value) \
                 SELECT $1, $2, $4, $6 FROM live \
                 WHERE ($5::bytea IS NULL AND NOT EXISTS (SELECT 1 FROM current)) \
                    OR (SELECT value FROM current) = $5::bytea \
                 ON CONFLICT (app, company, key) DO UPDATE SET value = EXCLUDED.value \
                 WHERE {table}.value = $5::bytea \
                 RETURNING 1 \
             ) \
             SELECT EXISTS (SELECT 1 FROM live), EXISTS (SELECT 1 FROM put)"
        );
        let generation = generation.0 as i64;
        let (live, put): (bool, bool) = self
            .with_client(|client| async move {
                let row = client
                    .query_typed_one(
                        &sql,
                        &[
                            (&app, Type::TEXT),
                            (&company, Type::TEXT),
                            (&generation, Type::INT8),
                            (&name, Type::TEXT),
                            (&expected, Type::BYTEA),
                            (&new, Type::BYTEA),
                        ],
                    )
                    .await?;
                Ok((row.get(0), row.get(1)))
            })
            .await?;
        Ok(match (live, put) {
            (false, _) => Swap::Uninstalled,
            (true, false) => Swap::Lost,
            (true, true) => Swap::Swapped,
        })
    }

    pub(super) async fn companies_of(&self, app: &str) -> anyhow::Result<Vec<String>> {
        self.with_client(|client| async move {
            let rows = client
                .query_typed(
                    "SELECT company FROM keruj_installs WHERE app = $1",
                    &[(&app, Type::TEXT)],
                )
                .await?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
        .await
    }
}
