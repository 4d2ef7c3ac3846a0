//! Whom an instance acts for, and what its event allows: the (app, company)
//! its stored data is bound to, the install it may write for, its log
//! budget. Every capability of the instance reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Bound, EventScope};
use crate::plugin_text::LogBudget;
use crate::storage::{self, Generation, Lease, PluginDataError, Space, Storage, Tenant};

#[derive(Clone)]
pub struct Scope {
    storage: Arc<Storage>,
    bound: Bound,
    /// The install the event acts for; every write checks it is still there.
    install: Option<Generation>,
    lease: Option<Arc<Lease>>,
    wrote: Arc<AtomicBool>,
    store_unreachable: Arc<AtomicBool>,
    /// What the event may still log of its plugin's text.
    log_budget: Arc<LogBudget>,
}

impl Scope {
    pub fn new(storage: Arc<Storage>, bound: Bound, event: &EventScope) -> Self {
        Scope {
            storage,
            bound,
            install: event.install,
            lease: event.lease.clone(),
            wrote: event.wrote.clone(),
            store_unreachable: event.store_unreachable.clone(),
            log_budget: event.log_budget.clone(),
        }
    }

    pub fn bound(&self) -> &Bound {
        &self.bound
    }

    pub fn log_budget(&self) -> &LogBudget {
        &self.log_budget
    }

    /// The install the event acts for, and its generation: what a read
    /// that names the install (a webhook URL) needs.
    pub fn installed(&self) -> Result<(Tenant<'_>, Generation), String> {
        let tenant = self.tenant()?;
        let install = self
            .install
            .ok_or("this event is not for an installed company")?;
        Ok((tenant, install))
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

    /// The (app, company) stored data is bound to; a health check has none.
    pub fn tenant(&self) -> Result<Tenant<'_>, String> {
        Ok(Tenant::new(&self.bound.app, self.company()?))
    }

    pub async fn get(&self, space: Space, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.storage
            .plugin_get(space, self.tenant()?, key)
            .await
            .map_err(|e| self.failed(e))
    }

    pub async fn set(&self, space: Space, key: &str, value: &[u8]) -> Result<(), String> {
        let (tenant, install) = self.writable().await?;
        self.wrote.store(true, Ordering::Release);
        self.storage
            .plugin_set(space, tenant, install, key, value)
            .await
            .map_err(|e| self.failed(e))
    }

    pub async fn delete(&self, space: Space, key: &str) -> Result<(), String> {
        let (tenant, install) = self.writable().await?;
        self.wrote.store(true, Ordering::Release);
        self.storage
            .plugin_delete(space, tenant, install, key)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Whom a write is for, once it may happen: the install is there (the
    /// store checks it again in the write), and a scheduled run still holds
    /// its lease. The lease is checked just before the write, not in it: a
    /// write racing the takeover to the millisecond can still land.
    pub async fn writable(&self) -> Result<(Tenant<'_>, Generation), String> {
        let tenant = self.tenant()?;
        let install = self
            .install
            .ok_or("this event is not for an installed company: nothing can be stored")?;
        if let Some(lease) = &self.lease {
            match self.storage.holds(tenant, lease).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(
                        "this scheduled run lost its lease (its due time was run again \
                                elsewhere): nothing it writes is stored"
                            .into(),
                    );
                }
                Err(error) => return Err(self.failed(PluginDataError::Storage(error))),
            }
        }
        Ok((tenant, install))
    }

    /// Stores `value` as a new host entry `prefix` + a fresh id (what an app
    /// makes at run time: a schedule, a minted URL), while the tenant holds
    /// fewer than `max` under `prefix`: the id and what the store did.
    pub async fn add_host_entry(
        &self,
        prefix: &str,
        max: usize,
        value: &[u8],
    ) -> Result<(String, storage::Put), String> {
        let (tenant, generation) = self.writable().await?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let room = storage::Room {
            prefix,
            max_entries: max,
        };
        let name = format!("{prefix}{id}");
        let put = self
            .storage
            .put_host_entry(tenant, generation, &name, value, Some(room))
            .await
            .map_err(|error| self.store_failed(&error))?;
        Ok((id, put))
    }

    pub async fn list(&self, space: Space, prefix: &str) -> Result<Vec<String>, String> {
        self.storage
            .plugin_list(space, self.tenant()?, prefix)
            .await
            .map_err(|e| self.failed(e))
    }

    /// The plugin sees the limit's text, that the install is gone, or
    /// "storage failed"; the log gets the detail.
    fn failed(&self, error: PluginDataError) -> String {
        let Bound {
            app,
            company,
            request_id,
        } = &self.bound;
        match &error {
            PluginDataError::Storage(detail) => return self.store_failed(detail),
            PluginDataError::Uninstalled(_) => {
                tracing::warn!(%app, %company, %request_id, "plugin write refused: the company uninstalled the app while the event ran")
            }
            PluginDataError::Limit(_) => {}
        }
        error.to_string()
    }

    /// A store call failed: logged, and when the store is unreachable the
    /// event is marked, so Keruj gets 503 whatever the plugin answers (it
    /// answered without its data). The plugin sees "storage failed".
    pub fn store_failed(&self, detail: &anyhow::Error) -> String {
        let Bound {
            app,
            company,
            request_id,
        } = &self.bound;
        tracing::error!(%app, %company, %request_id, "plugin storage call failed: {detail:#}");
        if storage::is_unreachable(detail) {
            self.store_unreachable.store(true, Ordering::Release);
        }
        "storage failed".into()
    }
}
