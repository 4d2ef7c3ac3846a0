//! What the store reports to `/metrics`: each operation's latency and
//! errors, and the PostgreSQL pool's slots.
//!
//! Timing an operation costs no label lookup: the install check runs on
//! every event. Each operation's histogram is found once, when the store
//! opens; the pool's slots are read when `/metrics` is scraped.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
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
    /// A compare-and-swap of the host's own entries (claims of scheduled
    /// runs, webhook deliveries seen).
    swap,
    /// The companies that installed an app (the scheduler's round).
    companies,
}

impl Op {
    const ALL: [Op; 11] = [
        Op::install,
        Op::uninstall,
        Op::install_check,
        Op::get,
        Op::put,
        Op::delete,
        Op::list,
        Op::flush,
        Op::ping,
        Op::swap,
        Op::companies,
    ];
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    /// Which store answers (its [`Backend::kind`](super::Backend::kind)).
    store: &'static str,
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
pub struct StoreMetrics {
    store: &'static str,
    seconds: Family<OpLabels, Histogram>,
    /// `seconds`' series of each operation, in [`Op::ALL`]'s order.
    seconds_by_op: [Histogram; Op::ALL.len()],
    errors: Family<OpLabels, Counter>,
    /// What the store itself reports at each scrape (PostgreSQL's pool).
    collector: Option<Arc<dyn Collector>>,
}

impl StoreMetrics {
    pub fn new(store: &'static str, collector: Option<Arc<dyn Collector>>) -> StoreMetrics {
        // 10 µs to about 10 s.
        let seconds = Family::<OpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_01, 2.5, 16))
        });
        let seconds_by_op =
            Op::ALL.map(|op| seconds.get_or_create(&OpLabels { store, op }).clone());
        StoreMetrics {
            store,
            seconds,
            seconds_by_op,
            errors: Family::default(),
            collector,
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
        if let Some(collector) = &self.collector {
            registry.register_collector(Box::new(Shared(collector.clone())));
        }
    }

    pub(super) fn observe(&self, op: Op, took: Duration, failed: bool) {
        self.seconds_by_op[op as usize].observe(took.as_secs_f64());
        if failed {
            let labels = OpLabels {
                store: self.store,
                op,
            };
            self.errors.get_or_create(&labels).inc();
        }
    }
}

/// A collector the store keeps too: registered as a handle.
#[derive(Debug)]
struct Shared(Arc<dyn Collector>);

impl Collector for Shared {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// `store_pool_connections`, read from the pool at each scrape.
pub(super) struct PoolSlots(pub deadpool_postgres::Pool);

impl std::fmt::Debug for PoolSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolSlots")
    }
}

impl Collector for PoolSlots {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = self.0.status();
        let mut metric = encoder.encode_descriptor(
            "store_pool_connections",
            "PostgreSQL pool connections: in_use, open and the max allowed",
            None,
            MetricType::Gauge,
        )?;
        for (state, value) in [
            (SlotState::in_use, status.size - status.available),
            (SlotState::open, status.size),
            (SlotState::max, status.max_size),
        ] {
            let labels = SlotLabels { state };
            ConstGauge::new(value as i64).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
