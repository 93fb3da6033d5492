//! Workspace requests and responses, and the checks that turn input into a row.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::backends::{AnswerSource, BackendKind};
use crate::error::ApiError;
use crate::time::ms_to_rfc3339;
use crate::workspaces::prompts;
use crate::workspaces::repo::WorkspaceRow;

/// LLM settings of a workspace (or of one run or question, as an override).
/// API keys are never stored here: they come from the server's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// `extractive` (no model), `openai` (also ollama, vllm, llamacpp), `anthropic`,
    /// or for AnythingLLM any provider name it knows.
    pub provider: Option<String>,
    pub model: Option<String>,
    /// 0 to 2.
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Seconds, 1 to 300.
    pub timeout: Option<u32>,
    /// Base URL of an OpenAI-compatible or Anthropic API (embedded backend).
    pub base_url: Option<String>,
}

impl LlmConfig {
    pub fn validate(&self, field: &str) -> Result<(), ApiError> {
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(ApiError::invalid_field(
                &format!("{field}.temperature"),
                "must be between 0 and 2",
            ));
        }
        if let Some(t) = self.timeout
            && !(1..=300).contains(&t)
        {
            return Err(ApiError::invalid_field(
                &format!("{field}.timeout"),
                "must be between 1 and 300 seconds",
            ));
        }
        if let Some(m) = self.max_tokens
            && m == 0
        {
            return Err(ApiError::invalid_field(
                &format!("{field}.max_tokens"),
                "must be positive",
            ));
        }
        if let Some(url) = &self.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ApiError::invalid_field(
                &format!("{field}.base_url"),
                "must be an http(s) URL",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChatMode {
    /// Answer only from the documents.
    Query,
    /// Documents plus the model's general knowledge.
    Chat,
}

impl ChatMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Chat => "chat",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    /// 1 to 255 characters, unique in the organisation.
    pub name: String,
    pub description: Option<String>,
    /// `embedded` (default) or `anythingllm`.
    pub backend: Option<BackendKind>,
    pub llm_config: Option<LlmConfig>,
    pub system_prompt: Option<String>,
    /// A built-in prompt: `procurement`.
    pub prompt_preset: Option<String>,
    /// Passages used per answer, 1 to 50 (default 4).
    pub top_n: Option<u32>,
    /// 0 to 1 (default 0.25).
    pub similarity_threshold: Option<f64>,
    pub chat_mode: Option<ChatMode>,
    /// Return the existing workspace of this name (200) instead of failing with 409.
    #[serde(default)]
    pub reuse_existing: bool,
}

/// A partial update: only the fields present change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub llm_config: Option<LlmConfig>,
    pub system_prompt: Option<String>,
    pub prompt_preset: Option<String>,
    pub top_n: Option<u32>,
    pub similarity_threshold: Option<f64>,
    pub chat_mode: Option<ChatMode>,
}

pub fn validate_name(name: &str) -> Result<String, ApiError> {
    crate::text::parse_name("name", name, 255)
}

pub fn validate_settings(
    top_n: Option<u32>,
    threshold: Option<f64>,
    preset: Option<&str>,
    llm: Option<&LlmConfig>,
) -> Result<(), ApiError> {
    if let Some(n) = top_n
        && !(1..=50).contains(&n)
    {
        return Err(ApiError::invalid_field("top_n", "must be between 1 and 50"));
    }
    if let Some(t) = threshold
        && !(0.0..=1.0).contains(&t)
    {
        return Err(ApiError::invalid_field(
            "similarity_threshold",
            "must be between 0 and 1",
        ));
    }
    if let Some(p) = preset
        && prompts::preset(p).is_none()
    {
        return Err(ApiError::invalid_field(
            "prompt_preset",
            format!("unknown preset; known: {}", prompts::PRESETS.join(", ")),
        ));
    }
    if let Some(l) = llm {
        l.validate("llm_config")?;
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceLinks {
    pub documents: String,
    pub chat: String,
    pub embed: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceResponse {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    pub backend: String,
    pub llm_config: Option<LlmConfig>,
    pub system_prompt: Option<String>,
    pub prompt_preset: Option<String>,
    pub top_n: i64,
    pub similarity_threshold: f64,
    pub chat_mode: String,
    /// `ready`, or `backend_error` when the backend could not be reached at creation.
    pub status: String,
    pub document_count: i64,
    pub baseline_run_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub links: WorkspaceLinks,
}

impl WorkspaceResponse {
    pub fn from_row(r: WorkspaceRow, document_count: i64) -> Self {
        Self {
            links: WorkspaceLinks {
                documents: format!("/api/v1/workspaces/{}/documents", r.id),
                chat: format!("/api/v1/workspaces/{}/chat", r.id),
                embed: format!("/api/v1/workspaces/{}/embed", r.id),
            },
            llm_config: r
                .llm_config
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            id: r.id,
            name: r.name,
            slug: r.slug,
            description: r.description,
            backend: r.backend,
            system_prompt: r.system_prompt,
            prompt_preset: r.prompt_preset,
            top_n: r.top_n,
            similarity_threshold: r.similarity_threshold,
            chat_mode: r.chat_mode,
            status: r.status,
            document_count,
            baseline_run_id: r.baseline_run_id,
            created_at: ms_to_rfc3339(r.created_at),
            updated_at: ms_to_rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The question or message.
    pub message: String,
    /// Continue this thread (from an earlier answer's `thread_id`); omitted: a one-off question.
    pub thread_id: Option<String>,
    /// Start a new thread and keep the exchange in it.
    #[serde(default)]
    pub new_thread: bool,
    /// Answer only from these documents.
    #[serde(default)]
    pub document_ids: Vec<String>,
    /// Answer only from documents of these types (`pdf`, `json`, `csv`).
    #[serde(default)]
    pub doc_types: Vec<String>,
    pub llm_config: Option<LlmConfig>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub answer: String,
    pub sources: Vec<AnswerSource>,
    pub thread_id: Option<String>,
    pub processing_time_ms: u64,
}

pub fn llm_to_json(llm: &LlmConfig) -> Value {
    serde_json::to_value(llm).unwrap_or(Value::Null)
}
