//! `keruj:plugin/config`: the `[config]` table of the app's sidecar.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::AppSettings;
use crate::runtime::bindings_for_capabilities::config::Host;

pub struct ConfigState {
    config: Arc<BTreeMap<String, String>>,
}

impl ConfigState {
    pub fn new(settings: &AppSettings) -> Self {
        ConfigState {
            config: settings.config.clone(),
        }
    }
}

impl Host for ConfigState {
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
