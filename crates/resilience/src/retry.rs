//! The one retry policy of Quire's HTTP clients.
//!
//! - **Exponential backoff with full jitter**: the wait before retry *n* is
//!   uniform in `[0, min(max_delay, base_delay·2ⁿ)]`, so many clients recovering
//!   together do not hit the server in step.
//! - **`Retry-After` is honoured** (seconds or an HTTP-date): the wait is at
//!   least what the server asked for, but never more than `max_delay`, so one
//!   answer cannot park a caller for an hour.
//! - **What is transient** is decided here once: a connection that failed, a
//!   timeout, 429, and the gateway statuses 502/503/504, which say the request
//!   never reached a working application. Whether a request that may already
//!   have been applied is repeated stays the client's decision (it knows which
//!   operations are idempotent).

use std::time::{Duration, SystemTime};

/// How failed attempts are repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included. 1 disables retries.
    pub max_attempts: u32,
    /// The backoff cap before the first retry; it doubles for each later one.
    pub base_delay: Duration,
    /// The largest wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Whether attempt number `attempt` (counting from 1) may be followed by another.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts.max(1)
    }

    /// A random wait in `[0, min(max_delay, base_delay * 2^retry)]`, where
    /// `retry` counts from 0 for the first retry.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let cap = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=cap_nanos))
    }

    /// The wait before retry `retry` (from 0): the backoff, raised to the
    /// server's `Retry-After` when it gave one, within `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(retry);
        match retry_after {
            Some(after) => backoff.max(after.min(self.max_delay)),
            None => backoff,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Whether an HTTP status says "try again later" and nothing was done: 429, and
/// the gateway errors 502, 503 and 504.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 429 | 502..=504)
}

/// Reads a `Retry-After` header value: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`, measured from `now`; a date in the past
/// is no wait). Anything else is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
        }
    }

    #[test]
    fn backoff_stays_within_the_doubling_cap_and_the_maximum() {
        let p = policy();
        for _ in 0..500 {
            assert!(p.backoff(0) <= Duration::from_millis(100));
            assert!(p.backoff(1) <= Duration::from_millis(200));
            assert!(p.backoff(2) <= Duration::from_millis(400));
            assert!(p.backoff(3) <= Duration::from_millis(700));
            assert!(p.backoff(40) <= Duration::from_millis(700));
        }
    }

    #[test]
    fn backoff_is_jittered_not_fixed() {
        let p = policy();
        let waits: std::collections::HashSet<Duration> = (0..50).map(|_| p.backoff(3)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }

    #[test]
    fn retry_after_raises_the_wait_but_not_past_the_maximum() {
        let p = policy();
        for _ in 0..100 {
            assert!(p.delay(0, Some(Duration::from_millis(300))) >= Duration::from_millis(300));
            assert_eq!(
                p.delay(0, Some(Duration::from_secs(3600))),
                Duration::from_millis(700)
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means no wait"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn transient_statuses_are_429_and_the_gateway_errors() {
        for status in [429, 502, 503, 504] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [200, 400, 401, 404, 422, 500, 501, 505] {
            assert!(!is_transient_status(status), "{status}");
        }
    }

    #[test]
    fn attempts_are_counted_from_one_and_capped() {
        let p = policy();
        assert!(p.allows_another(3));
        assert!(!p.allows_another(4));
        assert!(!RetryPolicy::none().allows_another(1));
        let zero = RetryPolicy {
            max_attempts: 0,
            ..policy()
        };
        assert!(!zero.allows_another(1), "0 attempts means one");
    }
}
