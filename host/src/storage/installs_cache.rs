//! Which companies have installed which app, remembered between events so
//! that the install check every event makes is a lookup in memory, not a
//! read of the store (a tree walk in sled, a round trip to PostgreSQL).
//!
//! Only installs are remembered, never their absence: a new install is seen
//! by the next event. An uninstall forgets the install: the storage API does
//! around the uninstall it makes; with PostgreSQL every replica also does it
//! on the uninstall's notification (`postgres/uninstall_feed.rs`). Two
//! rules bound the staleness whatever happens to those notifications:
//! - an entry is trusted for at most [`TRUSTED_FOR`];
//! - while the cache is not following uninstalls (a PostgreSQL listener
//!   that is not connected) nothing is remembered, and every change of that
//!   forgets everything (notifications may have been missed).
//!
//! A lookup that raced an uninstall is not remembered: each forgetting
//! bumps an epoch, and a result read before the bump is dropped.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Generation, Tenant};

/// The longest an install is remembered without a new look at the store:
/// the bound on a stale answer if notifications are lost unnoticed.
pub const TRUSTED_FOR: Duration = Duration::from_secs(5);

/// Remembered installs beyond this many are forgotten all at once.
const MAX_ENTRIES: usize = 100_000;

/// company → (generation, when it was read), for one app.
type Companies = HashMap<Box<str>, (Generation, Instant)>;

#[derive(Default)]
pub struct InstallsCache {
    /// app → its companies.
    entries: RwLock<HashMap<Box<str>, Companies>>,
    /// Bumped by every forgetting; see the module's doc.
    epoch: AtomicU64,
    /// Whether every uninstall is heard: nothing is remembered otherwise.
    following: AtomicBool,
}

impl InstallsCache {
    pub fn get(&self, tenant: Tenant<'_>) -> Option<Generation> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (generation, read_at) = entries.get(tenant.app)?.get(tenant.company)?;
        (read_at.elapsed() < TRUSTED_FOR).then_some(*generation)
    }

    /// Taken before reading the store, handed to [`InstallsCache::remember`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Remembers what a read that began at `epoch` found, unless something
    /// was forgotten since (the read may predate an uninstall).
    pub fn remember(&self, epoch: u64, tenant: Tenant<'_>, generation: Generation) {
        if !self.following.load(Ordering::Acquire) {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.values().map(HashMap::len).sum::<usize>() >= MAX_ENTRIES {
            entries.clear();
        }
        entries
            .entry(tenant.app.into())
            .or_default()
            .insert(tenant.company.into(), (generation, Instant::now()));
    }

    pub fn forget(&self, tenant: Tenant<'_>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(companies) = entries.get_mut(tenant.app) {
            companies.remove(tenant.company);
        }
    }

    fn forget_all(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Whether every uninstall is heard from now on; either way, what was
    /// remembered is forgotten.
    pub fn set_following(&self, following: bool) {
        self.following.store(following, Ordering::Release);
        self.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: Tenant<'static> = Tenant {
        app: "a",
        company: "c",
    };

    #[test]
    fn remembers_only_while_following_and_not_across_a_forget() {
        let cache = InstallsCache::default();
        cache.remember(cache.epoch(), AC, Generation(1));
        assert_eq!(cache.get(AC), None, "not following: not remembered");

        cache.set_following(true);
        cache.remember(cache.epoch(), AC, Generation(1));
        assert_eq!(cache.get(AC), Some(Generation(1)));

        // A read that began before an uninstall was forgotten.
        let before = cache.epoch();
        cache.forget(AC);
        cache.remember(before, AC, Generation(1));
        assert_eq!(cache.get(AC), None);

        cache.remember(cache.epoch(), AC, Generation(2));
        cache.set_following(false);
        assert_eq!(cache.get(AC), None, "no longer following: all forgotten");
    }

    #[test]
    fn a_following_cache_remembers_from_the_start() {
        let cache = InstallsCache::default();
        cache.set_following(true);
        cache.remember(cache.epoch(), AC, Generation(7));
        assert_eq!(cache.get(AC), Some(Generation(7)));
        assert_eq!(cache.get(Tenant::new("a", "other")), None);
    }
}
