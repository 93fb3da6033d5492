//! One call to a model: build the provider's body, send it under the shared
//! retry policy and the endpoint's circuit breaker, read the answer.
//!
//! - **Retries** follow `quire-resilience`: connection failures, timeouts, 429
//!   (waiting at least its `Retry-After`), 502/503/504 and Anthropic's 529
//!   ("overloaded", its 503) are repeated with jittered backoff. A completion
//!   changes nothing on the server, so repeating one that may have been
//!   processed only costs tokens.
//! - **One breaker per endpoint** (provider + API root), shared by every client
//!   that [`LlmClients`] hands out for it, so a dead Ollama stops costing each
//!   question a connect timeout, while another workspace's endpoint is unaffected.
//! - **Keys never leave in errors**: error text quoted from a server is cut
//!   short and has the key replaced, whatever the server chose to echo.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use quire_resilience::{
    BreakerConfig, BreakerState, CircuitBreaker, RetryPolicy, is_transient_status,
    parse_retry_after,
};
use serde::{Deserialize, Serialize};

use crate::settings::{LlmSettings, Provider, SettingsError};
use crate::wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One message of the conversation (the system prompt is separate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// What to ask. `temperature` and `max_tokens` default to the settings'.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LlmRequest {
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

impl LlmRequest {
    pub fn new(system: Option<String>, messages: Vec<Message>) -> Self {
        Self {
            system,
            messages,
            ..Self::default()
        }
    }
}

/// Tokens as the provider counted them: OpenAI's `prompt_tokens` and
/// `completion_tokens`, Anthropic's `input_tokens` and `output_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    pub text: String,
    /// The model that answered, as the provider names it (the requested one
    /// when the answer does not say).
    pub model: String,
    /// `None` when the server did not report usage.
    pub usage: Option<Usage>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("invalid LLM configuration: {0}")]
    InvalidConfig(#[from] SettingsError),
    #[error("the LLM API did not answer within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the LLM API: {0}")]
    Connect(String),
    #[error("the LLM API refused the credentials (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("the LLM API is rate limiting (HTTP 429): {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("the LLM API failed (HTTP {status}{}): {message}", kind.as_deref().map(|k| format!(", {k}")).unwrap_or_default())]
    Api {
        status: u16,
        kind: Option<String>,
        message: String,
    },
    #[error("the LLM API answered in an unexpected shape: {0}")]
    InvalidResponse(String),
    #[error("the LLM API returned an empty answer")]
    EmptyAnswer,
    #[error("the LLM API failed too often recently (circuit breaker open)")]
    CircuitOpen,
}

impl LlmError {
    /// Whether the same request may succeed later: timeouts, connection
    /// errors, rate limits, an open breaker and server-side failures
    /// (Anthropic's 529 "overloaded" included). Callers use it to tell
    /// "unavailable" from "refused"; the client itself repeats only what
    /// [`LlmError::is_transient`] says.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout(_)
            | LlmError::Connect(_)
            | LlmError::RateLimited { .. }
            | LlmError::CircuitOpen => true,
            LlmError::Api { status, .. } => *status == 408 || *status >= 500,
            _ => false,
        }
    }

    /// What the shared policy repeats at once: nothing was done and the
    /// server says (or shows) it is briefly unable.
    fn is_transient(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Connect(_) | LlmError::RateLimited { .. } => true,
            LlmError::Api { status, .. } => is_transient_status(*status) || *status == 529,
            _ => false,
        }
    }

    /// Failures that say the endpoint is unhealthy, which its breaker counts.
    fn counts_against_breaker(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Connect(_) | LlmError::RateLimited { .. } => true,
            LlmError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// Retry and breaker settings shared by the clients of one [`LlmClients`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    pub breaker: BreakerConfig,
    /// A bigger answer is refused rather than buffered without bound.
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
            max_response_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Caps the echo of an error body: an HTML error page is no message.
const MAX_ERROR_CHARS: usize = 500;

/// Endpoints kept at once. Base URLs come from tenants' settings, so the map
/// must not grow without bound; past this it starts again, which only resets
/// breakers and connection pools.
const MAX_ENDPOINTS: usize = 256;

struct Endpoint {
    http: reqwest::Client,
    breaker: Arc<CircuitBreaker>,
}

/// Hands out clients, one connection pool and one circuit breaker per endpoint.
pub struct LlmClients {
    options: ClientOptions,
    endpoints: Mutex<HashMap<(Provider, String), Arc<Endpoint>>>,
}

impl fmt::Debug for LlmClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClients")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Default for LlmClients {
    fn default() -> Self {
        Self::new(ClientOptions::default())
    }
}

impl LlmClients {
    pub fn new(options: ClientOptions) -> Self {
        Self {
            options,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// A client for `settings`, sharing the endpoint's breaker with every
    /// other client of it. The settings are checked first.
    pub fn client(&self, settings: LlmSettings) -> Result<LlmClient, LlmError> {
        settings.validate()?;
        let root = settings.root()?;
        let key = (settings.provider, root.clone());
        let endpoint = {
            let mut endpoints = self
                .endpoints
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match endpoints.get(&key) {
                Some(e) => Arc::clone(e),
                None => {
                    if endpoints.len() >= MAX_ENDPOINTS {
                        endpoints.clear();
                    }
                    let e = Arc::new(Endpoint {
                        http: build_http()?,
                        breaker: CircuitBreaker::new(
                            format!("llm {} {root}", settings.provider),
                            self.options.breaker.clone(),
                        ),
                    });
                    endpoints.insert(key, Arc::clone(&e));
                    e
                }
            }
        };
        LlmClient::assemble(settings, root, endpoint, &self.options)
    }

    /// The breaker state of the endpoint `settings` point at (closed when
    /// nothing has been sent there yet).
    pub fn breaker_state(&self, settings: &LlmSettings) -> BreakerState {
        let Ok(root) = settings.root() else {
            return BreakerState::Closed;
        };
        self.endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(settings.provider, root))
            .map(|e| e.breaker.state())
            .unwrap_or(BreakerState::Closed)
    }
}

fn build_http() -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| LlmError::Connect(error_chain(&e)))
}

/// A client for one configured model. Clones share the endpoint.
#[derive(Clone)]
pub struct LlmClient {
    settings: LlmSettings,
    url: String,
    endpoint: Arc<Endpoint>,
    retry: RetryPolicy,
    max_response_bytes: usize,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("settings", &self.settings)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client with its own breaker and the default options; a service should
    /// use [`LlmClients`] so that clients of one endpoint share a breaker.
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        Self::with_options(settings, &ClientOptions::default())
    }

    pub fn with_options(settings: LlmSettings, options: &ClientOptions) -> Result<Self, LlmError> {
        settings.validate()?;
        let root = settings.root()?;
        let endpoint = Arc::new(Endpoint {
            http: build_http()?,
            breaker: CircuitBreaker::new(
                format!("llm {} {root}", settings.provider),
                options.breaker.clone(),
            ),
        });
        Self::assemble(settings, root, endpoint, options)
    }

    fn assemble(
        settings: LlmSettings,
        root: String,
        endpoint: Arc<Endpoint>,
        options: &ClientOptions,
    ) -> Result<Self, LlmError> {
        let url = match settings.provider {
            Provider::OpenAi => format!("{root}/v1/chat/completions"),
            Provider::Anthropic => format!("{root}/v1/messages"),
        };
        Ok(Self {
            settings,
            url,
            endpoint,
            retry: options.retry.clone(),
            max_response_bytes: options.max_response_bytes,
        })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.endpoint.breaker.state()
    }

    /// Asks the model, retrying transient failures, and returns its answer.
    pub async fn complete(&self, request: &LlmRequest) -> Result<LlmAnswer, LlmError> {
        let body = match self.settings.provider {
            Provider::OpenAi => wire::openai_body(&self.settings, request),
            Provider::Anthropic => wire::anthropic_body(&self.settings, request),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::InvalidResponse(format!("could not encode the request: {e}")))?;
        let mut attempt: u32 = 0;
        let mut last_error: Option<LlmError> = None;
        loop {
            attempt += 1;
            let Some(permit) = self.endpoint.breaker.try_acquire() else {
                // Once retries have started, the real failure says more than
                // the breaker opening on top of it.
                return Err(last_error.unwrap_or(LlmError::CircuitOpen));
            };
            let result = self.send_once(&body).await;
            permit.report(matches!(&result, Err(e) if e.counts_against_breaker()));
            let error = match result {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if !error.is_transient() || !self.retry.allows_another(attempt) {
                return Err(error);
            }
            let retry_after = match &error {
                LlmError::RateLimited { retry_after, .. } => *retry_after,
                _ => None,
            };
            let delay = self.retry.delay(attempt - 1, retry_after);
            tracing::warn!(
                provider = %self.settings.provider,
                attempt,
                error = %error,
                delay_ms = delay.as_millis() as u64,
                "LLM call failed; retrying"
            );
            last_error = Some(error);
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, body: &[u8]) -> Result<LlmAnswer, LlmError> {
        let request = self
            .endpoint
            .http
            .post(&self.url)
            .timeout(self.settings.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let request = match (self.settings.provider, &self.settings.api_key) {
            (Provider::OpenAi, Some(key)) => request.bearer_auth(key.expose()),
            (Provider::OpenAi, None) => request,
            (Provider::Anthropic, key) => {
                let request = request.header("anthropic-version", "2023-06-01");
                match key {
                    Some(key) => request.header("x-api-key", key.expose()),
                    None => request,
                }
            }
        };
        let mut response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut bytes = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if bytes.len() + chunk.len() > self.max_response_bytes {
                return Err(LlmError::InvalidResponse(format!(
                    "answer larger than {} bytes",
                    self.max_response_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }

        if !status.is_success() {
            let (kind, message) = wire::parse_error_body(&String::from_utf8_lossy(&bytes));
            let message = self.redact(&message);
            let status = status.as_u16();
            return Err(match status {
                401 | 403 => LlmError::Unauthorized { status, message },
                429 => LlmError::RateLimited {
                    retry_after,
                    message,
                },
                _ => LlmError::Api {
                    status,
                    kind,
                    message,
                },
            });
        }

        let parsed = match self.settings.provider {
            Provider::OpenAi => wire::parse_openai(&bytes),
            Provider::Anthropic => wire::parse_anthropic(&bytes),
        }
        .map_err(|e| LlmError::InvalidResponse(self.redact(&e)))?;
        if parsed.text.trim().is_empty() {
            return Err(LlmError::EmptyAnswer);
        }
        Ok(LlmAnswer {
            text: parsed.text,
            model: parsed.model.unwrap_or_else(|| self.settings.model.clone()),
            usage: parsed.usage,
        })
    }

    fn transport_error(&self, err: &reqwest::Error) -> LlmError {
        if err.is_timeout() {
            return LlmError::Timeout(self.settings.timeout);
        }
        LlmError::Connect(self.redact(&error_chain(err)))
    }

    /// Error text may come from the server; make sure the key is not in it.
    fn redact(&self, text: &str) -> String {
        let text = truncate(text, MAX_ERROR_CHARS);
        match &self.settings.api_key {
            Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "<redacted>"),
            _ => text,
        }
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// The error and its causes on one line, without the URL.
fn error_chain(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_with_v1_gets_one_v1() {
        let settings = LlmSettings::new(Provider::OpenAi, "http://localhost:11434/v1/", "m");
        let client = LlmClient::new(settings).unwrap();
        assert_eq!(client.url(), "http://localhost:11434/v1/chat/completions");
    }

    #[test]
    fn clients_of_one_endpoint_share_a_breaker_and_others_do_not() {
        let clients = LlmClients::default();
        let a = clients
            .client(LlmSettings::new(Provider::OpenAi, "http://a:1", "m"))
            .unwrap();
        let b = clients
            .client(LlmSettings::new(Provider::OpenAi, "http://a:1/v1", "other"))
            .unwrap();
        let c = clients
            .client(LlmSettings::new(Provider::OpenAi, "http://c:1", "m"))
            .unwrap();
        assert!(Arc::ptr_eq(&a.endpoint, &b.endpoint));
        assert!(!Arc::ptr_eq(&a.endpoint, &c.endpoint));
    }
}
