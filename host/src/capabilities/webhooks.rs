//! `keruj:plugin/webhooks` (0.2.0): URLs an app mints at run time for the
//! event's company, each delivering as one of its sidecar's `[[webhook]]`s
//! (Atlassian Forge's `getUrl`, with verification). A minted URL is live
//! while its record `minted/<key>` is among the install's host entries:
//! revoking deletes it, and an uninstall deletes it with the rest.

use serde::{Deserialize, Serialize};
use wasmtime::component::{HasSelf, Linker};

use super::InstanceState;
use super::webhook_urls::{HookTarget, WebhookUrls};
use crate::bindings::keruj::plugin::webhooks::{self, Minted as MintedUrl};
use crate::storage::{Generation, Put, Storage, Tenant};

/// URLs one company's app may have minted and not revoked.
pub const MAX_MINTED: usize = 50;
/// The longest label, in bytes.
pub const MAX_LABEL_BYTES: usize = 64;
/// Where the records live among the install's host entries.
const PREFIX: &str = "minted/";

/// What the host keeps of a minted URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Minted {
    /// The `[[webhook]]` it delivers as.
    pub name: String,
    pub label: String,
    /// When it was minted (ms since the epoch): the order `all` gives.
    pub at: i64,
}

/// The record of the minted URL `key`, if it is live.
pub async fn minted(
    storage: &Storage,
    tenant: Tenant<'_>,
    key: &str,
) -> anyhow::Result<Option<Minted>> {
    let stored = storage
        .host_entry(tenant, &format!("{PREFIX}{key}"))
        .await?;
    Ok(stored.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// The live URLs minted for the tenant's install `generation`, oldest
/// first: (the `[[webhook]]` name, the label, the URL).
pub async fn all_minted(
    storage: &Storage,
    urls: &WebhookUrls,
    tenant: Tenant<'_>,
    generation: Generation,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut found = Vec::new();
    for name in storage.host_entry_names(tenant, PREFIX).await? {
        let key = name.trim_start_matches(PREFIX);
        if let Some(record) = minted(storage, tenant, key).await? {
            found.push((record, key.to_owned()));
        }
    }
    found.sort_by_key(|(record, _)| record.at);
    Ok(found
        .into_iter()
        .map(|(record, key)| {
            let url = urls.url(&HookTarget {
                app: tenant.app.to_owned(),
                company: tenant.company.to_owned(),
                name: record.name.clone(),
                generation,
                minted: Some(key),
            });
            (record.name, record.label, url)
        })
        .collect())
}

pub(super) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    webhooks::add_to_linker::<_, HasSelf<InstanceState>>(linker, |state| state)
}

impl webhooks::Host for InstanceState {
    async fn mint(&mut self, name: String, label: String) -> Result<String, String> {
        if !self.webhooks.iter().any(|webhook| webhook.name == name) {
            return Err(format!(
                "the app's sidecar has no [[webhook]] named {name:?} for the URL to deliver as"
            ));
        }
        if label.len() > MAX_LABEL_BYTES {
            return Err(format!("a label is at most {MAX_LABEL_BYTES} bytes"));
        }
        let record = Minted {
            name: name.clone(),
            label,
            at: jiff::Timestamp::now().as_millisecond(),
        };
        let bytes = serde_json::to_vec(&record).expect("a record serializes");
        let (key, put) = self
            .scope
            .add_host_entry(PREFIX, MAX_MINTED, &bytes)
            .await?;
        match put {
            Put::Stored => {
                let (_, generation) = self.scope.installed()?;
                Ok(self.minted_url(generation, name, key))
            }
            Put::Full => Err(format!(
                "this company already has {MAX_MINTED} minted URLs: revoke one first"
            )),
            Put::Uninstalled => Err("the company uninstalled the app: nothing is minted".into()),
        }
    }

    async fn all(&mut self) -> Result<Vec<MintedUrl>, String> {
        let (tenant, generation) = self.scope.installed()?;
        let services = &self.services;
        let found = all_minted(
            &services.storage,
            &services.webhook_urls,
            tenant,
            generation,
        )
        .await
        .map_err(|error| self.scope.store_failed(&error))?;
        Ok(found
            .into_iter()
            .map(|(name, label, url)| MintedUrl { name, label, url })
            .collect())
    }

    async fn revoke(&mut self, url: String) -> Result<bool, String> {
        let (tenant, generation) = self.scope.writable().await?;
        let urls = &self.services.webhook_urls;
        let id = url.rsplit('/').next().unwrap_or_default();
        let Some(target) = urls.open(id) else {
            return Ok(false);
        };
        let bound = self.scope.bound();
        let Some(key) = target.minted.filter(|_| {
            *target.app == *bound.app
                && *target.company == *bound.company
                && target.generation == generation
        }) else {
            return Ok(false);
        };
        let storage = self.services.storage.clone();
        let live = minted(&storage, tenant, &key)
            .await
            .map_err(|error| self.scope.store_failed(&error))?;
        if live.is_none() {
            return Ok(false);
        }
        match storage
            .delete_host_entry(tenant, generation, &format!("{PREFIX}{key}"))
            .await
        {
            Ok(Ok(())) => Ok(true),
            Ok(Err(_uninstalled)) => Ok(false),
            Err(error) => Err(self.scope.store_failed(&error)),
        }
    }
}

impl InstanceState {
    fn minted_url(
        &self,
        generation: crate::storage::Generation,
        name: String,
        key: String,
    ) -> String {
        let bound = self.scope.bound();
        self.services.webhook_urls.url(&HookTarget {
            app: bound.app.to_string(),
            company: bound.company.to_string(),
            name,
            generation,
            minted: Some(key),
        })
    }
}
