//! Where the breaker reads the time. A trait, so tests move a [`ManualClock`]
//! forward instead of sleeping through an open period.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// A source of the current time, so that tests can move the breaker's clock
/// forward instead of sleeping through the open period.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic time, for measuring periods.
    fn now(&self) -> Instant;

    /// Wall-clock time, for reading an HTTP-date `Retry-After`.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    start_wall: SystemTime,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            start_wall: SystemTime::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut elapsed = lock(&self.elapsed);
        *elapsed = elapsed.saturating_add(by);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *lock(&self.elapsed)
    }

    fn wall(&self) -> SystemTime {
        self.start_wall + *lock(&self.elapsed)
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// values behind these locks are valid at every point.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
