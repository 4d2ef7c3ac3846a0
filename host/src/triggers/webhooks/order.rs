//! `order_by`: deliveries whose body holds the same value at the webhook's
//! JSON pointer run one at a time for a company, in the order they reach
//! their turn here (after verification). A fair lock per key: tokio's
//! `Mutex` hands itself over first come, first served, so a queue of
//! deliveries for one parcel runs as it arrived. Keys live only while a
//! delivery holds or awaits them.
//!
//! This is the order within a replica; across replicas, the key's claim in
//! the store ([`super::lease`]), taken once its turn here has come, keeps
//! two replicas from running one key at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{Mutex as FairLock, OwnedMutexGuard};

/// Whose turns: one app's webhook at one company, and the key's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OrderKey {
    pub app: String,
    pub company: String,
    pub webhook: String,
    pub value: String,
}

/// The ordering key of a delivery `body` at `pointer`: a string or a
/// number there; anything else (no such field, not JSON, an object) runs
/// unordered, since there is nothing to order it by.
pub(super) fn key_value(body: &[u8], pointer: &str) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    match json.pointer(pointer)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

type Locks = Mutex<HashMap<OrderKey, Arc<FairLock<()>>>>;

/// The keys being run or waited for.
#[derive(Default)]
pub(super) struct Turns {
    locks: Arc<Locks>,
}

/// A delivery's turn: while held, no other delivery of its key runs here.
pub(super) struct Turn {
    // Released before `_entry` looks whether anyone still wants the key.
    _guard: OwnedMutexGuard<()>,
    _entry: Entry,
}

/// A claim on a key's entry in the table: the last one dropped (the
/// delivery done, or its wait given up) removes the entry.
struct Entry {
    key: OrderKey,
    locks: Arc<Locks>,
}

impl Turns {
    /// Waits for `key`'s turn, behind the deliveries that asked before.
    pub(super) async fn wait(&self, key: OrderKey) -> Turn {
        let lock = {
            let mut locks = self.locks.lock().expect("not poisoned");
            locks.entry(key.clone()).or_default().clone()
        };
        let entry = Entry {
            key,
            locks: self.locks.clone(),
        };
        Turn {
            _guard: lock.lock_owned().await,
            _entry: entry,
        }
    }

    /// How many keys are held or awaited (for tests).
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.locks.lock().expect("not poisoned").len()
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut locks = self.locks.lock().expect("not poisoned");
        // Only the table's own reference left: nobody holds or waits.
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(value: &str) -> OrderKey {
        OrderKey {
            app: "a".into(),
            company: "c".into(),
            webhook: "w".into(),
            value: value.into(),
        }
    }

    #[test]
    fn key_values() {
        assert_eq!(
            key_value(br#"{"ttn":"204"}"#, "/ttn").as_deref(),
            Some("204")
        );
        assert_eq!(key_value(br#"{"a":{"n":7}}"#, "/a/n").as_deref(), Some("7"));
        assert_eq!(key_value(br#"{"ttn":null}"#, "/ttn"), None);
        assert_eq!(key_value(br#"{"x":1}"#, "/ttn"), None);
        assert_eq!(key_value(b"ttn=204", "/ttn"), None);
    }

    #[tokio::test]
    async fn one_key_in_arrival_order_others_alongside_entries_dropped() {
        let turns = Arc::new(Turns::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = turns.wait(key("x")).await;
        let mut waiting = Vec::new();
        for n in 0..5 {
            let (mine, order) = (turns.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = mine.wait(key("x")).await;
                order.lock().unwrap().push(n);
            }));
            // Each in the queue before the next one asks.
            while Arc::strong_count(&turns.locks.lock().unwrap()[&key("x")]) < 2 + n + 1 {
                tokio::task::yield_now().await;
            }
        }
        // Another key does not wait for "x".
        let other = tokio::time::timeout(Duration::from_secs(10), turns.wait(key("y"))).await;
        assert!(other.is_ok());
        drop(other);
        // A wait given up leaves the queue and the table as they were.
        let given_up = tokio::time::timeout(Duration::from_millis(1), turns.wait(key("x"))).await;
        assert!(given_up.is_err());
        assert!(order.lock().unwrap().is_empty(), "x is still held");
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(turns.keys(), 0, "idle keys are dropped");
    }
}
