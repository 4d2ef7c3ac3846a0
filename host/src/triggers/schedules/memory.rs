//! What the scheduler of a replica remembers between rounds (see
//! [`Memory`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capabilities::schedules as made;
use crate::dispatch::Dispatcher;
use crate::storage::{Generation, Tenant};

/// What the scheduler of this replica remembers between rounds, so that a
/// round reads the store only where something may have changed:
///
/// - due times it saw settled, by claim record and install: while a
///   schedule's latest due time is the one remembered, there is nothing to
///   do for it. Claims only move forward, so a settled due time stays
///   settled whoever settled it;
/// - each company's list of made schedules, read again after
///   [`MADE_REFRESH`], or at once when this replica changed it.
///
/// What a round did not look at (a company gone, a schedule removed) is
/// forgotten at its end.
#[derive(Default)]
pub(super) struct Memory {
    dues: Mutex<HashMap<String, (i64, u64)>>,
    made: Mutex<HashMap<String, MadeList>>,
    round: AtomicU64,
}

/// A company's made schedules as last read.
struct MadeList {
    read: Instant,
    schedules: Arc<Vec<(String, made::Made)>>,
    seen: u64,
}

/// How long a company's list of made schedules is trusted: one made or
/// cancelled on another replica is seen within it (on this one, at once).
pub const MADE_REFRESH: Duration = Duration::from_secs(10);

impl Memory {
    /// The company's made schedules: remembered, or read if the list is
    /// stale or this replica changed it; `true` with a list just read.
    pub(super) async fn made_list(
        &self,
        dispatcher: &Dispatcher,
        tenant: Tenant<'_>,
    ) -> anyhow::Result<(Arc<Vec<(String, made::Made)>>, bool)> {
        let key = format!("{}\0{}", tenant.app, tenant.company);
        let round = self.round.load(Ordering::Relaxed);
        let changed = dispatcher
            .services()
            .schedule_changes
            .take(tenant.app, tenant.company);
        if !changed
            && let Some(list) = self.made.lock().expect("not poisoned").get_mut(&key)
            && list.read.elapsed() < MADE_REFRESH
        {
            list.seen = round;
            return Ok((list.schedules.clone(), false));
        }
        let schedules = Arc::new(made::all_made(dispatcher.storage(), tenant).await?);
        let list = MadeList {
            read: Instant::now(),
            schedules: schedules.clone(),
            seen: round,
        };
        self.made.lock().expect("not poisoned").insert(key, list);
        Ok((schedules, true))
    }

    pub(super) fn key(app: &str, company: &str, generation: Generation, record: &str) -> String {
        format!("{app}\0{company}\0{}\0{record}", generation.0)
    }

    /// Whether `due_ms` is the due time remembered settled under `key`.
    pub(super) fn holds(&self, key: &str, due_ms: i64) -> bool {
        let round = self.round.load(Ordering::Relaxed);
        let mut dues = self.dues.lock().expect("not poisoned");
        match dues.get_mut(key) {
            Some((due, seen)) if *due == due_ms => {
                *seen = round;
                true
            }
            _ => false,
        }
    }

    pub(super) fn remember(&self, key: String, due_ms: i64) {
        let round = self.round.load(Ordering::Relaxed);
        self.dues
            .lock()
            .expect("not poisoned")
            .insert(key, (due_ms, round));
    }

    pub(super) fn end_round(&self) {
        let round = self.round.fetch_add(1, Ordering::Relaxed);
        self.dues
            .lock()
            .expect("not poisoned")
            .retain(|_, (_, seen)| *seen >= round);
        self.made
            .lock()
            .expect("not poisoned")
            .retain(|_, list| list.seen >= round);
    }
}
