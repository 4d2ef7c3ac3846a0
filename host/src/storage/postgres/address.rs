//! Where the PostgreSQL store is: a libpq URL with the host's own
//! `pool_size`, libpq's `sslmode` and `sslrootcert` (read here, see
//! `tls.rs`), the direct address behind a pooler, and what of it messages
//! may show.

use std::time::Duration;

use anyhow::Context;

use super::tls::{SslMode, Tls};
use super::{DEFAULT_POOL_SIZE, OPERATION_TIMEOUT};

/// A PostgreSQL store's address and pool size, from `postgres://…` (libpq's
/// URL; `pool_size=N` is the host's own, `sslmode` and `sslrootcert` have
/// libpq's meaning, see `tls.rs`).
#[derive(Clone)]
pub struct PgAddress {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: Tls,
    pub(super) pool_size: usize,
    /// `--store-direct`: the same database without a pooler in between, for
    /// what needs a session of its own (the schema lock, `LISTEN`).
    pub(super) direct: Option<Box<PgAddress>>,
}

impl std::fmt::Debug for PgAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_name())
    }
}

impl PgAddress {
    pub fn parse(url: &str) -> anyhow::Result<PgAddress> {
        let (url, ours) = take_params(url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| anyhow::anyhow!("the store URL is not a PostgreSQL URL: {e}"))?;
        let tls = Tls::new(ours.ssl_mode, ours.root_cert.as_deref())?;
        config.ssl_mode(tls.mode.for_tokio_postgres());
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(OPERATION_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("keruj-host");
        }
        // A peer that vanished (a cable, a VM) is found in seconds, not hours.
        config.keepalives_idle(Duration::from_secs(10));
        Ok(PgAddress {
            config,
            tls,
            pool_size: ours.pool_size,
            direct: None,
        })
    }

    /// This address with `--store-direct`'s: sessions go there.
    pub fn with_direct(mut self, url: &str) -> anyhow::Result<PgAddress> {
        anyhow::ensure!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "--store-direct: expected a `postgres://` URL"
        );
        let direct = PgAddress::parse(url).context("--store-direct")?;
        self.direct = Some(Box::new(direct));
        Ok(self)
    }

    /// Where sessions go: `--store-direct`, else the store's own address.
    pub(super) fn session(&self) -> &PgAddress {
        self.direct.as_deref().unwrap_or(self)
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

/// The parameters read here rather than by tokio-postgres.
struct Ours {
    pool_size: usize,
    ssl_mode: Option<SslMode>,
    root_cert: Option<String>,
}

/// Takes `pool_size`, `sslmode` and `sslrootcert` out of a URL's query.
fn take_params(url: &str) -> anyhow::Result<(String, Ours)> {
    let mut ours = Ours {
        pool_size: DEFAULT_POOL_SIZE,
        ssl_mode: None,
        root_cert: None,
    };
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.into(), ours));
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "pool_size" => {
                ours.pool_size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .with_context(|| format!("pool_size={value}: expected 1 to 1000"))?;
            }
            "sslmode" => ours.ssl_mode = Some(SslMode::parse(&percent_decode(value)?)?),
            "sslrootcert" => ours.root_cert = Some(percent_decode(value)?),
            _ => kept.push(pair),
        }
    }
    let url = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((url, ours))
}

/// A URL query value with its `%XX` escapes decoded (a path may need them).
fn percent_decode(value: &str) -> anyhow::Result<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .with_context(|| format!("{value:?}: a % not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("{value:?}: not UTF-8 once decoded"))
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
    }

    #[test]
    fn sslmode_and_sslrootcert_have_libpq_s_meaning() {
        use tokio_postgres::config::SslMode as Pg;
        let mode = |url: &str| {
            let address = PgAddress::parse(url).unwrap();
            (address.tls.mode, address.config.get_ssl_mode())
        };
        // libpq's default is `prefer`.
        assert_eq!(mode("postgres://h/db"), (SslMode::Prefer, Pg::Prefer));
        assert_eq!(
            mode("postgres://h/db?sslmode=disable"),
            (SslMode::Disable, Pg::Disable)
        );
        assert_eq!(
            mode("postgres://h/db?sslmode=require&pool_size=2"),
            (SslMode::Require, Pg::Require)
        );
        // The verifying modes are tokio-postgres' `require` plus our checks.
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["db.test".into()]).unwrap();
        let path = dir.path().join("root ca.pem");
        std::fs::write(&path, ca.cert.pem()).unwrap();
        let escaped = path.display().to_string().replace(' ', "%20");
        let url = format!("postgres://h/db?sslmode=verify-full&sslrootcert={escaped}");
        assert_eq!(mode(&url), (SslMode::VerifyFull, Pg::Require));
        let address = PgAddress::parse(&url).unwrap();
        assert!(address.tls.describe().contains("root ca.pem"));

        let bad = |url: &str| format!("{:#}", PgAddress::parse(url).unwrap_err());
        assert!(bad("postgres://h/db?sslmode=verify").contains("verify-full"));
        let missing = bad("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem");
        assert!(
            missing.contains("sslrootcert=/nonexistent.pem"),
            "{missing}"
        );
        let not_pem = dir.path().join("empty.pem");
        std::fs::write(&not_pem, "not a certificate").unwrap();
        let url = format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            not_pem.display()
        );
        assert!(bad(&url).contains("no certificate"), "{}", bad(&url));
    }

    #[test]
    fn the_direct_address_is_where_sessions_go() {
        let pooled = PgAddress::parse("postgres://k@bouncer:6432/db").unwrap();
        assert_eq!(
            pooled.session().display_name(),
            "postgres://bouncer:6432/db"
        );
        let both = pooled.with_direct("postgres://k@primary:5432/db").unwrap();
        assert_eq!(both.display_name(), "postgres://bouncer:6432/db");
        assert_eq!(both.session().display_name(), "postgres://primary:5432/db");
        let err = PgAddress::parse("postgres://h/db")
            .unwrap()
            .with_direct("sled")
            .unwrap_err();
        assert!(format!("{err:#}").contains("--store-direct"), "{err:#}");
    }
}
