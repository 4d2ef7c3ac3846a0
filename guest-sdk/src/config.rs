//! The operator's non-secret settings for this app: the `[config]` table of
//! its sidecar `<app>.toml`.

use crate::__private::bindings::keruj::plugin::config;

/// The setting `key`, if the operator set it.
pub fn get(key: &str) -> Option<String> {
    config::get(key)
}

/// Every setting, sorted by key.
pub fn all() -> Vec<(String, String)> {
    config::all()
}
