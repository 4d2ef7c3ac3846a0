//! What a PostgreSQL error means to the host: the store unreachable (503,
//! retried by the pool) or a plain failure (500).

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use super::tls::Tls;
use crate::storage::Unreachable;

/// Turns one server's errors into the host's, naming the server.
pub(super) struct Errors {
    name: String,
    tls: Tls,
}

impl Errors {
    pub fn new(name: &str, tls: &Tls) -> Errors {
        Errors {
            name: name.into(),
            tls: tls.clone(),
        }
    }

    /// A pool that cannot hand out a connection: the database is unreachable.
    pub fn pool(&self, error: PoolError) -> anyhow::Error {
        match error {
            PoolError::Backend(error) => self.query(error),
            other => Unreachable(other.to_string()).into(),
        }
    }

    /// Errors of the connection (lost, refused, its certificate refused,
    /// the server shutting down) and a server that takes no writes (a
    /// standby, or one made read-only) make the store unreachable; any
    /// other error the server reports for a statement is a plain failure.
    pub fn query(&self, error: tokio_postgres::Error) -> anyhow::Error {
        if let Some(refused) = self.tls.certificate_refused(&error) {
            return Unreachable(refused).into();
        }
        let Some(code) = error.code() else {
            return Unreachable(error.to_string()).into();
        };
        if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
            return Unreachable(self.read_only()).into();
        }
        let connection_lost = code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code);
        match connection_lost {
            true => Unreachable(error.to_string()).into(),
            false => anyhow::Error::new(error),
        }
    }

    /// [`Errors::query`] for an error that may hold a PostgreSQL one.
    pub fn anyhow(&self, error: anyhow::Error) -> anyhow::Error {
        match error.downcast::<tokio_postgres::Error>() {
            Ok(error) => self.query(error),
            Err(other) => other,
        }
    }

    /// Why writes are refused by a server in read-only mode.
    pub fn read_only(&self) -> String {
        format!(
            "{} is read-only (a standby, or default_transaction_read_only is on): \
             it takes no writes; --store must name the primary",
            self.name
        )
    }
}
