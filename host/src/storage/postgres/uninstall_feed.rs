//! Uninstalls made on any replica, heard on every replica: the replica that
//! uninstalls notifies on [`CHANNEL`] in the same transaction, and each
//! replica's listener forgets the install in its [`InstallsCache`] when the
//! notification arrives. While the listener is not connected the cache
//! remembers nothing (see `storage/installs_cache.rs`).

use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::storage::Tenant;
use crate::storage::installs_cache::InstallsCache;

/// The channel uninstalls are announced on; the payload is `app company`.
pub const CHANNEL: &str = "keruj_uninstalled";

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
        cache.set_following(false);
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
    cache.set_following(true);
    tracing::debug!("following uninstalls on the store's channel {CHANNEL}");
    while let Some(notification) = notifications.recv().await {
        if let Some((app, company)) = notification.payload().split_once(' ') {
            cache.forget(Tenant::new(app, company));
        }
    }
    driver.abort();
    Ok(())
}
