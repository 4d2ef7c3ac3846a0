//! Accepting connections, for every listener the host serves (the public
//! port, the admin port, the dev console): a bound on how many are open,
//! room made for new clients, a pause when the process runs out of
//! descriptors, and a graceful stop.
//!
//! An attacker who opens connections and sends nothing holds one descriptor
//! each until the header timeout. Left unbounded, enough of them exhaust the
//! process's descriptors: `accept` fails, and nobody else gets in, health
//! checks included. So a listener keeps at most `max_connections` open (by
//! default half the descriptor limit, the rest left for the database,
//! plugins' outbound calls and the compile cache). At the bound, a new
//! connection takes the place of the oldest one with no request in progress
//! (idle keep-alive, or still sending its headers); only when every open
//! connection is in the middle of a request is the new one closed at once.
//! If `accept` fails anyway, the loop pauses (5 ms, doubling up to 1 s)
//! instead of spinning, and says so at most once a second.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::throttle::Throttle;

/// The first pause after a failed `accept`; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// How one listener treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections kept open at once (see the module's doc).
    pub max_connections: usize,
    /// A client slower to send its request headers loses the connection.
    pub header_timeout: Duration,
    /// How long a stop waits for requests in flight.
    pub drain_timeout: Duration,
}

/// Serves every connection accepted on `listener` with `handle` (HTTP/1.1,
/// keep-alive) until `shutdown` completes; then stops accepting and lets
/// the requests in flight finish, up to `limits.drain_timeout`.
/// `on_connection` is called for each admitted connection; what it returns
/// is dropped when the connection ends (a gauge of open connections, say).
pub async fn accept<H, F, G>(
    listener: TcpListener,
    limits: Limits,
    handle: H,
    on_connection: impl Fn() -> G,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    G: Send + 'static,
{
    let connections = Arc::new(Connections::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let accept_failed = Throttle::default();
    let mut pause = FIRST_PAUSE;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                pause = FIRST_PAUSE;
                accepted
            }
            Err(error) => {
                if let Some(held_back) = accept_failed.allow() {
                    tracing::warn!(
                        %error, held_back, pause_ms = pause.as_millis() as u64,
                        "accept failed (out of descriptors?); pausing before accepting again"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = &mut shutdown => break,
                }
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
        };
        // Dropping the stream closes it: every open connection is busy.
        let Some(slot) = connections.admit() else {
            continue;
        };
        let counted = on_connection();
        let service = {
            let (handle, in_request) = (handle.clone(), slot.in_request.clone());
            service_fn(move |request| {
                let busy = InRequest::mark(&in_request);
                let response = handle(request);
                async move {
                    let response = response.await;
                    drop(busy);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                },
                () = slot.evicted.notified() => {
                    tracing::debug!(%peer, "idle connection closed to make room for a new one");
                }
            }
            drop(slot);
            drop(counted);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still running after {:?}; stopping anyway",
            limits.drain_timeout
        );
    }
}

/// Half the process's (soft) descriptor limit, at least 16: what a
/// listener keeps open when [`HostConfig::max_connections`] is `None`.
///
/// [`HostConfig::max_connections`]: crate::HostConfig::max_connections
pub fn default_max_connections() -> usize {
    let (soft, _hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
}

/// Raises the soft descriptor limit to the hard one, as servers do at start,
/// and returns the new soft limit. The binary calls it before serving;
/// embedders decide for their own process.
pub fn raise_descriptor_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The open connections, oldest first.
struct Connections {
    limit: usize,
    open: Mutex<BTreeMap<u64, Tracked>>,
    next_id: AtomicU64,
    /// "At the bound" warnings: at most one a second.
    full: Throttle,
}

/// What the registry knows of one connection.
struct Tracked {
    in_request: Arc<AtomicUsize>,
    evicted: Arc<Notify>,
}

/// One admitted connection; dropping it leaves the registry.
struct Slot {
    id: u64,
    connections: Arc<Connections>,
    /// Requests in progress on the connection (0 or 1 with HTTP/1.1).
    in_request: Arc<AtomicUsize>,
    /// Signalled when a new connection takes this idle one's place.
    evicted: Arc<Notify>,
}

impl Connections {
    fn new(limit: usize) -> Connections {
        Connections {
            limit: limit.max(1),
            open: Mutex::default(),
            next_id: AtomicU64::new(0),
            full: Throttle::default(),
        }
    }

    /// A place for a new connection, made if need be by closing the oldest
    /// idle one; `None` when every open connection is serving a request.
    fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut open = self.open.lock().expect("connections lock");
        if open.len() >= self.limit {
            let idle = open
                .iter()
                .find(|(_, tracked)| tracked.in_request.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id);
            if let Some(held_back) = self.full.allow() {
                tracing::warn!(
                    max_connections = self.limit,
                    held_back,
                    "at the connection limit: {}",
                    match idle {
                        Some(_) => "closing the oldest idle connection for each new one",
                        None => "every connection is busy; closing new ones at once",
                    }
                );
            }
            let tracked = open.remove(&idle?).expect("found above");
            // Stored if the connection's task is not waiting yet.
            tracked.evicted.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (in_request, evicted) = (Arc::default(), Arc::new(Notify::new()));
        let tracked = Tracked {
            in_request: Arc::clone(&in_request),
            evicted: Arc::clone(&evicted),
        };
        open.insert(id, tracked);
        Some(Slot {
            id,
            connections: Arc::clone(self),
            in_request,
            evicted,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().expect("connections lock");
        open.remove(&self.id);
    }
}

/// Marks a request in progress on its connection while it lives.
struct InRequest(Arc<AtomicUsize>);

impl InRequest {
    fn mark(counter: &Arc<AtomicUsize>) -> InRequest {
        counter.fetch_add(1, Ordering::AcqRel);
        InRequest(Arc::clone(counter))
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_makes_room() {
        let connections = Arc::new(Connections::new(2));
        let first = connections.admit().unwrap();
        let second = connections.admit().unwrap();
        let _busy = InRequest::mark(&first.in_request);
        let third = connections.admit().expect("the idle one makes room");
        assert!(!connections.open.lock().unwrap().contains_key(&second.id));
        assert!(connections.open.lock().unwrap().contains_key(&first.id));
        // Both remaining are busy: a new one is refused, nobody is evicted.
        let _busy_too = InRequest::mark(&third.in_request);
        assert!(connections.admit().is_none());
        assert_eq!(connections.open.lock().unwrap().len(), 2);
        drop(first);
        assert!(connections.admit().is_some());
    }

    #[test]
    fn the_default_bound_follows_the_descriptor_limit() {
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(default_max_connections() as u64, (soft / 2).max(16));
    }
}
