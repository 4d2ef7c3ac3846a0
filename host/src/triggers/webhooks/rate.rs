//! Per-URL rate limits: a token bucket per webhook URL (per sealed id), in
//! this process. Each replica counts on its own, so with N replicas behind
//! a balancer a URL takes up to N times its rate: the limit is there to
//! keep one URL's flood from crowding out the others on a replica, not to
//! meter a provider exactly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::settings::Rate;

/// How often idle buckets are dropped: a bucket that has filled up again
/// holds nothing a new one would not, so dropping it changes no answer.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The buckets of every URL, one keyed limiter per distinct rate (governor
/// keys a limiter's buckets under one quota).
pub(super) struct RateLimits {
    limiters: Mutex<HashMap<Rate, Arc<DefaultKeyedRateLimiter<String>>>>,
    clock: DefaultClock,
    started: Instant,
    /// Milliseconds after `started` of the last sweep.
    swept: AtomicU64,
}

impl RateLimits {
    pub(super) fn new() -> RateLimits {
        RateLimits {
            limiters: Mutex::default(),
            clock: DefaultClock::default(),
            started: Instant::now(),
            swept: AtomicU64::new(0),
        }
    }

    /// Takes a token for URL `id` at `rate`: `Err(wait)` when there is none,
    /// with how long until there is.
    pub(super) fn check(&self, id: &str, rate: Rate) -> Result<(), Duration> {
        self.sweep_now_and_then();
        let limiter = {
            let mut limiters = self.limiters.lock().expect("not poisoned");
            limiters
                .entry(rate)
                .or_insert_with(|| Arc::new(RateLimiter::keyed(quota(rate))))
                .clone()
        };
        limiter
            .check_key(&id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// The buckets held now (for tests).
    #[cfg(test)]
    fn buckets(&self) -> usize {
        let limiters = self.limiters.lock().expect("not poisoned");
        limiters.values().map(|limiter| limiter.len()).sum()
    }

    /// Drops full buckets, and limiters left without any (a rate no sidecar
    /// asks for any more), at most once per [`SWEEP_EVERY`]: the memory is
    /// bounded by the URLs delivered to within about a burst's refill time.
    fn sweep_now_and_then(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.swept.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY.as_millis() as u64
            || self
                .swept
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.sweep();
    }

    fn sweep(&self) {
        let mut limiters = self.limiters.lock().expect("not poisoned");
        limiters.retain(|_, limiter| {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            !limiter.is_empty()
        });
    }
}

fn quota(rate: Rate) -> Quota {
    Quota::with_period(rate.interval())
        .expect("an interval is never zero")
        .allow_burst(rate.burst)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    #[test]
    fn a_burst_then_429_with_the_wait_and_idle_buckets_go() {
        let limits = RateLimits::new();
        let rate = Rate {
            count: NonZeroU32::new(1).unwrap(),
            per: Duration::from_secs(3600),
            burst: NonZeroU32::new(2).unwrap(),
        };
        assert_eq!(limits.check("a", rate), Ok(()));
        assert_eq!(limits.check("a", rate), Ok(()));
        let wait = limits.check("a", rate).unwrap_err();
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
        assert_eq!(limits.check("b", rate), Ok(()), "each URL its own bucket");
        let fast = Rate {
            count: NonZeroU32::new(1000).unwrap(),
            per: Duration::from_secs(1),
            burst: NonZeroU32::new(1).unwrap(),
        };
        assert_eq!(limits.check("c", fast), Ok(()));
        assert_eq!(limits.buckets(), 3);
        // "c" refills within a millisecond: once full it is dropped, the
        // others still hold what they owe.
        let deadline = Instant::now() + Duration::from_secs(10);
        while limits.buckets() > 2 {
            assert!(Instant::now() < deadline, "the idle bucket stays");
            limits.sweep();
            std::thread::yield_now();
        }
        assert!(limits.check("a", rate).is_err());
    }
}
