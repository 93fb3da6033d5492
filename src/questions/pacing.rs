//! How fast a run asks: its own concurrency window (AIMD) under the per-backend limit
//! shared by every run of the process (`crate::backends::limits`), and the backoff
//! between retries of one question.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A run's concurrency window: additive increase, multiplicative decrease. A transient
/// backend error halves the window (at most once per [`Window::COOLDOWN`], so a burst
/// of failures from one overload counts once); every `limit` successes in a row add one
/// slot back, up to the run's `concurrency`.
pub struct Window {
    state: Mutex<WindowState>,
    changed: Notify,
}

struct WindowState {
    max: usize,
    limit: usize,
    in_flight: usize,
    successes: usize,
    last_decrease: Option<Instant>,
}

impl Window {
    pub const COOLDOWN: Duration = Duration::from_millis(500);

    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            state: Mutex::new(WindowState {
                max,
                limit: max,
                in_flight: 0,
                successes: 0,
                last_decrease: None,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Waits until fewer than `limit` questions are in flight, and takes a slot.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    return Slot(self.clone());
                }
            }
            notified.await;
        }
    }

    /// Waits until nothing is in flight.
    pub async fn drained(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().in_flight == 0 {
                return;
            }
            notified.await;
        }
    }

    pub fn on_success(&self) {
        let mut s = self.lock();
        s.successes += 1;
        if s.successes >= s.limit && s.limit < s.max {
            s.limit += 1;
            s.successes = 0;
            drop(s);
            self.changed.notify_waiters();
        }
    }

    /// A transient error: halve the window (not below 1). Returns the new limit.
    pub fn on_congestion(&self) -> usize {
        let mut s = self.lock();
        s.successes = 0;
        let now = Instant::now();
        if s.last_decrease
            .is_none_or(|t| now.duration_since(t) >= Self::COOLDOWN)
        {
            s.limit = (s.limit / 2).max(1);
            s.last_decrease = Some(now);
        }
        s.limit
    }
}

/// A slot in a [`Window`]; released on drop.
pub struct Slot(Arc<Window>);

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut s = self.0.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.0.changed.notify_waiters();
    }
}

/// Retries of one question on transient errors: exponential backoff with full jitter,
/// within a total budget.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Time one question may spend retrying before the run gives up on the backend.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(15),
            budget: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): uniform in
    /// `[base·2^(retry−1) / 2, base·2^(retry−1)]`, capped — half fixed so a run does
    /// slow down, half jitter so runs recovering together do not retry in step.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        full.mul_f64(0.5 + 0.5 * jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn congestion_halves_the_window_and_successes_grow_it_back() {
        let w = Window::new(8);
        assert_eq!(w.on_congestion(), 4);
        // A second failure of the same burst does not halve again.
        assert_eq!(w.on_congestion(), 4);
        for _ in 0..4 {
            w.on_success();
        }
        assert_eq!(w.limit(), 5);
        for _ in 0..100 {
            w.on_success();
        }
        assert_eq!(w.limit(), 8, "never above the run's concurrency");
    }

    #[test]
    fn the_window_never_closes() {
        let w = Window::new(1);
        assert_eq!(w.on_congestion(), 1);
    }

    #[tokio::test]
    async fn slots_are_bounded_by_the_limit() {
        let w = Arc::new(Window::new(2));
        let a = w.acquire().await;
        let _b = w.acquire().await;
        let waiting = tokio::spawn({
            let w = w.clone();
            async move {
                let _c = w.acquire().await;
            }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        waiting.await.unwrap();
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(250));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(500));
        assert_eq!(p.delay(3, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(30, 1.0), Duration::from_secs(15));
    }
}
