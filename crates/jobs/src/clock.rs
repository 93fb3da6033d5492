//! The queue's notion of "now", injectable so lease expiry, delayed jobs and retry
//! backoff can be tested by moving a clock instead of sleeping.
//!
//! Every time the queue writes or compares (`run_at`, `lease_until`, `wake_at`, the
//! timestamps of an attempt) comes from the [`Clock`] of its [`crate::Queue`]; the
//! system clock unless a test gives another. Only the *stored* times follow the clock:
//! the worker's own timers (heartbeat interval, poll interval, shutdown grace) are
//! tokio timers, since they pace this process rather than decide who owns a job.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the unit every time column of `jobs` stores.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that stands still until told to move (feature `testing`). Clones share the
/// same time.
#[cfg(feature = "testing")]
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<std::sync::atomic::AtomicI64>);

#[cfg(feature = "testing")]
impl ManualClock {
    /// Starts at the current wall-clock time, so rows it stamps look ordinary.
    pub fn starting_now() -> Self {
        Self(Arc::new(std::sync::atomic::AtomicI64::new(
            SystemClock.now_ms(),
        )))
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2);
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(feature = "testing")]
impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The clock a queue holds.
pub type SharedClock = Arc<dyn Clock>;

pub(crate) fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// `now + d` in milliseconds, saturating instead of overflowing.
pub(crate) fn after(now: i64, d: Duration) -> i64 {
    now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2))
}
