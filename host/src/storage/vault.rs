//! The age identity that every stored credential is encrypted to.
//!
//! Ciphertexts are in the standard age format, so an operator can check or
//! recover a value with the reference tool: `age -d -i identity.txt`.

use std::io::Write;
use std::path::Path;

use age::secrecy::ExposeSecret;
use age::x25519::{Identity, Recipient};
use anyhow::{Context, bail};

/// Encrypts and decrypts credentials with one X25519 identity.
pub struct Vault {
    identity: Identity,
    recipient: Recipient,
}

impl Vault {
    /// Loads the identity at `path`. When the file is absent and `may_create`
    /// (the database holds no ciphertext yet), makes a new one with mode 0600.
    /// Never falls back to anything weaker: any other problem is an error.
    pub fn open(path: &Path, may_create: bool) -> anyhow::Result<Vault> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                return Self::create(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "the age identity {} is missing, but the database holds credentials encrypted to it; \
                 restore the file (or point --identity at it) to start",
                path.display()
            ),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read the age identity {}", path.display()));
            }
        };
        let identity = parse_identity(&text)
            .with_context(|| format!("{} is not an age X25519 identity file", path.display()))?;
        Ok(Self::from_identity(identity))
    }

    /// Makes a new identity and writes it to `path`, which must not exist,
    /// with mode 0600 and synced to disk.
    pub fn create(path: &Path) -> anyhow::Result<Vault> {
        let identity = Identity::generate();
        let recipient = identity.to_public();
        let mut file = private_file(path)
            .with_context(|| format!("cannot create the age identity {}", path.display()))?;
        writeln!(file, "# created by keruj-host")?;
        writeln!(file, "# public key: {recipient}")?;
        writeln!(file, "{}", identity.to_string().expose_secret())?;
        file.sync_all()?;
        tracing::info!(path = %path.display(), "created a new age identity");
        Ok(Self::from_identity(identity))
    }

    fn from_identity(identity: Identity) -> Vault {
        let recipient = identity.to_public();
        Vault {
            identity,
            recipient,
        }
    }

    /// The public key (`age1…`) that credentials are encrypted to.
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    /// A 32-byte key for `purpose`, derived from the identity's secret:
    /// the same on every replica that shares the identity, and new when
    /// the identity is rotated.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        Sha256::new()
            .chain_update("keruj-host derived key\0")
            .chain_update(purpose)
            .chain_update([0])
            .chain_update(self.identity.to_string().expose_secret())
            .finalize()
            .into()
    }

    /// Encrypts `plaintext` to this identity (age binary format).
    pub fn seal(&self, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(age::encrypt(&self.recipient, plaintext)?)
    }

    /// Decrypts what [`Vault::seal`] produced.
    pub fn unseal(&self, ciphertext: &[u8]) -> anyhow::Result<Vec<u8>> {
        age::decrypt(&self.identity, ciphertext).context("cannot decrypt a stored credential")
    }
}

/// The first `AGE-SECRET-KEY-1…` line; `#` comments and blank lines are skipped.
fn parse_identity(text: &str) -> anyhow::Result<Identity> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .context("no identity line")?;
    line.parse::<Identity>()
        .map_err(|e| anyhow::anyhow!("invalid identity line: {e}"))
}

#[cfg(unix)]
pub(crate) fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
pub(crate) fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_reloads_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.txt");
        let sealed = Vault::open(&path, true)
            .unwrap()
            .seal(b"kj_live_x")
            .unwrap();
        assert!(sealed.starts_with(b"age-encryption.org/v1"));
        assert!(!sealed.windows(9).any(|w| w == b"kj_live_x"));
        let reopened = Vault::open(&path, false).unwrap();
        assert_eq!(reopened.unseal(&sealed).unwrap(), b"kj_live_x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_missing_identity_when_data_exists() {
        let dir = tempfile::tempdir().unwrap();
        let err = Vault::open(&dir.path().join("identity.txt"), false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("is missing"), "{err}");
    }

    #[test]
    fn refuses_a_file_that_is_not_an_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.txt");
        std::fs::write(&path, "# comment\nnot-a-key\n").unwrap();
        let err = Vault::open(&path, true).err().unwrap();
        assert!(
            format!("{err:#}").contains("not an age X25519 identity"),
            "{err:#}"
        );
    }

    #[test]
    fn another_identity_cannot_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let a = Vault::open(&dir.path().join("a.txt"), true).unwrap();
        let b = Vault::open(&dir.path().join("b.txt"), true).unwrap();
        assert!(b.unseal(&a.seal(b"secret").unwrap()).is_err());
    }
}
