//! The host's own entries of an install, beside the plugin's: what the
//! triggers record (claims of scheduled runs, webhook deliveries seen).
//! They live under `host/` in the data tree, so a plugin's `kv/` names
//! never meet them, and an uninstall deletes them with the rest.

use super::metrics::Op;
use super::{Generation, Storage, Swap, Tenant, Tree, Uninstalled};

const PREFIX: &str = "host/";

impl Storage {
    /// The host's entry `name` of the tenant, if any.
    pub async fn host_entry(
        &self,
        tenant: Tenant<'_>,
        name: &str,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let name = format!("{PREFIX}{name}");
        self.timed(Op::get, self.store.get(tenant.entry(Tree::Data, &name)))
            .await
    }

    /// Stores `new` as the host's entry `name` if it holds `expected` now
    /// (`None`: absent), for the install `generation`: one replica wins.
    pub async fn swap_host_entry(
        &self,
        tenant: Tenant<'_>,
        generation: Generation,
        name: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> anyhow::Result<Swap> {
        let name = format!("{PREFIX}{name}");
        let at = tenant.entry(Tree::Data, &name);
        let swap = self
            .timed(Op::swap, self.store.swap(at, generation, expected, new))
            .await?;
        if swap == Swap::Uninstalled {
            self.installs.forget(tenant);
        }
        Ok(swap)
    }

    /// The names of the host's entries under `prefix` (without `host/`), in
    /// byte order: what pruning walks.
    pub async fn host_entry_names(
        &self,
        tenant: Tenant<'_>,
        prefix: &str,
    ) -> anyhow::Result<Vec<String>> {
        let prefix = format!("{PREFIX}{prefix}");
        let names = self
            .timed(Op::list, self.store.list(tenant, Tree::Data, &prefix))
            .await?;
        Ok(names
            .into_iter()
            .filter_map(|name| name.strip_prefix(PREFIX).map(str::to_owned))
            .collect())
    }

    /// Deletes the host's entry `name`, for the install `generation`.
    pub async fn delete_host_entry(
        &self,
        tenant: Tenant<'_>,
        generation: Generation,
        name: &str,
    ) -> anyhow::Result<Result<(), Uninstalled>> {
        let name = format!("{PREFIX}{name}");
        self.timed(
            Op::delete,
            self.store
                .delete(tenant.entry(Tree::Data, &name), generation),
        )
        .await
    }

    /// The companies that have `app` installed.
    pub async fn companies(&self, app: &str) -> anyhow::Result<Vec<String>> {
        self.timed(Op::companies, self.store.companies(app)).await
    }
}

impl Storage {
    /// A key for `purpose` derived from the age identity (see
    /// [`Vault::derive_key`](super::vault::Vault::derive_key)).
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        self.vault.derive_key(purpose)
    }
}

/// What a scheduled run holds while it runs: its claim, as stored. Once
/// the record holds anything else (the lease ran out and another replica
/// claimed the due time again, or the run was settled), the run has lost
/// it, and its writes are refused (see `capabilities::scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The host entry of the claim.
    pub key: String,
    /// The claim's bytes when it was taken.
    pub claim: Vec<u8>,
}

impl Storage {
    /// Whether `lease` still holds: the claim is as it was taken.
    pub async fn holds(&self, tenant: Tenant<'_>, lease: &Lease) -> anyhow::Result<bool> {
        Ok(self.host_entry(tenant, &lease.key).await?.as_deref() == Some(lease.claim.as_slice()))
    }
}
