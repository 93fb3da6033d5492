//! Workspace requests and responses, and the checks that turn input into a row.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::backends::{AnswerSource, BackendKind};
use crate::error::ApiError;
use crate::time::ms_to_rfc3339;
use crate::workspaces::prompts;
use crate::workspaces::repo::WorkspaceRow;

/// LLM settings of a workspace, a run or a question: the partial form of
/// `quire_llm::LlmSettings`, resolved over the server default by
/// `quire_llm::LlmResolver` (see `backends::embedded`). It is also the JSON of the
/// `llm_config` column. API keys are never part of it.
pub use quire_llm::LlmOverride;
use quire_llm::SettingsError;

/// A 422 naming `{prefix}.{field}`.
pub fn llm_error(prefix: &str, e: &SettingsError) -> ApiError {
    ApiError::invalid_llm_settings(prefix, e)
}

/// Checks an `llm_config` given in a request; the error names `{prefix}.{field}`.
pub fn validate_llm(llm: &LlmOverride, prefix: &str) -> Result<(), ApiError> {
    llm.validate().map_err(|e| llm_error(prefix, &e))
}

/// The workspace's stored `llm_config` column, parsed into its one type.
pub fn stored_llm_config(column: Option<&str>) -> Result<Option<LlmOverride>, SettingsError> {
    column.map(LlmOverride::from_json_str).transpose()
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
    /// Unique in the organisation.
    #[schema(value_type = crate::text::Name)]
    pub name: String,
    pub description: Option<String>,
    /// `embedded` (default) or `anythingllm`.
    pub backend: Option<BackendKind>,
    pub llm_config: Option<LlmOverride>,
    pub system_prompt: Option<String>,
    /// A built-in prompt: `procurement`.
    #[schema(schema_with = prompt_preset_schema)]
    pub prompt_preset: Option<String>,
    /// Passages used per answer, 1 to 50 (default 4).
    #[schema(minimum = 1, maximum = 50)]
    pub top_n: Option<u32>,
    /// 0 to 1 (default 0.25).
    #[schema(minimum = 0, maximum = 1)]
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
    #[schema(value_type = Option<crate::text::Name>)]
    pub name: Option<String>,
    pub description: Option<String>,
    pub llm_config: Option<LlmOverride>,
    pub system_prompt: Option<String>,
    #[schema(schema_with = prompt_preset_schema)]
    pub prompt_preset: Option<String>,
    #[schema(minimum = 1, maximum = 50)]
    pub top_n: Option<u32>,
    #[schema(minimum = 0, maximum = 1)]
    pub similarity_threshold: Option<f64>,
    pub chat_mode: Option<ChatMode>,
}

/// A built-in prompt.
fn prompt_preset_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::docs::contract::one_of_or_null(prompts::PRESETS.iter().copied())
}

pub fn validate_name(name: &str) -> Result<String, ApiError> {
    crate::text::parse_name("name", name, 255)
}

pub fn validate_settings(
    top_n: Option<u32>,
    threshold: Option<f64>,
    preset: Option<&str>,
    llm: Option<&LlmOverride>,
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
        validate_llm(l, "llm_config")?;
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
    pub llm_config: Option<LlmOverride>,
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
            // Only what passed validation is stored; a column edited by hand into
            // something unreadable shows as no settings (asking names the field).
            llm_config: stored_llm_config(r.llm_config.as_deref()).ok().flatten(),
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
    /// The question or message: not only white space.
    #[schema(
        min_length = 1,
        pattern = "^[^\\x00]*[^\\x00\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
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
    #[schema(schema_with = crate::docs::contract::doc_types_schema)]
    pub doc_types: Vec<String>,
    pub llm_config: Option<LlmOverride>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub answer: String,
    pub sources: Vec<AnswerSource>,
    pub thread_id: Option<String>,
    pub processing_time_ms: u64,
}
