//! Where the PostgreSQL store is: a libpq URL (or key=value string), with
//! the host's own `pool_size`, and what of it messages may show.

use std::time::Duration;

use anyhow::Context;

use super::{DEFAULT_POOL_SIZE, OPERATION_TIMEOUT};

/// A PostgreSQL store's address and pool size, from `postgres://…` (libpq's
/// URL and key=value forms both work; `pool_size=N` is the host's own).
#[derive(Clone)]
pub struct PgAddress {
    pub(super) config: tokio_postgres::Config,
    pub(super) pool_size: usize,
}

impl std::fmt::Debug for PgAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_name())
    }
}

impl PgAddress {
    pub fn parse(url: &str) -> anyhow::Result<PgAddress> {
        let (url, pool_size) = take_pool_size(url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("the store URL is not a PostgreSQL URL: {e}"))?;
        anyhow::ensure!(
            config.get_ssl_mode() != tokio_postgres::config::SslMode::Require,
            "sslmode=require: keruj-host does not encrypt its PostgreSQL connections; \
             reach the database over a private network or a TLS tunnel (README, Running in production)"
        );
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(OPERATION_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("keruj-host");
        }
        // A peer that vanished (a cable, a VM) is found in seconds, not hours.
        config.keepalives_idle(Duration::from_secs(10));
        Ok(PgAddress { config, pool_size })
    }

    /// `host:port/dbname`: what messages and logs may show of the URL.
    pub fn display_name(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres");
        format!("postgres://{host}:{port}/{db}")
    }
}

/// Takes the host's own `pool_size` parameter out of a URL's query.
fn take_pool_size(url: &str) -> anyhow::Result<(String, usize)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.into(), DEFAULT_POOL_SIZE));
    };
    let mut pool_size = DEFAULT_POOL_SIZE;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("pool_size=") {
            Some(value) => {
                pool_size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .with_context(|| format!("pool_size={value}: expected 1 to 1000"))?;
            }
            None => kept.push(pair),
        }
    }
    let url = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((url, pool_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_size_is_read_and_the_password_never_shown() {
        let address = PgAddress::parse(
            "postgres://keruj:s3cret@db.internal:6543/keruj?pool_size=4&sslmode=disable",
        )
        .unwrap();
        assert_eq!(address.pool_size, 4);
        assert_eq!(address.display_name(), "postgres://db.internal:6543/keruj");
        assert!(!format!("{address:?}").contains("s3cret"));
        let default = PgAddress::parse("postgres://localhost/keruj").unwrap();
        assert_eq!(default.pool_size, DEFAULT_POOL_SIZE);
        let err = PgAddress::parse("postgres://localhost/keruj?pool_size=0").unwrap_err();
        assert!(format!("{err:#}").contains("1 to 1000"), "{err:#}");
        assert!(PgAddress::parse("postgres://[bad").is_err());
        let err = PgAddress::parse("postgres://localhost/keruj?sslmode=require").unwrap_err();
        assert!(format!("{err:#}").contains("does not encrypt"), "{err:#}");
    }
}
