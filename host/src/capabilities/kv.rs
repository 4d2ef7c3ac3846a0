//! `keruj:plugin/kv`: plain data, scoped to the event's (app, company).

use super::Scope;
use crate::runtime::bindings_for_capabilities::kv::Host;
use crate::storage::Space;

pub struct KvState(pub Scope);

impl Host for KvState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        self.0.get(Space::Data, &key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.0.set(Space::Data, &key, &value).await
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        self.0.delete(Space::Data, &key).await
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, String> {
        self.0.list(Space::Data, &prefix).await
    }
}
