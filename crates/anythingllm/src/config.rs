use std::fmt;
use std::time::Duration;

pub use quire_resilience::{BreakerConfig, RetryPolicy};

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
