//! `order_by` across replicas: before a delivery of a key runs, its replica
//! claims the key in the store (a host entry of the install, changed by
//! compare-and-swap), so that two replicas never run deliveries of one key
//! at once. In a replica, the key's FIFO turn ([`super::order`]) comes
//! first, so a replica contends for the claim with one delivery per key;
//! between replicas the claim goes to whichever looks first once it is
//! free: one at a time holds everywhere, arrival order within a replica.
//!
//! The claim holds a lease of twice the app's time limit plus 5 s (a run is
//! bounded by that limit): the claim of a replica that died mid-run is
//! taken over once it has run out. It is deleted when the run ends;
//! claims left by replicas that died are deleted by the pruning of
//! delivery ids ([`super::dedup`]) a window after they ran out.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::storage::{Generation, Lease, Storage, Swap, Tenant};

/// Where the claims of keys live, under the install's host entries.
pub(super) const PREFIX: &str = "order/";
/// Added to a claim's lease beyond the app's time limit.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// The longest pause between two looks at a claim held elsewhere.
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// A claim as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Held {
    holder: String,
    /// When the lease runs out (ms since the epoch).
    pub(super) until: i64,
}

/// Why a claim was not taken.
pub(super) enum NotClaimed {
    /// Another replica held it until the deadline.
    Held,
    /// The install is gone.
    Uninstalled,
}

/// The claim's entry name for `value` of `webhook`.
fn key(webhook: &str, value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    format!("{PREFIX}{webhook}/{}", hex::encode(&digest[..16]))
}

/// Claims `value` of `webhook` for a run bounded by `time_limit`, looking
/// again (50 ms, doubling to 500 ms) while another replica holds it, until
/// `deadline`.
pub(super) async fn claim(
    storage: &Storage,
    tenant: Tenant<'_>,
    generation: Generation,
    (webhook, value): (&str, &str),
    time_limit: Duration,
    deadline: Instant,
) -> anyhow::Result<Result<Lease, NotClaimed>> {
    let key = key(webhook, value);
    let holder = uuid::Uuid::new_v4().simple().to_string();
    let lease_ms = (time_limit * 2 + LEASE_MARGIN).as_millis() as i64;
    let mut pause = Duration::from_millis(50);
    loop {
        let now = Timestamp::now().as_millisecond();
        let stored = storage.host_entry(tenant, &key).await?;
        let held = stored
            .as_deref()
            .and_then(|bytes| serde_json::from_slice::<Held>(bytes).ok())
            .is_some_and(|held| held.until > now);
        if !held {
            let claim = serde_json::to_vec(&Held {
                holder: holder.clone(),
                until: now + lease_ms,
            })?;
            match storage
                .swap_host_entry(tenant, generation, &key, stored.as_deref(), &claim)
                .await?
            {
                Swap::Swapped => return Ok(Ok(Lease { key, claim })),
                Swap::Lost => continue, // another replica took it: look again
                Swap::Uninstalled => return Ok(Err(NotClaimed::Uninstalled)),
            }
        }
        if Instant::now() + pause > deadline {
            return Ok(Err(NotClaimed::Held));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Deletes the claim if it is still this run's. (A replica frozen past
/// its lease, whose key was taken over meanwhile, could delete the new
/// claim between the read and the delete: the same bound as a scheduled
/// run's lease.)
pub(super) async fn release(
    storage: &Storage,
    tenant: Tenant<'_>,
    generation: Generation,
    lease: &Lease,
) {
    if storage.holds(tenant, lease).await.unwrap_or(false) {
        let _ = storage
            .delete_host_entry(tenant, generation, &lease.key)
            .await;
    }
}
