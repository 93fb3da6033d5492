//! Rate limits: a fixed window of `RATE_LIMIT_WINDOW` seconds per key, in which at most
//! `RATE_LIMIT_REQUESTS` requests pass (or `RATE_LIMIT_LOGIN_REQUESTS` login attempts
//! per email and IP).
//!
//! A window starts with a key's first request and ends `RATE_LIMIT_WINDOW` seconds later,
//! the same way in memory and in Redis (`INCR` + `PEXPIRE`), so `RateLimit-Remaining`
//! and `RateLimit-Reset` are exact, not estimates. The price of a fixed window is that a
//! client can spend one budget at the end of a window and the next at the start of the
//! following one; for abuse protection that bound (2× in the worst case) is acceptable.
//!
//! **Fail-open on Redis.** With `REDIS_URL` set, all instances share one budget through
//! Redis. When Redis does not answer (within [`redis_store::CALL_TIMEOUT`]), this
//! instance keeps serving and counts in its own memory instead, so each instance
//! enforces the limit on its own until Redis is back; `/api/v1/health/detailed` shows
//! `redis` as `degraded` meanwhile. An outage of a cache must not take the API down, and
//! the per-instance limit still bounds abuse.

mod memory;
mod middleware;
mod redis_store;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::config::Settings;
use crate::error::ApiError;

pub use middleware::{ClientIp, client_ip, is_exempt, is_limited, rate_limit_around};

/// The outcome of counting one request against a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends and the budget is full again.
    pub reset_secs: u64,
}

impl Decision {
    fn from_count(count: u64, limit: u32, ttl: Duration) -> Self {
        Self {
            allowed: count <= u64::from(limit),
            limit,
            remaining: u64::from(limit).saturating_sub(count) as u32,
            reset_secs: ttl.as_millis().div_ceil(1000).max(1) as u64,
        }
    }

    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in [
            ("ratelimit-limit", u64::from(self.limit)),
            ("ratelimit-remaining", u64::from(self.remaining)),
            ("ratelimit-reset", self.reset_secs),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }

    /// The `429` envelope with `Retry-After` and the `RateLimit-*` headers.
    pub fn rejection(&self) -> Response {
        let mut response = ApiError::RateLimited {
            retry_after_secs: self.reset_secs,
        }
        .into_response();
        self.write_headers(response.headers_mut());
        response
    }
}

/// Counts requests per key, in Redis when configured and reachable, else in memory.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    window: Duration,
    memory: memory::MemoryCounter,
    redis: Option<redis_store::RedisCounter>,
}

impl RateLimiter {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let redis = match &settings.redis_url {
            Some(url) => Some(redis_store::RedisCounter::new(
                url.expose(),
                &settings.rate_limit_redis_prefix,
            )?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                window: settings.rate_limit_window(),
                memory: memory::MemoryCounter::new(),
                redis,
            }),
        })
    }

    /// Counts one request for `key` against `limit` per window.
    pub async fn check(&self, key: &str, limit: u32) -> Decision {
        let window = self.inner.window;
        if let Some(redis) = &self.inner.redis
            && let Some((count, ttl)) = redis.hit(key, window).await
        {
            return Decision::from_count(count, limit, ttl);
        }
        let (count, ttl) = self.inner.memory.hit(key, window);
        Decision::from_count(count, limit, ttl)
    }

    /// The `redis` entry of `/health/detailed`, when Redis is configured.
    pub async fn redis_health(&self) -> Option<Value> {
        match &self.inner.redis {
            Some(redis) => Some(redis.health().await),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_count_down_and_refuse_past_the_limit() {
        let ttl = Duration::from_millis(1500);
        let first = Decision::from_count(1, 5, ttl);
        assert!(first.allowed);
        assert_eq!((first.remaining, first.reset_secs), (4, 2));
        let fifth = Decision::from_count(5, 5, ttl);
        assert!(fifth.allowed && fifth.remaining == 0);
        let sixth = Decision::from_count(6, 5, ttl);
        assert!(!sixth.allowed && sixth.remaining == 0);
    }

    #[test]
    fn a_rejection_carries_retry_after_and_ratelimit_headers() {
        let response = Decision::from_count(6, 5, Duration::from_secs(30)).rejection();
        assert_eq!(response.status(), 429);
        let h = response.headers();
        assert_eq!(h["retry-after"], "30");
        assert_eq!(h["ratelimit-limit"], "5");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"], "30");
    }
}
