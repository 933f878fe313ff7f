//! Pool monitoring shared by the backends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use graft_resolve::PoolStatus;

/// How many fetches may wait for a pooled connection, per connection in the pool: past that
/// the pool is busy, and a fetch fails at once (`SourceErrorKind::Busy`) rather than queue
/// behind requests that will time out anyway.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const WAITERS_PER_CONNECTION: usize = 16;

/// Counts acquisitions and how long they waited.
#[derive(Debug, Default)]
pub(crate) struct AcquireStats {
    acquired: AtomicU64,
    wait_micros: AtomicU64,
    max_wait_micros: AtomicU64,
}

impl AcquireStats {
    /// Records one acquisition that started at `started`.
    pub(crate) fn record(&self, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.acquired.fetch_add(1, Ordering::Relaxed);
        self.wait_micros.fetch_add(micros, Ordering::Relaxed);
        self.max_wait_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Fills the acquisition figures of `status`.
    pub(crate) fn fill(&self, status: &mut PoolStatus) {
        status.acquired = self.acquired.load(Ordering::Relaxed);
        status.acquire_wait_total = Duration::from_micros(self.wait_micros.load(Ordering::Relaxed));
        status.acquire_wait_max =
            Duration::from_micros(self.max_wait_micros.load(Ordering::Relaxed));
    }
}
