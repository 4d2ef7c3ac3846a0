//! TLS to the PostgreSQL store, with libpq's `sslmode` and `sslrootcert`.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` and leaves the
//! checking of the server's certificate to the connector: each mode is
//! handed to it as one of those three, with a rustls configuration that
//! checks what libpq would check.
//!
//! | sslmode       | encrypted         | chain checked          | host name checked |
//! |---------------|-------------------|------------------------|-------------------|
//! | `disable`     | no                | -                      | -                 |
//! | `prefer`      | if the server can | only with sslrootcert  | no                |
//! | `require`     | yes               | only with sslrootcert  | no                |
//! | `verify-ca`   | yes               | yes                    | no                |
//! | `verify-full` | yes               | yes                    | yes               |
//!
//! The chain is checked against `sslrootcert=FILE` (PEM), or the platform's
//! root certificates when it is absent or `system`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(value: &str) -> anyhow::Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            // libpq's `allow` tries plain first; TLS when the server insists
            // is what `prefer` gives too.
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => anyhow::bail!(
                "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// What tokio-postgres is told: whether to ask for TLS, and insist.
    pub fn for_tokio_postgres(self) -> PgSslMode {
        match self {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        }
    }
}

/// How connections to one server are encrypted and what is checked.
#[derive(Clone)]
pub struct Tls {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file, or `None` for the platform's roots.
    root_cert: Option<PathBuf>,
    pub connector: MakeRustlsConnect,
}

impl Tls {
    /// Reads the root certificates now, so that a missing or unreadable
    /// file stops the start rather than every connection.
    pub fn new(mode: Option<SslMode>, root_cert: Option<&str>) -> anyhow::Result<Tls> {
        let root_cert = root_cert
            .filter(|path| *path != "system")
            .map(PathBuf::from);
        let mode = mode.unwrap_or(SslMode::Prefer);
        // libpq: a root certificate file makes `prefer` and `require` check
        // the chain, as `verify-ca` does.
        let check = match (mode, &root_cert) {
            (SslMode::VerifyFull, _) => Check::Full,
            (SslMode::VerifyCa, _) | (SslMode::Prefer | SslMode::Require, Some(_)) => {
                Check::ChainOnly
            }
            _ => Check::Nothing,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(NoCheck(provider.signature_verification_algorithms)),
            Check::ChainOnly | Check::Full => {
                let roots = Arc::new(roots(root_cert.as_ref())?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .context("the store's TLS root certificates")?;
                match check {
                    Check::Full => webpki as Arc<dyn ServerCertVerifier>,
                    _ => Arc::new(ChainOnly(webpki)),
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS for the store")?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Tls {
            mode,
            root_cert,
            connector: MakeRustlsConnect::new(config),
        })
    }

    /// `sslmode=…, sslrootcert=…`: for messages about the certificate.
    pub fn describe(&self) -> String {
        let roots = match &self.root_cert {
            Some(path) => format!("sslrootcert={}", path.display()),
            None => "the platform's root certificates".into(),
        };
        format!("sslmode={}, {roots}", self.mode.name())
    }

    /// When `error` is the server's certificate refused: a message that
    /// says so, for the log and the failed start.
    pub fn certificate_refused(&self, error: &tokio_postgres::Error) -> Option<String> {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            // tokio-rustls wraps rustls' error in an io::Error, whose
            // `source` skips it.
            let inner = current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static));
            for candidate in [Some(current), inner].into_iter().flatten() {
                if let Some(rustls::Error::InvalidCertificate(why)) =
                    candidate.downcast_ref::<rustls::Error>()
                {
                    let hint = match why {
                        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                            " (it was not issued by a CA trusted here)"
                        }
                        _ => "",
                    };
                    return Some(format!(
                        "the database server's TLS certificate was refused ({}): {why}{hint}",
                        self.describe()
                    ));
                }
            }
            cause = current.source();
        }
        None
    }
}

enum Check {
    Nothing,
    ChainOnly,
    Full,
}

fn roots(file: Option<&PathBuf>) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("sslrootcert={}: cannot read it", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            anyhow::ensure!(
                added > 0,
                "sslrootcert={}: no certificate in it (expected PEM)",
                path.display()
            );
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            anyhow::ensure!(
                !store.is_empty(),
                "no root certificates on this machine to check the store's certificate \
                 (install ca-certificates, or give sslrootcert=FILE)"
            );
        }
    }
    Ok(store)
}

/// `verify-ca`: the chain to a trusted root, whatever names it is for.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match checked {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encrypted, the
/// certificate not checked (libpq's meaning); the handshake's signatures
/// still are.
#[derive(Debug)]
struct NoCheck(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
