//! Quire's LLM clients and LLM settings.
//!
//! - [`LlmClient`]: an OpenAI-compatible (OpenAI, Ollama, vLLM, llama.cpp server:
//!   `POST {base}/v1/chat/completions`) or Anthropic (`POST {base}/v1/messages`)
//!   client. A typed [`LlmRequest`] in, an [`LlmAnswer`] with the provider's
//!   token [`Usage`] out; timeouts, retries and a circuit breaker per endpoint
//!   from `quire-resilience`. [`LlmClients`] hands out clients that share one
//!   breaker and connection pool per endpoint.
//! - [`LlmSettings`] (complete) and [`LlmOverride`] (partial, the stored and
//!   API shape), combined by [`LlmResolver`]: server default ← organisation ←
//!   workspace ← template or request override, field by field.
//! - `testing` (feature `testing`): in-process HTTP fakes of both APIs.
//!
//! The crate knows nothing of Quire's database, HTTP routes or retrieval.
//!
//! ```no_run
//! use quire_llm::{LlmClients, LlmRequest, LlmSettings, Message, Provider};
//!
//! # async fn example() -> Result<(), quire_llm::LlmError> {
//! let clients = LlmClients::default();
//! let client = clients.client(LlmSettings::new(Provider::OpenAi, "http://localhost:11434", "llama3"))?;
//! let answer = client
//!     .complete(&LlmRequest::new(Some("Be brief.".into()), vec![Message::user("Hello?")]))
//!     .await?;
//! println!("{} ({:?})", answer.text, answer.usage);
//! # Ok(())
//! # }
//! ```

mod client;
mod settings;
mod wire;

#[cfg(feature = "testing")]
pub mod testing;

pub use client::{
    ClientOptions, LlmAnswer, LlmClient, LlmClients, LlmError, LlmRequest, Message, Role, Usage,
};
pub use quire_resilience::{BreakerConfig, BreakerState, ManualClock, RetryPolicy};
pub use settings::{
    ApiKey, DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TIMEOUT, LlmOverride, LlmResolver,
    LlmSettings, Provider, SettingsError,
};
