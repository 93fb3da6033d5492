//! Generated answers through an LLM API: OpenAI-compatible chat completions
//! (OpenAI, Ollama, vLLM, llama.cpp server, ...) or Anthropic Messages.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::answer::{Answer, AnswerKind, passage_source};
use crate::index::Passage;
use crate::text::distinct_terms;
use crate::thread::{Role, Turn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Provider {
    /// `POST {base}/v1/chat/completions`.
    #[serde(
        rename = "openai",
        alias = "openai_compatible",
        alias = "ollama",
        alias = "vllm",
        alias = "llamacpp"
    )]
    OpenAi,
    /// `POST {base}/v1/messages`.
    #[serde(rename = "anthropic")]
    Anthropic,
}

impl FromStr for Provider {
    type Err = LlmError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" | "openai_compatible" | "openai-compatible" | "ollama" | "vllm"
            | "llamacpp" | "llama.cpp" => Ok(Provider::OpenAi),
            "anthropic" => Ok(Provider::Anthropic),
            other => Err(LlmError::InvalidConfig(format!(
                "unknown LLM provider {other:?}; expected openai (or ollama, vllm, llamacpp) or anthropic"
            ))),
        }
    }
}

/// An API key that never shows in `Debug` output, logs or errors.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub provider: Provider,
    /// The server's root, e.g. `http://localhost:11434`. A trailing `/v1` is
    /// accepted too, since OpenAI SDK settings usually include it.
    pub base_url: String,
    /// Sent as `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic).
    /// Local servers usually need none.
    pub api_key: Option<ApiKey>,
    pub model: String,
    pub temperature: f32,
    pub max_tokens: u32,
    /// For the whole request, including reading the answer.
    pub timeout: Duration,
}

impl LlmConfig {
    pub fn new(provider: Provider, base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider,
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            temperature: 0.2,
            max_tokens: 1024,
            timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("invalid LLM configuration: {0}")]
    InvalidConfig(String),
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
}

impl LlmError {
    /// Whether the same request may succeed later: timeouts, connection
    /// errors, rate limits and server-side failures (Anthropic's 529
    /// "overloaded" included).
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Connect(_) | LlmError::RateLimited { .. } => true,
            LlmError::Api { status, .. } => *status == 408 || *status >= 500,
            _ => false,
        }
    }
}

/// A client for one configured model.
#[derive(Debug, Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    config: LlmConfig,
    endpoint: String,
}

/// Caps the echo of an error body: an HTML error page is no message.
const MAX_ERROR_CHARS: usize = 500;

impl LlmClient {
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let base = config.base_url.trim().trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(LlmError::InvalidConfig(format!(
                "base_url must start with http:// or https://, got {:?}",
                truncate(base, 100)
            )));
        }
        if config.model.trim().is_empty() {
            return Err(LlmError::InvalidConfig("model is empty".to_owned()));
        }
        if config.max_tokens == 0 {
            return Err(LlmError::InvalidConfig(
                "max_tokens must be positive".to_owned(),
            ));
        }
        let endpoint = match config.provider {
            Provider::OpenAi => format!("{base}/v1/chat/completions"),
            Provider::Anthropic => format!("{base}/v1/messages"),
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| LlmError::InvalidConfig(error_chain(&e)))?;
        Ok(Self {
            http,
            config,
            endpoint,
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// Sends `messages` after `system` and returns the model's text.
    pub async fn complete(&self, system: &str, messages: &[Turn]) -> Result<String, LlmError> {
        let request = match self.config.provider {
            Provider::OpenAi => {
                let mut all = vec![json!({"role": "system", "content": system})];
                all.extend(
                    messages
                        .iter()
                        .map(|t| json!({"role": t.role, "content": t.text})),
                );
                let body = json!({
                    "model": self.config.model,
                    "messages": all,
                    "temperature": self.config.temperature,
                    "max_tokens": self.config.max_tokens,
                    "stream": false,
                });
                let request = self.http.post(&self.endpoint).json(&body);
                match &self.config.api_key {
                    Some(key) => request.bearer_auth(key.expose()),
                    None => request,
                }
            }
            Provider::Anthropic => {
                // The Messages API wants the conversation to open with the user.
                let first_user = messages
                    .iter()
                    .position(|t| t.role == Role::User)
                    .unwrap_or(messages.len());
                let turns: Vec<_> = messages[first_user..]
                    .iter()
                    .map(|t| json!({"role": t.role, "content": t.text}))
                    .collect();
                let body = json!({
                    "model": self.config.model,
                    "system": system,
                    "messages": turns,
                    "temperature": self.config.temperature,
                    "max_tokens": self.config.max_tokens,
                });
                let request = self
                    .http
                    .post(&self.endpoint)
                    .header("anthropic-version", "2023-06-01")
                    .json(&body);
                match &self.config.api_key {
                    Some(key) => request.header("x-api-key", key.expose()),
                    None => request,
                }
            }
        };

        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;

        if !status.is_success() {
            let (kind, message) = parse_error_body(&body);
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

        let text = match self.config.provider {
            Provider::OpenAi => parse_openai(&body),
            Provider::Anthropic => parse_anthropic(&body),
        }
        .map_err(|e| LlmError::InvalidResponse(self.redact(&e)))?;
        if text.trim().is_empty() {
            return Err(LlmError::EmptyAnswer);
        }
        Ok(text)
    }

    fn transport_error(&self, err: &reqwest::Error) -> LlmError {
        if err.is_timeout() {
            return LlmError::Timeout(self.config.timeout);
        }
        let mut message = self.redact(&error_chain(err));
        if self.endpoint.starts_with("https://") && err.is_builder() {
            message.push_str(" (https needs quire-engine's `rustls` feature)");
        }
        LlmError::Connect(message)
    }

    /// Error text may come from the server; make sure the key is not in it,
    /// whatever the server chose to echo.
    fn redact(&self, text: &str) -> String {
        let text = truncate(text, MAX_ERROR_CHARS);
        match &self.config.api_key {
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

/// `(kind, message)` from an error body in any of the shapes these servers
/// use: OpenAI `{"error": {"message", "type"}}`, Anthropic `{"type": "error",
/// "error": {"type", "message"}}`, Ollama `{"error": "..."}`, or plain text.
fn parse_error_body(body: &str) -> (Option<String>, String) {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ErrorField {
        Object {
            message: Option<String>,
            #[serde(rename = "type")]
            kind: Option<String>,
        },
        Text(String),
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        error: Option<ErrorField>,
        message: Option<String>,
    }
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody {
            error: Some(ErrorField::Object { message, kind }),
            ..
        }) => (kind, message.unwrap_or_default()),
        Ok(ErrorBody {
            error: Some(ErrorField::Text(message)),
            ..
        }) => (None, message),
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) => (None, message),
        _ => (None, body.trim().to_owned()),
    }
}

fn parse_openai(body: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Response {
        choices: Vec<Choice>,
    }
    #[derive(Deserialize)]
    struct Choice {
        message: Message,
    }
    #[derive(Deserialize)]
    struct Message {
        content: Option<String>,
    }
    let response: Response = serde_json::from_str(body).map_err(|e| e.to_string())?;
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "no choices".to_owned())?;
    Ok(choice.message.content.unwrap_or_default())
}

fn parse_anthropic(body: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Response {
        content: Vec<Block>,
    }
    #[derive(Deserialize)]
    struct Block {
        #[serde(rename = "type")]
        kind: String,
        text: Option<String>,
    }
    let response: Response = serde_json::from_str(body).map_err(|e| e.to_string())?;
    Ok(response
        .content
        .into_iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text)
        .collect::<Vec<_>>()
        .join(""))
}

/// Used when the workspace has no system prompt of its own.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You answer questions about the user's documents. \
Answer only from the numbered passages you are given, cite them by number like [1], \
and say so plainly when they do not contain the answer. Be concise.";

/// Earlier turns beyond these are left out: the passages matter more than a
/// long-ago exchange, and local models have small context windows.
pub const MAX_HISTORY_TURNS: usize = 12;

/// The user message: numbered passages, then the question.
pub fn build_prompt(question: &str, passages: &[Passage]) -> String {
    let mut prompt = String::from(
        "Answer the question using only the passages below. Cite the passages you use by \
         their number in square brackets, like [1]. If the passages do not contain the \
         answer, say that the documents do not say.\n\nPassages:\n",
    );
    if passages.is_empty() {
        prompt.push_str("(no passages matched the question)\n");
    }
    for (i, p) in passages.iter().enumerate() {
        prompt.push_str(&format!(
            "\n[{}] document {} ({}), page {}\n{}\n",
            i + 1,
            p.document_id,
            p.document_type,
            p.page,
            p.text.trim()
        ));
    }
    prompt.push_str("\nQuestion: ");
    prompt.push_str(question.trim());
    prompt
}

/// Asks the model to answer `question` from `passages`, after the last
/// [`MAX_HISTORY_TURNS`] turns of `history`. The sources are the passages in
/// rank order, each with its sentence that best matches the question.
pub async fn answer_with_llm(
    client: &LlmClient,
    question: &str,
    passages: &[Passage],
    system_prompt: Option<&str>,
    history: &[Turn],
) -> Result<Answer, LlmError> {
    let recent = &history[history.len().saturating_sub(MAX_HISTORY_TURNS)..];
    let mut messages = recent.to_vec();
    messages.push(Turn::user(build_prompt(question, passages)));
    let system = system_prompt
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_SYSTEM_PROMPT);
    let text = client.complete(system, &messages).await?;
    let terms = distinct_terms(question);
    Ok(Answer {
        text: text.trim().to_owned(),
        sources: passages.iter().map(|p| passage_source(&terms, p)).collect(),
        kind: AnswerKind::Generated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_redacted_in_debug_output() {
        let mut config = LlmConfig::new(Provider::OpenAi, "http://localhost:1", "m");
        config.api_key = Some(ApiKey::new("sk-secret"));
        assert!(!format!("{config:?}").contains("sk-secret"));
    }

    #[test]
    fn a_base_url_with_v1_gets_one_v1() {
        let config = LlmConfig::new(Provider::OpenAi, "http://localhost:11434/v1/", "m");
        let client = LlmClient::new(config).unwrap();
        assert_eq!(
            client.endpoint,
            "http://localhost:11434/v1/chat/completions"
        );
    }

    #[test]
    fn error_bodies_of_every_shape_give_their_message() {
        assert_eq!(
            parse_error_body(r#"{"error":{"message":"bad model","type":"invalid_request_error"}}"#),
            (Some("invalid_request_error".into()), "bad model".into())
        );
        assert_eq!(
            parse_error_body(r#"{"error":"model not found"}"#),
            (None, "model not found".into())
        );
        assert_eq!(
            parse_error_body("Bad Gateway"),
            (None, "Bad Gateway".into())
        );
    }

    #[test]
    fn provider_names_parse_case_insensitively() {
        assert_eq!("Ollama".parse::<Provider>().unwrap(), Provider::OpenAi);
        assert_eq!(
            "anthropic".parse::<Provider>().unwrap(),
            Provider::Anthropic
        );
        assert!("gemini".parse::<Provider>().is_err());
    }
}
