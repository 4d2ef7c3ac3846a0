//! What plugins store through the `kv` and `secrets` capabilities, each entry
//! under its install's prefix, with limits on keys, values and entries.

use super::{Generation, Put, Room, Storage, Tenant, Tree, Uninstalled};

/// Which store a plugin's entry lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Plain data (`kv`), with the plugin's other data.
    Data,
    /// Age-encrypted values (`secrets`), with the credentials.
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
    fn tag(self) -> &'static str {
        match self {
            Space::Data => "kv/",
            Space::Secrets => "secret/",
        }
    }

    fn tree(self) -> Tree {
        match self {
            Space::Data => Tree::Data,
            Space::Secrets => Tree::Credentials,
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

impl Storage {
    pub async fn plugin_get(
        &self,
        space: Space,
        tenant: Tenant<'_>,
        name: &str,
    ) -> Result<Option<Vec<u8>>, PluginDataError> {
        let entry = [space.tag(), name].concat();
        let stored = self.get(tenant.entry(space.tree(), &entry)).await?;
        match (stored, space) {
            (None, _) => Ok(None),
            (Some(value), Space::Data) => Ok(Some(value)),
            (Some(sealed), Space::Secrets) => Ok(Some(self.vault.unseal(&sealed)?)),
        }
    }

    /// Stores `name` for the install `generation`, in one transaction with
    /// the check that this install is still there.
    pub async fn plugin_set(
        &self,
        space: Space,
        tenant: Tenant<'_>,
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
        let stored = match space {
            Space::Data => value.to_vec(),
            Space::Secrets => self.vault.seal(value)?,
        };
        let entry = [space.tag(), name].concat();
        let room = Room {
            prefix: space.tag(),
            max_entries: quota.max_entries,
        };
        let at = tenant.entry(space.tree(), &entry);
        let put = self.put(at, generation, &stored, Some(room)).await?;
        match put {
            Put::Stored => Ok(()),
            Put::Full => Err(PluginDataError::Limit(format!(
                "this company already holds the most entries allowed ({})",
                quota.max_entries
            ))),
            Put::Uninstalled => Err(Uninstalled.into()),
        }
    }

    /// Removes `name` for the install `generation`, checked like [`Storage::plugin_set`].
    pub async fn plugin_delete(
        &self,
        space: Space,
        tenant: Tenant<'_>,
        generation: Generation,
        name: &str,
    ) -> Result<(), PluginDataError> {
        let entry = [space.tag(), name].concat();
        self.delete(tenant.entry(space.tree(), &entry), generation)
            .await??;
        Ok(())
    }

    /// Names starting with `prefix`, in order.
    pub async fn plugin_list(
        &self,
        space: Space,
        tenant: Tenant<'_>,
        prefix: &str,
    ) -> Result<Vec<String>, PluginDataError> {
        let entries = [space.tag(), prefix].concat();
        let names = self.list(tenant, space.tree(), &entries).await?;
        let tag = space.tag().len();
        Ok(names
            .into_iter()
            .map(|name| name[tag..].to_owned())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Storage {
        Storage::open(&dir.join("data"), &dir.join("data/identity.txt")).unwrap()
    }

    async fn installed(storage: &Storage, app: &str, company: &str) -> Generation {
        let install = super::super::Install {
            account_id: "acc".into(),
            installed_at: 1,
        };
        storage
            .install(Tenant::new(app, company), &install, "key")
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn data_and_secrets_are_scoped_to_app_and_company() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let (a1, a2, b1) = (
            installed(&storage, "a", "c1").await,
            installed(&storage, "a", "c2").await,
            installed(&storage, "b", "c1").await,
        );
        for space in [Space::Data, Space::Secrets] {
            storage
                .plugin_set(space, Tenant::new("a", "c1"), a1, "k", b"v1")
                .await
                .unwrap();
            storage
                .plugin_set(space, Tenant::new("a", "c2"), a2, "k", b"v2")
                .await
                .unwrap();
            storage
                .plugin_set(space, Tenant::new("b", "c1"), b1, "k", b"v3")
                .await
                .unwrap();
            assert_eq!(
                storage
                    .plugin_get(space, Tenant::new("a", "c1"), "k")
                    .await
                    .unwrap()
                    .unwrap(),
                b"v1"
            );
            assert_eq!(
                storage
                    .plugin_get(space, Tenant::new("a", "c2"), "k")
                    .await
                    .unwrap()
                    .unwrap(),
                b"v2"
            );
            assert_eq!(
                storage
                    .plugin_get(space, Tenant::new("b", "c1"), "k")
                    .await
                    .unwrap()
                    .unwrap(),
                b"v3"
            );
            assert_eq!(
                storage
                    .plugin_list(space, Tenant::new("a", "c1"), "")
                    .await
                    .unwrap(),
                ["k"]
            );
            storage
                .plugin_delete(space, Tenant::new("a", "c1"), a1, "k")
                .await
                .unwrap();
            assert!(
                storage
                    .plugin_get(space, Tenant::new("a", "c1"), "k")
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[tokio::test]
    async fn secrets_are_encrypted_and_apart_from_the_api_key() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, db) = Storage::open_raw(
            &dir.path().join("data"),
            &dir.path().join("data/identity.txt"),
        );
        let generation = installed(&storage, "a", "c").await;
        storage
            .plugin_set(
                Space::Secrets,
                Tenant::new("a", "c"),
                generation,
                "account_api_key",
                b"np_plain",
            )
            .await
            .unwrap();
        let credentials = db.open_tree("credentials").unwrap();
        let raw: Vec<_> = credentials.iter().map(|e| e.unwrap().1).collect();
        assert_eq!(raw.len(), 2);
        assert!(raw.iter().all(|v| v.starts_with(b"age-encryption.org/v1")));
        assert_eq!(
            storage
                .api_key(Tenant::new("a", "c"))
                .await
                .unwrap()
                .unwrap(),
            "key"
        );
    }

    #[tokio::test]
    async fn limits_are_enforced_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let g = installed(&storage, "a", "c").await;
        let quota = Space::Secrets.quota();
        let long_key = "k".repeat(quota.max_key_bytes + 1);
        let err = storage
            .plugin_set(Space::Secrets, Tenant::new("a", "c"), g, &long_key, b"v")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("1 to 256 bytes"), "{err}");
        let big = vec![0; quota.max_value_bytes + 1];
        let err = storage
            .plugin_set(Space::Secrets, Tenant::new("a", "c"), g, "k", &big)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        for i in 0..quota.max_entries {
            storage
                .plugin_set(
                    Space::Secrets,
                    Tenant::new("a", "c"),
                    g,
                    &format!("k{i}"),
                    b"v",
                )
                .await
                .unwrap();
        }
        let err = storage
            .plugin_set(Space::Secrets, Tenant::new("a", "c"), g, "one-more", b"v")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("most entries"), "{err}");
        // Replacing an existing entry is still allowed at the limit.
        storage
            .plugin_set(Space::Secrets, Tenant::new("a", "c"), g, "k0", b"new")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn uninstall_deletes_plugin_entries() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let g = installed(&storage, "a", "c").await;
        storage
            .plugin_set(Space::Data, Tenant::new("a", "c"), g, "k", b"v")
            .await
            .unwrap();
        storage
            .plugin_set(Space::Secrets, Tenant::new("a", "c"), g, "s", b"v")
            .await
            .unwrap();
        storage.uninstall(Tenant::new("a", "c")).await.unwrap();
        assert!(
            storage
                .plugin_list(Space::Data, Tenant::new("a", "c"), "")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            storage
                .plugin_list(Space::Secrets, Tenant::new("a", "c"), "")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn writes_for_an_install_that_is_gone_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let old = installed(&storage, "a", "c").await;
        storage.uninstall(Tenant::new("a", "c")).await.unwrap();
        for space in [Space::Data, Space::Secrets] {
            let err = storage
                .plugin_set(space, Tenant::new("a", "c"), old, "late", b"v")
                .await
                .unwrap_err();
            assert!(matches!(err, PluginDataError::Uninstalled(_)), "{err}");
            assert!(err.to_string().contains("uninstalled"), "{err}");
        }
        let new = installed(&storage, "a", "c").await;
        assert!(
            storage
                .plugin_set(Space::Data, Tenant::new("a", "c"), old, "late", b"v")
                .await
                .is_err()
        );
        assert!(
            storage
                .plugin_delete(Space::Data, Tenant::new("a", "c"), old, "late")
                .await
                .is_err()
        );
        storage
            .plugin_set(Space::Data, Tenant::new("a", "c"), new, "k", b"v")
            .await
            .unwrap();
        assert_eq!(
            storage
                .plugin_list(Space::Data, Tenant::new("a", "c"), "")
                .await
                .unwrap(),
            ["k"]
        );
        assert!(
            storage
                .plugin_list(Space::Secrets, Tenant::new("a", "c"), "")
                .await
                .unwrap()
                .is_empty()
        );
    }
}
