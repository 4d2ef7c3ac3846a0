//! Uninstalls made on any replica, heard on every replica: the replica that
//! uninstalls notifies on [`CHANNEL`] in the same transaction, and each
//! replica's listener forgets the install in its [`InstallsCache`] when the
//! notification arrives. While the listener is not connected the cache
//! remembers nothing (see `storage/installs_cache.rs`), and only once
//! `LISTEN` is in place again does it remember anew: after every connection
//! of the store was dropped (a failover, a restart), the cache is not
//! trusted until this listener has subscribed again.
//!
//! `LISTEN` needs a session: behind a transaction-mode pooler it would hear
//! nothing, so the listener connects to `--store-direct` when given.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;

use super::PgAddress;

use crate::storage::Tenant;
use crate::storage::installs_cache::InstallsCache;

/// The channel uninstalls are announced on; the payload is `app company`.
pub const CHANNEL: &str = "keruj_uninstalled";

/// Follows [`CHANNEL`] on a connection of its own, for the host's lifetime,
/// reconnecting after a pause when the connection is lost.
pub async fn listen(address: PgAddress, cache: std::sync::Arc<InstallsCache>) {
    const FIRST_PAUSE: Duration = Duration::from_millis(100);
    let mut pause = FIRST_PAUSE;
    loop {
        match follow(&address, &cache).await {
            Ok(()) => {
                // It was following: a failover, not a server long down.
                pause = FIRST_PAUSE;
                tracing::warn!("the store's notification connection closed; reconnecting")
            }
            Err(error) => {
                tracing::warn!("the store's notification connection failed: {error:#}; retrying")
            }
        }
        cache.set_following(false);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

async fn follow(address: &PgAddress, cache: &InstallsCache) -> anyhow::Result<()> {
    let connecting = address.config.connect(address.tls.connector.clone()).await;
    let (client, mut connection) =
        connecting.map_err(|error| match address.tls.certificate_refused(&error) {
            Some(refused) => anyhow::anyhow!(refused),
            None => error.into(),
        })?;
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
