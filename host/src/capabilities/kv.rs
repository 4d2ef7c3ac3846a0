//! `keruj:plugin/kv`: plain data, scoped to the event's (app, company).

use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use crate::bindings::keruj::plugin::kv;
use crate::storage::Space;

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    kv::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl kv::Host for InstanceState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        self.scope.get(Space::Data, &key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.scope.set(Space::Data, &key, &value).await
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        self.scope.delete(Space::Data, &key).await
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, String> {
        self.scope.list(Space::Data, &prefix).await
    }
}
