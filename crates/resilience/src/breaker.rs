//! A circuit breaker per endpoint: after `failure_threshold` consecutive failed
//! attempts it opens and callers fail at once without sending anything, so a
//! dead server costs them nothing but an error while it recovers. After
//! `open_for` on the injected [`Clock`] it lets exactly one trial attempt
//! through (half-open); the trial's success closes it, its failure opens it for
//! another period. It counts attempts, not calls, because retries are load the
//! failing server has to absorb. The clock is injected so tests move time
//! forward instead of sleeping through the open period.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock, lock};

/// Circuit breaker settings.
#[derive(Clone)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the breaker.
    pub failure_threshold: u32,
    /// How long the breaker stays open before it lets one trial call through.
    pub open_for: Duration,
    /// Where the breaker reads the time; tests pass a [`crate::ManualClock`].
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for BreakerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerConfig")
            .field("failure_threshold", &self.failure_threshold)
            .field("open_for", &self.open_for)
            .finish_non_exhaustive()
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What the breaker currently allows, for health reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls fail fast without sending anything.
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

/// Counts consecutive failed attempts against one endpoint and stops sending
/// once the server looks down. `name` (the service or endpoint) is only for
/// log lines.
#[derive(Debug)]
pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// The right to send one attempt. Dropping it unreported (a cancelled call)
/// frees the trial slot so the breaker cannot stay half-open forever.
pub struct Permit {
    breaker: Arc<CircuitBreaker>,
    trial: bool,
    reported: bool,
}

impl CircuitBreaker {
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            config,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        })
    }

    pub fn state(&self) -> BreakerState {
        let now = self.config.clock.now();
        match *lock(&self.inner) {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { since } if self.open_period_over(since, now) => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// `None` when the breaker is open or a trial call is already in flight.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
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
                tracing::info!(service = %self.name, "circuit breaker closed");
            }
            *inner = Inner::Closed { failures: 0 };
            return;
        }
        match *inner {
            Inner::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    tracing::warn!(service = %self.name, failures, "circuit breaker opened");
                    *inner = Inner::Open { since: now };
                } else {
                    *inner = Inner::Closed { failures };
                }
            }
            Inner::HalfOpen { .. } if trial => {
                tracing::warn!(service = %self.name, "circuit breaker trial call failed; open again");
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
    /// Reports the attempt's outcome: `failed` when it says the server is
    /// unhealthy (no connection, timeout, 5xx, 429). An answer that proves the
    /// server is up, even a 4xx, is not a failure.
    pub fn report(mut self, failed: bool) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn breaker(clock: Arc<ManualClock>) -> Arc<CircuitBreaker> {
        CircuitBreaker::new(
            "test",
            BreakerConfig {
                failure_threshold: 3,
                open_for: Duration::from_secs(60),
                clock,
            },
        )
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
