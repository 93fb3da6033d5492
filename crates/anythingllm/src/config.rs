use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{Clock, SystemClock};

/// An AnythingLLM developer API key. Every key has full access to the instance,
/// so it must never reach a log: `Debug` prints `[redacted]` and there is no
/// `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The secret itself, for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}

/// How failed attempts are repeated: exponential backoff with full jitter, so
/// that many clients recovering together do not hit the server in step.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included. 1 disables retries.
    pub max_attempts: u32,
    /// The backoff cap before the first retry; it doubles for each later one.
    pub base_delay: Duration,
    /// The largest wait between two attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// A random wait in `[0, min(max_delay, base_delay * 2^retry)]`, where
    /// `retry` counts from 0 for the first retry.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let cap = self.base_delay.saturating_mul(factor).min(self.max_delay);
        let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=cap_nanos))
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

/// Everything a [`crate::Client`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API root, including `/api`: `http://anythingllm:3001/api`.
    pub base_url: String,
    pub api_key: ApiKey,
    /// Timeout of ordinary calls (settings, threads, lookups).
    pub call_timeout: Duration,
    /// Timeout of calls that process documents: uploads, which parse the file
    /// in the collector, and update-embeddings, which embeds synchronously and
    /// can take minutes on a large file.
    pub embed_timeout: Duration,
    /// Timeout of chat calls, which wait for a complete LLM answer.
    pub chat_timeout: Duration,
    /// Timeout of establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Upload answers carry the full extracted text, so they can be large; a
    /// bigger answer is refused rather than buffered without bound.
    pub max_response_bytes: usize,
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, api_key: impl Into<ApiKey>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            call_timeout: Duration::from_secs(30),
            embed_timeout: Duration::from_secs(600),
            chat_timeout: Duration::from_secs(180),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 64 * 1024 * 1024,
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}
