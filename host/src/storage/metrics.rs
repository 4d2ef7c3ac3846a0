//! What the store reports to `/metrics`: each operation's latency and
//! errors, and the PostgreSQL pool's slots.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A storage operation: a bounded label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Op {
    install,
    uninstall,
    /// The install check every event makes.
    install_check,
    get,
    put,
    delete,
    list,
    flush,
    ping,
}

/// Which store answers: `sled` or `postgres`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Backend {
    sled,
    postgres,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    store: Backend,
    op: Op,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
enum SlotState {
    in_use,
    open,
    max,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SlotLabels {
    state: SlotState,
}

/// Handles to the store's metrics; registered once with the host's.
#[derive(Clone)]
pub struct StoreMetrics {
    backend: Backend,
    seconds: Family<OpLabels, Histogram>,
    errors: Family<OpLabels, Counter>,
    pool: Family<SlotLabels, Gauge>,
}

impl StoreMetrics {
    pub fn new(backend: Backend) -> StoreMetrics {
        StoreMetrics {
            backend,
            // 10 µs to about 10 s.
            seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_01, 2.5, 16))
            }),
            errors: Family::default(),
            pool: Family::default(),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "store_operation_duration_seconds",
            "Time a storage operation took, by store and operation",
            self.seconds.clone(),
        );
        registry.register(
            "store_errors",
            "Storage operations that failed, by store and operation",
            self.errors.clone(),
        );
        registry.register(
            "store_pool_connections",
            "PostgreSQL pool connections: in_use, open and the max allowed",
            self.pool.clone(),
        );
    }

    pub(super) fn observe(&self, op: Op, took: Duration, failed: bool) {
        let labels = OpLabels {
            store: self.backend,
            op,
        };
        self.seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if failed {
            self.errors.get_or_create(&labels).inc();
        }
    }

    pub(super) fn pool_slots(&self, (in_use, open, max): (usize, usize, usize)) {
        for (state, value) in [
            (SlotState::in_use, in_use),
            (SlotState::open, open),
            (SlotState::max, max),
        ] {
            self.pool
                .get_or_create(&SlotLabels { state })
                .set(value as i64);
        }
    }
}
