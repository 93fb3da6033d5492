use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;

/// A source of the current time, so that tests can move the breaker's clock
/// forward instead of sleeping through the open period.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
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
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
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
}

/// What the breaker currently allows, for health reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls fail fast with [`crate::Error::CircuitOpen`].
    Open,
    /// The open period is over; the next call is a trial whose result closes or
    /// reopens the breaker.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// Counts consecutive failed attempts of one client and stops sending once the
/// server looks down, so that a dead AnythingLLM costs callers nothing but an
/// error while it recovers.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// The right to send one attempt. Dropping it unreported (a cancelled call)
/// frees the trial slot so the breaker cannot stay half-open forever.
pub(crate) struct Permit {
    breaker: Arc<CircuitBreaker>,
    trial: bool,
    reported: bool,
}

impl CircuitBreaker {
    pub(crate) fn new(config: BreakerConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        })
    }

    pub(crate) fn state(&self) -> BreakerState {
        let now = self.config.clock.now();
        match *lock(&self.inner) {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { since } if self.open_period_over(since, now) => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// `None` when the breaker is open or a trial call is already in flight.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let now = self.config.clock.now();
        let mut inner = lock(&self.inner);
        let trial = match *inner {
            Inner::Closed { .. } => false,
            Inner::Open { since } if self.open_period_over(since, now) => {
                *inner = Inner::HalfOpen {
                    trial_in_flight: true,
                };
                true
            }
            Inner::Open { .. } => return None,
            Inner::HalfOpen {
                trial_in_flight: true,
            } => return None,
            Inner::HalfOpen {
                trial_in_flight: false,
            } => {
                *inner = Inner::HalfOpen {
                    trial_in_flight: true,
                };
                true
            }
        };
        Some(Permit {
            breaker: Arc::clone(self),
            trial,
            reported: false,
        })
    }

    fn open_period_over(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) >= self.config.open_for
    }

    fn record(&self, trial: bool, failed: bool) {
        let now = self.config.clock.now();
        let mut inner = lock(&self.inner);
        if !failed {
            if !matches!(*inner, Inner::Closed { failures: 0 }) {
                tracing::info!("AnythingLLM circuit breaker closed");
            }
            *inner = Inner::Closed { failures: 0 };
            return;
        }
        match *inner {
            Inner::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    tracing::warn!(failures, "AnythingLLM circuit breaker opened");
                    *inner = Inner::Open { since: now };
                } else {
                    *inner = Inner::Closed { failures };
                }
            }
            Inner::HalfOpen { .. } if trial => {
                tracing::warn!("AnythingLLM circuit breaker trial call failed; open again");
                *inner = Inner::Open { since: now };
            }
            // A late answer of an attempt that started before the breaker
            // opened says nothing new.
            Inner::HalfOpen { .. } | Inner::Open { .. } => {}
        }
    }

    fn release_unreported(&self, trial: bool) {
        if !trial {
            return;
        }
        let mut inner = lock(&self.inner);
        if let Inner::HalfOpen {
            trial_in_flight: true,
        } = *inner
        {
            *inner = Inner::HalfOpen {
                trial_in_flight: false,
            };
        }
    }
}

impl Permit {
    pub(crate) fn report(mut self, failed: bool) {
        self.reported = true;
        self.breaker.record(self.trial, failed);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.reported {
            self.breaker.release_unreported(self.trial);
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it; the
/// breaker's state is a plain enum that is valid at every point.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(clock: Arc<ManualClock>) -> Arc<CircuitBreaker> {
        CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(60),
            clock,
        })
    }

    fn fail(b: &Arc<CircuitBreaker>) {
        b.try_acquire().expect("permit").report(true);
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let b = breaker(Arc::new(ManualClock::new()));
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.try_acquire().is_none());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let b = breaker(Arc::new(ManualClock::new()));
        fail(&b);
        fail(&b);
        b.try_acquire().expect("permit").report(false);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn half_open_allows_exactly_one_trial_and_its_failure_reopens() {
        let clock = Arc::new(ManualClock::new());
        let b = breaker(Arc::clone(&clock));
        for _ in 0..3 {
            fail(&b);
        }
        clock.advance(Duration::from_secs(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let trial = b.try_acquire().expect("trial permit");
        assert!(b.try_acquire().is_none(), "second caller during the trial");
        trial.report(true);
        assert_eq!(b.state(), BreakerState::Open);
        clock.advance(Duration::from_secs(60));
        b.try_acquire().expect("trial permit").report(false);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn a_cancelled_trial_frees_the_slot_for_another() {
        let clock = Arc::new(ManualClock::new());
        let b = breaker(Arc::clone(&clock));
        for _ in 0..3 {
            fail(&b);
        }
        clock.advance(Duration::from_secs(61));
        drop(b.try_acquire().expect("trial permit"));
        assert!(b.try_acquire().is_some());
    }
}
