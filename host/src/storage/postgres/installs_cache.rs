//! Which companies have installed which app, remembered between events so
//! that an event does not cost a round trip to the database to learn it.
//!
//! Only installs are remembered, never their absence: an install made on
//! another replica is seen by the next event. An uninstall is seen through
//! PostgreSQL's LISTEN/NOTIFY: the replica that uninstalls notifies in the
//! same transaction, and every replica's listener forgets the install when
//! the notification arrives. Two more rules bound the staleness whatever
//! happens to the notifications:
//! - an entry is trusted for at most [`TRUSTED_FOR`];
//! - while the listener is not connected nothing is remembered, and every
//!   (re)connection forgets everything (notifications may have been missed).
//!
//! A lookup that raced a notification is not remembered: each notification
//! bumps an epoch, and a result read before the bump is dropped.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::storage::Generation;

/// The channel uninstalls are announced on; the payload is `app company`.
pub const CHANNEL: &str = "keruj_uninstalled";

/// The longest an install is remembered without a new look at the database:
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
    /// Whether the listener is connected: nothing is remembered otherwise.
    listening: AtomicBool,
}

impl InstallsCache {
    pub fn get(&self, app: &str, company: &str) -> Option<Generation> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (generation, read_at) = entries.get(app)?.get(company)?;
        (read_at.elapsed() < TRUSTED_FOR).then_some(*generation)
    }

    /// Taken before reading the database, handed to [`InstallsCache::remember`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Remembers what a read that began at `epoch` found, unless something
    /// was forgotten since (the read may predate an uninstall).
    pub fn remember(&self, epoch: u64, app: &str, company: &str, generation: Generation) {
        if !self.listening.load(Ordering::Acquire) {
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
            .entry(app.into())
            .or_default()
            .insert(company.into(), (generation, Instant::now()));
    }

    pub fn forget(&self, app: &str, company: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(companies) = entries.get_mut(app) {
            companies.remove(company);
        }
    }

    fn forget_all(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        self.forget_all();
    }
}

/// Follows [`CHANNEL`] on a connection of its own, for the host's lifetime,
/// reconnecting after a pause when the connection is lost.
pub async fn listen(config: tokio_postgres::Config, cache: std::sync::Arc<InstallsCache>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match follow(&config, &cache).await {
            Ok(()) => tracing::warn!("the store's notification connection closed; reconnecting"),
            Err(error) => {
                tracing::warn!("the store's notification connection failed: {error:#}; retrying")
            }
        }
        cache.set_listening(false);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

async fn follow(config: &tokio_postgres::Config, cache: &InstallsCache) -> anyhow::Result<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if sender.send(notification).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!("the store's notification connection: {error}");
                    break;
                }
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
    if let Err(error) = listening {
        driver.abort();
        return Err(error.into());
    }
    cache.set_listening(true);
    tracing::debug!("following uninstalls on the store's channel {CHANNEL}");
    while let Some(notification) = notifications.recv().await {
        if let Some((app, company)) = notification.payload().split_once(' ') {
            cache.forget(app, company);
        }
    }
    driver.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_only_while_listening_and_not_across_a_forget() {
        let cache = InstallsCache::default();
        cache.remember(cache.epoch(), "a", "c", Generation(1));
        assert_eq!(cache.get("a", "c"), None, "not listening: not remembered");

        cache.set_listening(true);
        cache.remember(cache.epoch(), "a", "c", Generation(1));
        assert_eq!(cache.get("a", "c"), Some(Generation(1)));

        // A read that began before an uninstall's notification.
        let before = cache.epoch();
        cache.forget("a", "c");
        cache.remember(before, "a", "c", Generation(1));
        assert_eq!(cache.get("a", "c"), None);

        cache.remember(cache.epoch(), "a", "c", Generation(2));
        cache.set_listening(false);
        assert_eq!(cache.get("a", "c"), None, "a lost listener forgets all");
    }
}
