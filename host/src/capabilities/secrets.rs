//! `keruj:plugin/secrets`: like `kv`, but every value is stored age-encrypted.

use super::Scope;
use crate::runtime::bindings_for_capabilities::secrets::Host;
use crate::storage::Space;

pub struct SecretsState(pub Scope);

impl Host for SecretsState {
    async fn get(&mut self, name: String) -> Result<Option<String>, String> {
        match self.0.get(Space::Secrets, &name).await? {
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "the stored secret is not text".into()),
            None => Ok(None),
        }
    }

    async fn set(&mut self, name: String, value: String) -> Result<(), String> {
        self.0.set(Space::Secrets, &name, value.as_bytes()).await
    }

    async fn delete(&mut self, name: String) -> Result<(), String> {
        self.0.delete(Space::Secrets, &name).await
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, String> {
        self.0.list(Space::Secrets, &prefix).await
    }
}
