//! Retries and circuit breaking for every outside HTTP service Quire calls
//! (AnythingLLM, LLM providers, later integrations), in one place so that each
//! client does not grow its own copy with its own bugs.
//!
//! - [`RetryPolicy`]: attempts, exponential backoff with full jitter, a cap,
//!   `Retry-After` ([`parse_retry_after`]); [`is_transient_status`] says which
//!   answers are worth repeating.
//! - [`CircuitBreaker`]: one per endpoint, consecutive-failure threshold, open
//!   period, one half-open trial; [`Permit`] is the right to send one attempt.
//! - [`Clock`]: where the breaker reads time; [`ManualClock`] for tests.
//!
//! The crate knows no HTTP library: clients read statuses and headers
//! themselves and report outcomes.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use quire_resilience::{BreakerConfig, BreakerState, CircuitBreaker, ManualClock};
//!
//! let clock = Arc::new(ManualClock::new());
//! let breaker = CircuitBreaker::new("llm http://localhost:11434", BreakerConfig {
//!     failure_threshold: 1,
//!     open_for: Duration::from_secs(30),
//!     clock: clock.clone(),
//! });
//! if let Some(permit) = breaker.try_acquire() {
//!     permit.report(true); // the attempt failed
//! }
//! assert_eq!(breaker.state(), BreakerState::Open);
//! clock.advance(Duration::from_secs(30));
//! assert_eq!(breaker.state(), BreakerState::HalfOpen);
//! ```

mod breaker;
mod clock;
mod retry;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, Permit};
pub use clock::{Clock, ManualClock, SystemClock};
pub use retry::{RetryPolicy, is_transient_status, parse_retry_after};
