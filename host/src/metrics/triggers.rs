//! The series of the events the host starts itself: scheduled runs (how
//! late they start, retries, runs given up) and webhook deliveries (by
//! what became of them). Their answers are counted with every other event
//! in `keruj_events{class="scheduled"|"webhook"}`.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppLabels;

/// What became of a webhook delivery.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Delivery {
    /// The app handled it (200).
    accepted,
    /// Its signature did not verify, or no secret was there to check it (401).
    refused,
    /// Its id was handled before: answered as then, the app not run again.
    duplicate,
    /// The app failed it (500), or the host was busy (503): the provider retries.
    failed,
    /// Past its URL's rate (429): nothing ran, the caller was told when to retry.
    limited,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    app: String,
    result: Delivery,
}

/// Scheduled runs and webhook deliveries.
#[derive(Clone)]
pub struct TriggerMetrics {
    lag: Family<AppLabels, Histogram>,
    retries: Family<AppLabels, Counter>,
    given_up: Family<AppLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    waiting: Family<AppLabels, Gauge>,
    pruned: Family<AppLabels, Counter>,
}

impl TriggerMetrics {
    pub(super) fn register(registry: &mut Registry) -> TriggerMetrics {
        // 10 ms to about 10 minutes.
        let lag = Family::<AppLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 17))
        });
        registry.register(
            "schedule_lag_seconds",
            "Time from a scheduled run's due time to its start, by app",
            lag.clone(),
        );
        let retries = Family::<AppLabels, Counter>::default();
        registry.register(
            "schedule_retries",
            "Scheduled runs tried again after a failure or a lost lease, by app",
            retries.clone(),
        );
        let given_up = Family::<AppLabels, Counter>::default();
        registry.register(
            "schedule_failures",
            "Scheduled due times given up after their last retry, by app",
            given_up.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries to known URLs, by app and result: accepted, refused, duplicate, failed, limited",
            deliveries.clone(),
        );
        let waiting = Family::<AppLabels, Gauge>::default();
        registry.register(
            "webhook_ordered_waiting",
            "Webhook deliveries waiting for an earlier one with the same order_by key to finish, by app",
            waiting.clone(),
        );
        let pruned = Family::<AppLabels, Counter>::default();
        registry.register(
            "webhook_delivery_ids_pruned",
            "Records of webhook delivery ids deleted once past the deduplication window, by app",
            pruned.clone(),
        );
        TriggerMetrics {
            lag,
            retries,
            given_up,
            deliveries,
            waiting,
            pruned,
        }
    }

    /// A scheduled run starts, `lag` after it was due; `attempt` > 1 is a retry.
    pub fn schedule_started(&self, app: &str, lag: Duration, attempt: u32) {
        let labels = AppLabels {
            app: app.to_owned(),
        };
        self.lag.get_or_create(&labels).observe(lag.as_secs_f64());
        if attempt > 1 {
            self.retries.get_or_create(&labels).inc();
        }
    }

    /// A due time's last retry failed.
    pub fn schedule_given_up(&self, app: &str) {
        self.given_up
            .get_or_create(&AppLabels {
                app: app.to_owned(),
            })
            .inc();
    }

    /// What became of a webhook delivery.
    pub fn delivery(&self, app: &str, result: Delivery) {
        let labels = DeliveryLabels {
            app: app.to_owned(),
            result,
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    /// The gauge of deliveries of `app` waiting for their key's turn.
    pub fn ordered_waiting(&self, app: &str) -> Gauge {
        self.waiting
            .get_or_create(&AppLabels {
                app: app.to_owned(),
            })
            .clone()
    }

    /// `count` records of delivery ids of `app` deleted.
    pub fn delivery_ids_pruned(&self, app: &str, count: u64) {
        self.pruned
            .get_or_create(&AppLabels {
                app: app.to_owned(),
            })
            .inc_by(count);
    }
}
