//! The (app, company) an instance's stored data is bound to, shared by the
//! `kv`, `secrets` and `keruj-api` capabilities.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Bound;
use crate::storage::{PluginDataError, Space, Storage};

#[derive(Clone)]
pub struct Scope {
    storage: Arc<Storage>,
    bound: Bound,
    wrote: Arc<AtomicBool>,
}

impl Scope {
    pub fn new(storage: Arc<Storage>, bound: Bound, wrote: Arc<AtomicBool>) -> Self {
        Scope {
            storage,
            bound,
            wrote,
        }
    }

    pub fn bound(&self) -> &Bound {
        &self.bound
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The company to act for; a health check has none.
    pub fn company(&self) -> Result<&str, String> {
        match &*self.bound.company {
            "" => Err("stored data is not available outside an event for a company".into()),
            company => Ok(company),
        }
    }

    pub fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>, String> {
        let company = self.company()?;
        self.storage
            .plugin_get(space, &self.bound.app, company, key)
            .map_err(|e| self.failed(e))
    }

    pub fn set(&self, space: Space, key: &str, value: &[u8]) -> Result<(), String> {
        let company = self.company()?;
        self.wrote.store(true, Ordering::Release);
        self.storage
            .plugin_set(space, &self.bound.app, company, key, value)
            .map_err(|e| self.failed(e))
    }

    pub fn delete(&self, space: Space, key: &str) -> Result<(), String> {
        let company = self.company()?;
        self.wrote.store(true, Ordering::Release);
        self.storage
            .plugin_delete(space, &self.bound.app, company, key)
            .map_err(|e| self.failed(e))
    }

    pub fn list(&self, space: Space, prefix: &str) -> Result<Vec<String>, String> {
        let company = self.company()?;
        self.storage
            .plugin_list(space, &self.bound.app, company, prefix)
            .map_err(|e| self.failed(e))
    }

    /// The plugin sees the limit's text or "storage failed"; the log gets the detail.
    fn failed(&self, error: PluginDataError) -> String {
        if let PluginDataError::Storage(detail) = &error {
            let Bound {
                app,
                company,
                request_id,
            } = &self.bound;
            tracing::error!(%app, %company, %request_id, "plugin storage call failed: {detail:#}");
        }
        error.to_string()
    }
}
