//! Delivery ids seen, as host entries of the install, and their pruning.
//!
//! A record is keyed by the window-sized slot of time it was made in:
//! `webhook/<slot>/<name>/<digest>`, `<slot>` the slot's start (ms since
//! the epoch, a multiple of the window). A record still within the window
//! is in the current slot or the one before, so a delivery reads at most
//! two entries; every slot older than those holds only expired records,
//! and pruning deletes them by name, without reading one. The install's
//! `webhook-pruned` entry says through which slot that is done (and for
//! which window), so the work happens once per slot per install, whichever
//! replica does it, and each replica looks at most once per hour (or per
//! window, if shorter) per install, on a delivery. Records of the first
//! version (`webhook/<name>/<digest>`, no slot) go at the first pruning.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ACCEPTED, Answer, IN_FLIGHT, UNKNOWN, lease};
use crate::storage::{Generation, Storage, Swap, Tenant};

/// Where the records of delivery ids live, under the install's host entries.
const PREFIX: &str = "webhook/";
/// Through which slot an install's records are pruned.
const PRUNED: &str = "webhook-pruned";
/// The most a replica looks for expired records of one install.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What is remembered of a delivery id.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(super) struct Seen {
    /// When the first delivery arrived (ms since the epoch).
    at: i64,
    /// `None` while it runs; then the status its caller got.
    status: Option<u16>,
}

/// A delivery id recorded as running: what settles it.
pub(super) struct Claim {
    key: String,
    record: Seen,
}

/// The dedup window and the installs this replica looked at lately.
pub(super) struct Dedup {
    window: Duration,
    /// When this replica last looked for expired records of an install.
    looked: Mutex<HashMap<(String, String), Instant>>,
}

impl Dedup {
    pub(super) fn new(window: Duration) -> Dedup {
        Dedup {
            window: window.max(Duration::from_millis(1)),
            looked: Mutex::default(),
        }
    }

    fn window_ms(&self) -> i64 {
        self.window.as_millis() as i64
    }

    /// The start of the slot `at` falls in.
    fn slot(&self, at: Timestamp) -> i64 {
        let ms = at.as_millisecond();
        ms - ms.rem_euclid(self.window_ms())
    }

    fn key(slot: i64, webhook: &str, delivery: &str) -> String {
        let digest = Sha256::digest(delivery.as_bytes());
        format!(
            "{PREFIX}{slot:013}/{webhook}/{}",
            hex::encode(&digest[..16])
        )
    }

    fn fresh(&self, seen: &Seen, now: Timestamp) -> bool {
        now.as_millisecond() - seen.at < self.window.as_millis() as i64
    }

    /// Records `delivery` of `webhook` as running: `Ok(claim)` for its first
    /// delivery (or one after a failed or expired one), else the answer the
    /// first one got (or gets: 409 while it runs).
    pub(super) async fn claim(
        &self,
        storage: &Storage,
        tenant: Tenant<'_>,
        generation: Generation,
        (webhook, delivery): (&str, &str),
        now: Timestamp,
    ) -> anyhow::Result<Result<Claim, Answer>> {
        let slot = self.slot(now);
        let key = Dedup::key(slot, webhook, delivery);
        let stored = storage.host_entry(tenant, &key).await?;
        let earlier = match &stored {
            Some(bytes) => Some(bytes.clone()),
            None => {
                let before = Dedup::key(slot - self.window_ms(), webhook, delivery);
                storage.host_entry(tenant, &before).await?
            }
        };
        if let Some(bytes) = &earlier {
            let seen: Option<Seen> = serde_json::from_slice(bytes).ok();
            match seen.filter(|seen| self.fresh(seen, now)).map(|s| s.status) {
                None => {} // expired or unreadable
                Some(None) => return Ok(Err(IN_FLIGHT)),
                Some(Some(200)) => return Ok(Err(ACCEPTED)),
                Some(Some(_)) => {} // it failed: this retry runs
            }
        }
        let record = Seen {
            at: now.as_millisecond(),
            status: None,
        };
        let new = serde_json::to_vec(&record)?;
        Ok(
            match storage
                .swap_host_entry(tenant, generation, &key, stored.as_deref(), &new)
                .await?
            {
                Swap::Swapped => Ok(Claim { key, record }),
                Swap::Lost => Err(IN_FLIGHT),
                Swap::Uninstalled => Err(UNKNOWN),
            },
        )
    }

    /// Records what the caller of a claimed delivery got. One that failed
    /// is not answered again: the provider's retry runs.
    pub(super) async fn settle(
        &self,
        storage: &Storage,
        tenant: Tenant<'_>,
        generation: Generation,
        claim: Claim,
        status: u16,
    ) {
        let settled = Seen {
            status: Some(status),
            ..claim.record
        };
        let _ = storage
            .swap_host_entry(
                tenant,
                generation,
                &claim.key,
                Some(&serde_json::to_vec(&claim.record).expect("serializes")),
                &serde_json::to_vec(&settled).expect("serializes"),
            )
            .await;
    }

    /// Deletes the install's records older than the window, if this replica
    /// has not looked lately: how many. Errors are for the log; the next
    /// look tries again.
    pub(super) async fn prune(
        &self,
        storage: &Storage,
        tenant: Tenant<'_>,
        generation: Generation,
        now: Timestamp,
    ) -> anyhow::Result<u64> {
        if !self.time_to_look(tenant) {
            return Ok(0);
        }
        // Every record of a slot up to `through` is older than the window.
        let window = self.window_ms();
        let through = self.slot(now) - 2 * window;
        let marker = storage.host_entry(tenant, PRUNED).await?;
        // "<window> <through>", both in ms.
        let done: Option<i64> = marker.as_deref().and_then(|bytes| {
            let (w, done) = std::str::from_utf8(bytes).ok()?.split_once(' ')?;
            (w.parse::<i64>().ok()? == window).then(|| done.parse().ok())?
        });
        if done.is_some_and(|done| done >= through) {
            return Ok(0);
        }
        let names = match done {
            // Slots since the last pruning, one listing each.
            Some(done) if (through - done) / window <= 64 => {
                let mut names = Vec::new();
                let mut slot = done + window;
                while slot <= through {
                    let prefix = format!("{PREFIX}{slot:013}/");
                    names.extend(storage.host_entry_names(tenant, &prefix).await?);
                    slot += window;
                }
                names
            }
            // First time for the install, a long pause, another window: all.
            _ => storage.host_entry_names(tenant, PREFIX).await?,
        };
        let mut deleted = 0;
        for name in names {
            let rest = name.strip_prefix(PREFIX).unwrap_or_default();
            let slot = rest.split('/').next().filter(|slot| slot.len() == 13);
            // No slot: a record of the first version, no longer read.
            let expired = slot
                .and_then(|slot| slot.parse::<i64>().ok())
                .is_none_or(|slot| slot <= through);
            if !expired {
                continue;
            }
            match storage.delete_host_entry(tenant, generation, &name).await? {
                Ok(()) => deleted += 1,
                Err(_uninstalled) => return Ok(deleted),
            }
        }
        deleted += self.prune_claims(storage, tenant, generation, now).await?;
        storage
            .swap_host_entry(
                tenant,
                generation,
                PRUNED,
                marker.as_deref(),
                format!("{window} {through}").as_bytes(),
            )
            .await?;
        Ok(deleted)
    }

    /// Deletes `order_by` claims whose lease ran out a window ago: those of
    /// replicas that died mid-run (a run that ends deletes its own).
    async fn prune_claims(
        &self,
        storage: &Storage,
        tenant: Tenant<'_>,
        generation: Generation,
        now: Timestamp,
    ) -> anyhow::Result<u64> {
        let before = now.as_millisecond() - self.window_ms();
        let mut deleted = 0;
        for name in storage.host_entry_names(tenant, lease::PREFIX).await? {
            let held = storage.host_entry(tenant, &name).await?;
            let stale = held
                .as_deref()
                .and_then(|bytes| serde_json::from_slice::<lease::Held>(bytes).ok())
                .is_none_or(|held| held.until < before);
            if stale
                && storage
                    .delete_host_entry(tenant, generation, &name)
                    .await?
                    .is_ok()
            {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Whether to look for the install's expired records now (at most once
    /// per hour, or per window if shorter); forgets installs not looked at
    /// within that, so the table holds only installs delivered to lately.
    fn time_to_look(&self, tenant: Tenant<'_>) -> bool {
        let every = PRUNE_EVERY.min(self.window);
        let now = Instant::now();
        let mut looked = self.looked.lock().expect("not poisoned");
        let id = (tenant.app.to_owned(), tenant.company.to_owned());
        if looked.get(&id).is_some_and(|at| now - *at < every) {
            return false;
        }
        if looked.len() >= 1024 {
            looked.retain(|_, at| now - *at < every);
        }
        looked.insert(id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Install;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// On sled, with the clock moved by hand: an id deduplicates across a
    /// slot boundary within the window, runs again past it, and pruning
    /// deletes only slots wholly past the window (and dead replicas' claims).
    #[tokio::test]
    async fn ids_deduplicate_within_the_window_and_expired_slots_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let storage = Storage::open(&data, &data.join("identity.txt")).unwrap();
        let tenant = Tenant::new("shop", "co");
        let install = Install {
            account_id: "acc".into(),
            installed_at: 1,
        };
        let generation = storage.install(tenant, &install, "key").await.unwrap();
        let dedup = Dedup::new(Duration::from_secs(3600));
        let claim = |id: &'static str, now: &'static str| {
            let (storage, dedup) = (&storage, &dedup);
            async move {
                dedup
                    .claim(storage, tenant, generation, ("hook", id), at(now))
                    .await
                    .unwrap()
            }
        };
        let first = claim("d-1", "2026-12-03T10:59:30Z").await.ok().unwrap();
        let running = claim("d-1", "2026-12-03T10:59:31Z").await.err().unwrap();
        assert_eq!(running.status, 409, "in flight");
        dedup.settle(&storage, tenant, generation, first, 200).await;
        // The next slot, within the window: answered as the first.
        let again = claim("d-1", "2026-12-03T11:00:10Z").await.err().unwrap();
        assert_eq!(again.status, 200);
        let other = claim("d-2", "2026-12-03T11:30:00Z").await.ok().unwrap();
        dedup.settle(&storage, tenant, generation, other, 200).await;
        // Past the window the id is new: it runs, recorded in its own slot.
        assert!(claim("d-1", "2026-12-03T12:00:00Z").await.is_ok());
        // A claim of an order_by key left by a replica that died.
        let dead = br#"{"holder":"gone","until":0}"#;
        let swap = storage.swap_host_entry(tenant, generation, "order/hook/abc", None, dead);
        assert_eq!(swap.await.unwrap(), Swap::Swapped);

        let deleted = dedup.prune(&storage, tenant, generation, at("2026-12-03T12:30:00Z"));
        assert_eq!(
            deleted.await.unwrap(),
            2,
            "the 10:00 slot's d-1 and the dead claim"
        );
        let left = storage.host_entry_names(tenant, "").await.unwrap();
        let slots: Vec<&str> = left
            .iter()
            .filter_map(|name| name.strip_prefix(PREFIX)?.split('/').next())
            .collect();
        let (eleven, noon) = ("1796295600000", "1796299200000");
        assert_eq!(slots, [eleven, noon], "{left:?}");
        assert!(left.contains(&PRUNED.to_owned()), "{left:?}");
        // Looked at lately: not again within the hour, whatever the store says.
        let again = dedup.prune(&storage, tenant, generation, at("2026-12-03T18:00:00Z"));
        assert_eq!(again.await.unwrap(), 0);
    }
}
