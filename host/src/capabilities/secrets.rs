//! `keruj:plugin/secrets`: like `kv`, but every value is stored age-encrypted.

use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use crate::bindings::keruj::plugin::secrets;
use crate::storage::Space;

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    secrets::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl secrets::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<Option<String>, String> {
        match self.scope.get(Space::Secrets, &name).await? {
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| "the stored secret is not text".into()),
            None => Ok(None),
        }
    }

    async fn set(&mut self, name: String, value: String) -> Result<(), String> {
        self.scope
            .set(Space::Secrets, &name, value.as_bytes())
            .await
    }

    async fn delete(&mut self, name: String) -> Result<(), String> {
        self.scope.delete(Space::Secrets, &name).await
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, String> {
        self.scope.list(Space::Secrets, &prefix).await
    }
}
