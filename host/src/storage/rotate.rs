//! `keruj-host rotate-identity`: a new age identity, every stored credential
//! re-encrypted to it, the old identity kept as `<identity>.old`.
//!
//! The host must be stopped: sled locks the database for one process, so a
//! rotation against a running host fails to open it and changes nothing.
//! With PostgreSQL every replica must be stopped (nothing can enforce it):
//! a replica still running would keep encrypting to the old identity. The
//! database records the new identity's public key, and a replica started
//! with the old one afterwards is refused.
//!
//! Every step leaves a state the host or a second run can use, whenever the
//! process dies:
//! 1. the new identity is written to `<identity>.new` (through a temporary
//!    file and a rename, so it is whole or absent);
//! 2. every stored credential (account API keys and plugin secrets) is
//!    decrypted and re-encrypted to it at once: one sled batch, which applies
//!    atomically, then flushed, or one PostgreSQL transaction;
//! 3. the old identity is copied to `<identity>.old` (mode 0600), and
//!    `<identity>.new` is renamed over `<identity>`.
//!
//! A run that finds `<identity>.new` resumes with it instead of making
//! another: each credential then decrypts with the old or the new identity.
//! Until step 3 the host refuses to start (its identity no longer decrypts
//! the database) and says to run the command again.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::StoreLocation;
use super::vault::{Vault, private_file};

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Credentials re-encrypted.
    pub credentials: usize,
    /// The new identity's public key.
    pub recipient: String,
    /// Where the previous identity is kept.
    pub old_identity: PathBuf,
}

/// `<identity>.new`: the identity a rotation is moving to.
pub(crate) fn pending_path(identity: &Path) -> PathBuf {
    with_suffix(identity, "new")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

/// Rotates the identity at `identity_path` of the store at `location` (sled
/// in `data_dir`, or PostgreSQL); see the module's documentation for the steps.
pub async fn rotate_identity(
    location: &StoreLocation,
    data_dir: &Path,
    identity_path: &Path,
) -> anyhow::Result<Rotation> {
    let old = Vault::open(identity_path, false)?;
    let store = location.open_existing(data_dir, "rotate").await?;

    let pending = pending_path(identity_path);
    let new = match pending.exists() {
        true => Vault::open(&pending, false).with_context(|| {
            format!(
                "an interrupted rotation left {}, which cannot be used",
                pending.display()
            )
        })?,
        false => {
            let temp = with_suffix(identity_path, "new.tmp");
            let _ = std::fs::remove_file(&temp);
            let vault = Vault::create(&temp)?;
            std::fs::rename(&temp, &pending)
                .with_context(|| format!("cannot write {}", pending.display()))?;
            sync_folder(&pending)?;
            vault
        }
    };

    let reseal = |sealed: &[u8]| {
        let plain = old
            .unseal(sealed)
            .or_else(|_| new.unseal(sealed))
            .with_context(|| {
                format!(
                    "a stored credential decrypts with neither {} nor {}; nothing was re-encrypted",
                    identity_path.display(),
                    pending.display()
                )
            })?;
        new.seal(&plain)
    };
    let count = store.reseal_credentials(&new.recipient(), &reseal).await?;

    let old_identity = with_suffix(identity_path, "old");
    keep_copy(identity_path, &old_identity)?;
    std::fs::rename(&pending, identity_path).with_context(|| {
        format!(
            "cannot move {} to {}",
            pending.display(),
            identity_path.display()
        )
    })?;
    sync_folder(identity_path)?;
    tracing::info!(credentials = count, identity = %identity_path.display(), "age identity rotated");
    Ok(Rotation {
        credentials: count,
        recipient: new.recipient(),
        old_identity,
    })
}

/// Copies `from` to `to` with mode 0600, replacing `to` atomically.
fn keep_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let text = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let temp = with_suffix(to, "tmp");
    let _ = std::fs::remove_file(&temp);
    let mut file =
        private_file(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
    file.write_all(&text)?;
    file.sync_all()?;
    std::fs::rename(&temp, to).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

/// Makes a rename in `path`'s folder durable.
fn sync_folder(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(folder)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Install, Space, Storage, Tenant};
    use super::*;

    async fn rotate(data: &Path, identity: &Path) -> anyhow::Result<Rotation> {
        rotate_identity(&StoreLocation::Sled, data, identity).await
    }

    async fn fill(data: &Path, identity: &Path) {
        let storage = Storage::open(data, identity).unwrap();
        let install = Install {
            account_id: "acc".into(),
            installed_at: 1,
        };
        let co1 = storage
            .install(Tenant::new("hello", "co1"), &install, "kj_key_1")
            .await
            .unwrap();
        storage
            .install(Tenant::new("hello", "co2"), &install, "kj_key_2")
            .await
            .unwrap();
        storage
            .plugin_set(
                Space::Secrets,
                Tenant::new("hello", "co1"),
                co1,
                "np",
                b"np_secret",
            )
            .await
            .unwrap();
        storage.flush().await.unwrap();
    }

    fn ciphertexts(data: &Path) -> Vec<Vec<u8>> {
        let db = super::super::sled_store::open_when_released(&data.join("db")).unwrap();
        let tree = db.open_tree("credentials").unwrap();
        tree.iter().map(|e| e.unwrap().1.to_vec()).collect()
    }

    #[tokio::test]
    async fn rotation_re_encrypts_every_credential_and_keeps_the_old_identity() {
        let dir = tempfile::tempdir().unwrap();
        let (data, identity) = (
            dir.path().join("data"),
            dir.path().join("data/identity.txt"),
        );
        fill(&data, &identity).await;
        let before = std::fs::read_to_string(&identity).unwrap();

        let rotation = rotate(&data, &identity).await.unwrap();
        assert_eq!(rotation.credentials, 3);
        assert_eq!(
            rotation.old_identity,
            dir.path().join("data/identity.txt.old")
        );
        assert_eq!(
            std::fs::read_to_string(&rotation.old_identity).unwrap(),
            before
        );
        assert_ne!(std::fs::read_to_string(&identity).unwrap(), before);
        assert!(!pending_path(&identity).exists());
        #[cfg(unix)]
        for file in [&identity, &rotation.old_identity] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file:?}");
        }

        let old = Vault::open(&rotation.old_identity, false).unwrap();
        let new = Vault::open(&identity, false).unwrap();
        assert_eq!(new.recipient(), rotation.recipient);
        for sealed in ciphertexts(&data) {
            assert!(
                old.unseal(&sealed).is_err(),
                "the old identity still decrypts"
            );
            assert!(new.unseal(&sealed).is_ok());
        }
        let storage = Storage::open(&data, &identity).unwrap();
        assert_eq!(
            storage
                .api_key(Tenant::new("hello", "co1"))
                .await
                .unwrap()
                .unwrap(),
            "kj_key_1"
        );
        assert_eq!(
            storage
                .api_key(Tenant::new("hello", "co2"))
                .await
                .unwrap()
                .unwrap(),
            "kj_key_2"
        );
        let secret = storage
            .plugin_get(Space::Secrets, Tenant::new("hello", "co1"), "np")
            .await;
        assert_eq!(secret.unwrap().unwrap(), b"np_secret");
        drop(storage);
        let err = Storage::open(&data, &rotation.old_identity).err().unwrap();
        assert!(format!("{err:#}").contains("does not decrypt"), "{err:#}");
    }

    #[tokio::test]
    async fn an_interrupted_rotation_is_finished_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let (data, identity) = (
            dir.path().join("data"),
            dir.path().join("data/identity.txt"),
        );
        fill(&data, &identity).await;
        // As if a run died after writing the new identity and re-encrypting
        // one credential to it: the rest still belong to the old identity.
        let pending = pending_path(&identity);
        let new = Vault::create(&pending).unwrap();
        {
            let db = super::super::sled_store::open_when_released(&data.join("db")).unwrap();
            let tree = db.open_tree("credentials").unwrap();
            let (key, _) = tree.iter().next().unwrap().unwrap();
            tree.insert(key, new.seal(b"kj_key_1").unwrap()).unwrap();
            db.flush().unwrap();
        }
        let err = Storage::open(&data, &identity).err().unwrap();
        assert!(format!("{err:#}").contains("rotate-identity"), "{err:#}");

        let rotation = rotate(&data, &identity).await.unwrap();
        assert_eq!(
            rotation.recipient,
            new.recipient(),
            "the pending identity is used"
        );
        let storage = Storage::open(&data, &identity).unwrap();
        assert_eq!(
            storage
                .api_key(Tenant::new("hello", "co2"))
                .await
                .unwrap()
                .unwrap(),
            "kj_key_2"
        );
    }

    #[tokio::test]
    async fn refuses_without_an_identity_or_a_database() {
        let dir = tempfile::tempdir().unwrap();
        let (data, identity) = (
            dir.path().join("data"),
            dir.path().join("data/identity.txt"),
        );
        fill(&data, &identity).await;
        let missing = dir.path().join("nope.txt");
        let err = rotate(&data, &missing).await.unwrap_err();
        assert!(format!("{err:#}").contains("is missing"), "{err:#}");
        assert!(!missing.exists(), "an identity was made up");

        let err = rotate(&dir.path().join("empty"), &identity)
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("no database"), "{err:#}");
    }
}
