//! Summary request and response types, and the values that parse.

use std::collections::BTreeMap;

use quire_llm::LlmOverride;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::jobs::response::JobResponse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SummaryFormat {
    #[default]
    Markdown,
    Text,
    Json,
}

impl SummaryFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryFormat::Markdown => "markdown",
            SummaryFormat::Text => "text",
            SummaryFormat::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "markdown" => Some(SummaryFormat::Markdown),
            "text" => Some(SummaryFormat::Text),
            "json" => Some(SummaryFormat::Json),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SummaryStatus {
    Pending,
    Complete,
    Failed,
}

impl SummaryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryStatus::Pending => "pending",
            SummaryStatus::Complete => "complete",
            SummaryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(SummaryStatus::Pending),
            "complete" => Some(SummaryStatus::Complete),
            "failed" => Some(SummaryStatus::Failed),
            _ => None,
        }
    }
}

/// `POST /api/v1/documents/{id}/summaries`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSummaryRequest {
    /// A template of the organisation or a global one. Without it and without
    /// `prompt`, the organisation's default summary template (else the global one).
    pub template_id: Option<String>,
    /// A template by name (the organisation's first, then a global one).
    pub template_name: Option<String>,
    /// An inline MiniJinja prompt instead of a template.
    pub prompt: Option<String>,
    #[serde(default)]
    pub format: SummaryFormat,
    /// With `format: json`: the JSON Schema the answer should follow (given to the model).
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    /// The `language` variable of the template.
    pub language: Option<String>,
    /// The template's `variables.<name>`.
    #[schema(value_type = Option<Object>)]
    pub variables: Option<BTreeMap<String, Value>>,
    /// LLM settings on top of the server's (`{"provider": "extractive"}` for none).
    pub llm: Option<LlmOverride>,
    /// Reuse a completed summary of the same content, prompt and model (default true).
    pub cache: Option<bool>,
}

/// Tokens as the provider counted them (`usage`), or estimated (`estimated: true`,
/// `ceil(chars / 4)`) for calls whose answer carried none.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokensUsed {
    pub prompt: i64,
    pub completion: i64,
    pub total: i64,
    pub estimated: bool,
}

/// One sentence of an extractive summary, verbatim from `page`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SummarySentence {
    pub text: String,
    pub page: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub document: String,
    pub regenerate: String,
    pub job: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryResponse {
    pub id: String,
    pub document_id: String,
    pub template_id: Option<String>,
    pub format: SummaryFormat,
    pub status: SummaryStatus,
    /// The document's content changed after this summary was made.
    pub stale: bool,
    pub summary_text: Option<String>,
    /// Extractive summaries: the chosen sentences with their pages.
    pub sentences: Option<Vec<SummarySentence>>,
    pub error: Option<String>,
    /// For a failed JSON summary: the model's outputs.
    #[schema(value_type = Option<Object>)]
    pub error_details: Option<Value>,
    /// The model that answered, or `extractive`.
    pub model_used: Option<String>,
    pub tokens_used: Option<TokensUsed>,
    /// Model calls made (map-reduce makes several).
    pub llm_calls: i64,
    /// The template text the summary was rendered from.
    pub template_text: Option<String>,
    /// The prompt sent for the whole document (map-reduce renders it per chunk).
    pub rendered_prompt: Option<String>,
    pub content_hash: String,
    /// The resolved LLM settings (no API key).
    #[schema(value_type = Option<Object>)]
    pub llm_settings: Option<Value>,
    /// The summary whose text was reused (cache hit).
    pub cached_from: Option<String>,
    pub processing_time_ms: Option<i64>,
    pub created_by: Option<String>,
    pub job_id: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub links: SummaryLinks,
}

/// `202` of a new summary: the summary (pending) and its job.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryAccepted {
    pub summary: SummaryResponse,
    pub job: JobResponse,
}

/// What the job needs from the request, stored with the summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRequest {
    pub format: SummaryFormat,
    pub json_schema: Option<Value>,
    pub language: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, Value>,
    pub llm: Option<LlmOverride>,
    pub cache: bool,
    /// The inline prompt, when there was no template.
    pub prompt: Option<String>,
}

/// `POST /api/v1/summaries/bulk`: the documents (`document_ids`, or `workspace_id` and/or
/// `source_type`) and the summary to make of each (as for one document).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkSummaryRequest {
    pub document_ids: Option<Vec<String>>,
    pub workspace_id: Option<String>,
    /// `upload`, `api`, `notion`, `confluence` or `guru`.
    pub source_type: Option<String>,
    pub template_id: Option<String>,
    pub template_name: Option<String>,
    pub prompt: Option<String>,
    #[serde(default)]
    pub format: SummaryFormat,
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    pub language: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub variables: Option<BTreeMap<String, Value>>,
    pub llm: Option<LlmOverride>,
    pub cache: Option<bool>,
}

impl BulkSummaryRequest {
    /// The summary each document gets.
    pub fn single(&self) -> CreateSummaryRequest {
        CreateSummaryRequest {
            template_id: self.template_id.clone(),
            template_name: self.template_name.clone(),
            prompt: self.prompt.clone(),
            format: self.format,
            json_schema: self.json_schema.clone(),
            language: self.language.clone(),
            variables: self.variables.clone(),
            llm: self.llm.clone(),
            cache: self.cache,
        }
    }
}

/// `202` of a bulk run: its parent job (progress counts documents).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkAccepted {
    pub total_documents: u64,
    pub job: JobResponse,
}
