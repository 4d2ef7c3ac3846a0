//! `keruj:plugin/config`: the `[config]` table of the app's sidecar.

use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use crate::bindings::keruj::plugin::config;

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    config::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl config::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn all(&mut self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
