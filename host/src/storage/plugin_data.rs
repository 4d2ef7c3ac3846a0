//! What plugins store through the `kv` and `secrets` capabilities, each entry
//! under its install's prefix, with limits on keys, values and entries.

use sled::Transactional;
use sled::transaction::TransactionError;

use super::{Generation, Storage, Uninstalled, check_generation, key, scope};

/// Which store a plugin's entry lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Plain data (`kv`), in the `data` tree.
    Data,
    /// Age-encrypted values (`secrets`), in the `credentials` tree.
    Secrets,
}

/// Limits of one space, per (app, company).
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_entries: usize,
}

impl Space {
    pub fn quota(self) -> Quota {
        match self {
            Space::Data => Quota {
                max_key_bytes: 256,
                max_value_bytes: 64 * 1024,
                max_entries: 1_000,
            },
            Space::Secrets => Quota {
                max_key_bytes: 256,
                max_value_bytes: 8 * 1024,
                max_entries: 100,
            },
        }
    }

    /// Keeps plugin entries apart from the host's own (`account_api_key`).
    fn tag(self) -> &'static [u8] {
        match self {
            Space::Data => b"kv/",
            Space::Secrets => b"secret/",
        }
    }
}

/// Why a plugin's storage call failed; the text is what the plugin sees.
#[derive(Debug, thiserror::Error)]
pub enum PluginDataError {
    #[error("{0}")]
    Limit(String),
    /// The install the event was for is gone (see [`Generation`]).
    #[error(transparent)]
    Uninstalled(#[from] Uninstalled),
    #[error("storage failed")]
    Storage(#[from] anyhow::Error),
}

impl From<TransactionError<Uninstalled>> for PluginDataError {
    fn from(error: TransactionError<Uninstalled>) -> Self {
        match error {
            TransactionError::Abort(uninstalled) => uninstalled.into(),
            TransactionError::Storage(error) => PluginDataError::Storage(error.into()),
        }
    }
}

impl From<sled::Error> for PluginDataError {
    fn from(error: sled::Error) -> Self {
        PluginDataError::Storage(error.into())
    }
}

impl Storage {
    fn space_tree(&self, space: Space) -> &sled::Tree {
        match space {
            Space::Data => &self.data,
            Space::Secrets => &self.credentials,
        }
    }

    fn entry_prefix(space: Space, app: &str, company: &str) -> Vec<u8> {
        key(&scope(app, company), space.tag())
    }

    pub fn plugin_get(
        &self,
        space: Space,
        app: &str,
        company: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, PluginDataError> {
        let stored = self.space_tree(space).get(key(
            &Self::entry_prefix(space, app, company),
            name.as_bytes(),
        ))?;
        match (stored, space) {
            (None, _) => Ok(None),
            (Some(value), Space::Data) => Ok(Some(value.to_vec())),
            (Some(sealed), Space::Secrets) => Ok(Some(self.vault.unseal(&sealed)?)),
        }
    }

    /// Stores `name` for the install `generation`, in one transaction with
    /// the check that this install is still there.
    pub fn plugin_set(
        &self,
        space: Space,
        app: &str,
        company: &str,
        generation: Generation,
        name: &str,
        value: &[u8],
    ) -> Result<(), PluginDataError> {
        let quota = space.quota();
        if name.is_empty() || name.len() > quota.max_key_bytes {
            return Err(PluginDataError::Limit(format!(
                "a key must be 1 to {} bytes",
                quota.max_key_bytes
            )));
        }
        if value.len() > quota.max_value_bytes {
            return Err(PluginDataError::Limit(format!(
                "the value is {} bytes, over the limit of {}",
                value.len(),
                quota.max_value_bytes
            )));
        }
        let tree = self.space_tree(space);
        let prefix = Self::entry_prefix(space, app, company);
        let entry = key(&prefix, name.as_bytes());
        if !tree.contains_key(&entry)? && tree.scan_prefix(&prefix).count() >= quota.max_entries {
            return Err(PluginDataError::Limit(format!(
                "this company already holds the most entries allowed ({})",
                quota.max_entries
            )));
        }
        let stored = match space {
            Space::Data => value.to_vec(),
            Space::Secrets => self.vault.seal(value)?,
        };
        let install = scope(app, company);
        (&self.installs, tree).transaction(|(installs, tree)| {
            check_generation(installs, &install, generation)?;
            tree.insert(entry.as_slice(), stored.as_slice())?;
            Ok(())
        })?;
        Ok(())
    }

    /// Removes `name` for the install `generation`, checked like [`Storage::plugin_set`].
    pub fn plugin_delete(
        &self,
        space: Space,
        app: &str,
        company: &str,
        generation: Generation,
        name: &str,
    ) -> Result<(), PluginDataError> {
        let entry = key(&Self::entry_prefix(space, app, company), name.as_bytes());
        let install = scope(app, company);
        (&self.installs, self.space_tree(space)).transaction(|(installs, tree)| {
            check_generation(installs, &install, generation)?;
            tree.remove(entry.as_slice())?;
            Ok(())
        })?;
        Ok(())
    }

    /// Names starting with `prefix`, in order.
    pub fn plugin_list(
        &self,
        space: Space,
        app: &str,
        company: &str,
        prefix: &str,
    ) -> Result<Vec<String>, PluginDataError> {
        let entries = Self::entry_prefix(space, app, company);
        let mut names = Vec::new();
        for entry in self
            .space_tree(space)
            .scan_prefix(key(&entries, prefix.as_bytes()))
        {
            let (stored_key, _) = entry?;
            names.push(String::from_utf8_lossy(&stored_key[entries.len()..]).into_owned());
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Storage {
        Storage::open(&dir.join("data"), &dir.join("data/identity.txt")).unwrap()
    }

    fn installed(storage: &Storage, app: &str, company: &str) -> Generation {
        let install = super::super::Install {
            account_id: "acc".into(),
            installed_at: 1,
        };
        storage.install(app, company, &install, "key").unwrap()
    }

    #[test]
    fn data_and_secrets_are_scoped_to_app_and_company() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let (a1, a2, b1) = (
            installed(&storage, "a", "c1"),
            installed(&storage, "a", "c2"),
            installed(&storage, "b", "c1"),
        );
        for space in [Space::Data, Space::Secrets] {
            storage
                .plugin_set(space, "a", "c1", a1, "k", b"v1")
                .unwrap();
            storage
                .plugin_set(space, "a", "c2", a2, "k", b"v2")
                .unwrap();
            storage
                .plugin_set(space, "b", "c1", b1, "k", b"v3")
                .unwrap();
            assert_eq!(
                storage.plugin_get(space, "a", "c1", "k").unwrap().unwrap(),
                b"v1"
            );
            assert_eq!(
                storage.plugin_get(space, "a", "c2", "k").unwrap().unwrap(),
                b"v2"
            );
            assert_eq!(
                storage.plugin_get(space, "b", "c1", "k").unwrap().unwrap(),
                b"v3"
            );
            assert_eq!(storage.plugin_list(space, "a", "c1", "").unwrap(), ["k"]);
            storage.plugin_delete(space, "a", "c1", a1, "k").unwrap();
            assert!(storage.plugin_get(space, "a", "c1", "k").unwrap().is_none());
        }
    }

    #[test]
    fn secrets_are_encrypted_and_apart_from_the_api_key() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let generation = installed(&storage, "a", "c");
        storage
            .plugin_set(
                Space::Secrets,
                "a",
                "c",
                generation,
                "account_api_key",
                b"np_plain",
            )
            .unwrap();
        let raw: Vec<_> = storage.credentials.iter().map(|e| e.unwrap().1).collect();
        assert_eq!(raw.len(), 2);
        assert!(raw.iter().all(|v| v.starts_with(b"age-encryption.org/v1")));
        assert_eq!(storage.api_key("a", "c").unwrap().unwrap(), "key");
    }

    #[test]
    fn limits_are_enforced_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let g = installed(&storage, "a", "c");
        let quota = Space::Secrets.quota();
        let long_key = "k".repeat(quota.max_key_bytes + 1);
        let err = storage
            .plugin_set(Space::Secrets, "a", "c", g, &long_key, b"v")
            .unwrap_err();
        assert!(err.to_string().contains("1 to 256 bytes"), "{err}");
        let big = vec![0; quota.max_value_bytes + 1];
        let err = storage
            .plugin_set(Space::Secrets, "a", "c", g, "k", &big)
            .unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        for i in 0..quota.max_entries {
            storage
                .plugin_set(Space::Secrets, "a", "c", g, &format!("k{i}"), b"v")
                .unwrap();
        }
        let err = storage
            .plugin_set(Space::Secrets, "a", "c", g, "one-more", b"v")
            .unwrap_err();
        assert!(err.to_string().contains("most entries"), "{err}");
        // Replacing an existing entry is still allowed at the limit.
        storage
            .plugin_set(Space::Secrets, "a", "c", g, "k0", b"new")
            .unwrap();
    }

    #[test]
    fn uninstall_deletes_plugin_entries() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let g = installed(&storage, "a", "c");
        storage
            .plugin_set(Space::Data, "a", "c", g, "k", b"v")
            .unwrap();
        storage
            .plugin_set(Space::Secrets, "a", "c", g, "s", b"v")
            .unwrap();
        storage.uninstall("a", "c").unwrap();
        assert!(
            storage
                .plugin_list(Space::Data, "a", "c", "")
                .unwrap()
                .is_empty()
        );
        assert!(
            storage
                .plugin_list(Space::Secrets, "a", "c", "")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn writes_for_an_install_that_is_gone_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let old = installed(&storage, "a", "c");
        storage.uninstall("a", "c").unwrap();
        for space in [Space::Data, Space::Secrets] {
            let err = storage
                .plugin_set(space, "a", "c", old, "late", b"v")
                .unwrap_err();
            assert!(matches!(err, PluginDataError::Uninstalled(_)), "{err}");
            assert!(err.to_string().contains("uninstalled"), "{err}");
        }
        let new = installed(&storage, "a", "c");
        assert!(
            storage
                .plugin_set(Space::Data, "a", "c", old, "late", b"v")
                .is_err()
        );
        assert!(
            storage
                .plugin_delete(Space::Data, "a", "c", old, "late")
                .is_err()
        );
        storage
            .plugin_set(Space::Data, "a", "c", new, "k", b"v")
            .unwrap();
        assert_eq!(
            storage.plugin_list(Space::Data, "a", "c", "").unwrap(),
            ["k"]
        );
        assert!(
            storage
                .plugin_list(Space::Secrets, "a", "c", "")
                .unwrap()
                .is_empty()
        );
    }
}
